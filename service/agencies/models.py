"""Partner agencies: the organisations that fund or administer support."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, text
from sqlmodel import Field

from service.domain.vocabulary import AgencyKind, sql_in
from service.models_base import Col, OneBudgetModel, Vocab, Vocabulary, created_at, uuid_pk


class Agency(OneBudgetModel, table=True):
    """One partner organisation; every client and stream belongs to one."""

    __tablename__ = "agency"
    __table_args__ = (
        CheckConstraint(sql_in("kind", AgencyKind), name="kind"),
        # One agency per name, whatever its case: "Northshire ICB" twice is a mistake.
        Index("uq_agency_lower_name", text("lower(name)"), unique=True),
    )

    id: Col[uuid.UUID] = uuid_pk()
    name: Col[str] = Field(sa_type=String(200))
    kind: Vocab[AgencyKind] = Field(sa_type=Vocabulary(AgencyKind, 20))
    created_at: Col[datetime] = created_at()
