"""The job queue's tables belong to pgqueuer: our models do not describe them.

Migration 0008 creates them from pgqueuer's own DDL. Alembic's comparison of models with the
database (autogenerate, tests/db/test_migrations.py) is told to look past them.
"""

from typing import Any

# pgqueuer's tables (default settings: no prefix, the search_path schema).
QUEUE_TABLES = frozenset({"pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics"})


def described_by_models(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's include_name hook: every schema object except the job queue's tables."""
    return not (type_ == "table" and name in QUEUE_TABLES)
