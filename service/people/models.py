"""People who hold budgets. Personal data: reached only by agencies that serve them."""

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk


class Person(Base):
    """A budget holder, registered by one agency."""

    __tablename__ = "person"

    id: Mapped[uuid.UUID] = uuid_pk()
    reference: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date]
    registered_by_agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()
