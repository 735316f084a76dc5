"""Every CHECK the models declare says exactly what the migrated database enforces.

Alembic's autogenerate does not compare CHECK text, so this test does: PostgreSQL renders
the model's text as a scratch constraint next to the real one, and the two must match.
"""

from sqlalchemy import CheckConstraint, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.database import make_engine
from service.models import METADATA

_ALL_CHECKS = text(
    "SELECT conrelid::regclass::text, conname FROM pg_constraint"
    " WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
)
_DEFINITION = text(
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = CAST(:table AS regclass) AND conname = :name"
)


def _model_checks() -> list[tuple[str, str, str]]:
    """(table, constraint name, SQL text) of every CHECK in the models."""
    return sorted(
        (table.name, str(constraint.name), str(constraint.sqltext))
        for table in METADATA.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    )


async def _definition(connection: AsyncConnection, table: str, name: str) -> str | None:
    """PostgreSQL's own rendering of one constraint, or None if there is none."""
    result = await connection.execute(_DEFINITION, {"table": table, "name": name})
    return result.scalar_one_or_none()


async def test_every_model_check_matches_the_database(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    checks = _model_checks()
    try:
        async with engine.connect() as connection:
            in_database = {(table, name) for table, name in await connection.execute(_ALL_CHECKS)}
            assert in_database == {(table, name) for table, name, _ in checks}
            for table, name, sql in checks:
                stored = await _definition(connection, table, name)
                assert stored is not None, f"{name} is in the models but not the database"
                async with connection.begin_nested() as scratch:
                    await connection.execute(
                        text(
                            f"ALTER TABLE {table} ADD CONSTRAINT model_check CHECK ({sql}) NOT VALID"
                        )
                    )
                    modelled = await _definition(connection, table, "model_check")
                    await scratch.rollback()
                assert modelled == stored.removesuffix(" NOT VALID") + " NOT VALID", name
            await connection.rollback()
    finally:
        await engine.dispose()
