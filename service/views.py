"""Plain, frozen views that services return; each API shapes its own answer from them."""

from dataclasses import fields
from typing import Any, TypeVar

V = TypeVar("V")


def view_of(view: type[V], row: object, **given: Any) -> V:
    """Build `view` from a row's same-named attributes; `given` supplies or overrides some."""
    names = [f.name for f in fields(view)]  # type: ignore[arg-type]
    return view(**{name: given[name] if name in given else getattr(row, name) for name in names})
