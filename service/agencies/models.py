"""Partner agencies: the organisations that fund or administer support."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base, created_at, uuid_pk

AGENCY_KINDS = ("council", "housing", "employment", "equipment", "health", "other")


class Agency(Base):
    """One partner organisation; every client and stream belongs to one."""

    __tablename__ = "agency"
    __table_args__ = (
        CheckConstraint(f"kind IN {AGENCY_KINDS!r}", name="kind"),
        # One agency per name, whatever its case: "Northshire ICB" twice is a mistake.
        Index("uq_agency_lower_name", text("lower(name)"), unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at()
