"""The one MetaData every table shares, with one constraint naming convention, and its bases."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from sqlalchemy import DateTime, Dialect, MetaData, String, Table, func
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, registry
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

METADATA = MetaData(naming_convention=NAMING_CONVENTION)

# Aware times, stored as timestamptz exactly as the migrations made them (SQLModel's own
# default for datetime is a decorator that converts to UTC; the columns need nothing more).
AWARE = DateTime(timezone=True)


_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)

if TYPE_CHECKING:
    # What mypy sees. SQLModel types a field only as its value (`Budget.id` is a UUID), so
    # `Budget.id == x`, `.label()`, `.in_()` and `select(Budget.id)` would not type-check
    # against SQLAlchemy's typed Core. Col[T] is shown to mypy as the descriptor the ORM
    # really installs: a column on the class, a T on an instance, a T or SQL when assigned.

    class Col(Generic[_T]):
        """A field: InstrumentedAttribute[T] on the class, T on an instance."""

        @overload
        def __get__(self, instance: None, owner: Any) -> InstrumentedAttribute[_T]: ...
        @overload
        def __get__(self, instance: object, owner: Any) -> _T: ...
        def __get__(self, instance: object, owner: Any) -> Any: ...
        def __set__(self, instance: Any, value: _T | SQLCoreOperations[_T]) -> None: ...

    class Vocab(Col[_E]):
        """A vocabulary field: set with the member or its plain string value."""

        def __set__(self, instance: Any, value: str | SQLCoreOperations[str]) -> None: ...

else:

    class Col:
        """At run time Col[T] is T itself: the type pydantic validates and SQLModel maps."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item

    Vocab = Col


class OneBudgetModel(SQLModel, registry=registry(metadata=METADATA)):
    """Base of every SQLModel class: tables (table=True) and the API schemas sharing fields."""

    if TYPE_CHECKING:
        # Set by SQLAlchemy on table classes; SQLModel declares neither this precisely.
        __table__: ClassVar[Table]
        __tablename__: ClassVar[str]


class Base(DeclarativeBase):
    """Base of the ledger tables kept on plain SQLAlchemy, on the same MetaData."""

    metadata = METADATA
    type_annotation_map = {datetime: AWARE}


class Vocabulary(TypeDecorator[StrEnum]):
    """A String(n) column holding one vocabulary: writes its value, reads back the member."""

    impl = String
    cache_ok = True

    def __init__(self, vocabulary: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.vocabulary = vocabulary

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The member's value; a string outside the vocabulary is refused before the CHECK."""
        return None if value is None else self.vocabulary(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        """The vocabulary member the stored text names."""
        return None if value is None else self.vocabulary(value)


def uuid_pk() -> Any:
    """A UUID primary key made by the application, so ids are known before insert."""
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at() -> Any:
    """When the row was written, by the database clock (None until the insert returns it)."""
    return Field(
        default=None, nullable=False, sa_type=AWARE, sa_column_kwargs={"server_default": func.now()}
    )
