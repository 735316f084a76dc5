"""Funding streams: one agency's pot of money and the rules that come with it."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field as Bounds
from sqlalchemy import ARRAY, BigInteger, CheckConstraint, String
from sqlmodel import Field

from service.api.fields import Name, OptionalLimit, PositiveLimit
from service.domain.vocabulary import Category, StreamKind, Unspent, sql_in
from service.models_base import Col, OneBudgetModel, Vocab, Vocabulary, created_at, uuid_pk

Categories = Annotated[list[Category], Bounds(min_length=1, max_length=len(Category))]


class FundingStreamBase(OneBudgetModel):
    """A stream's name and rules: categories (None = flexible), caps and thresholds."""

    name: Col[Name] = Field(sa_type=String(200))
    kind: Vocab[StreamKind] = Field(sa_type=Vocabulary(StreamKind, 40))
    categories: Col[Categories | None] = Field(
        default=None, sa_type=ARRAY(Vocabulary(Category, 40))
    )
    unspent: Vocab[Unspent] = Field(sa_type=Vocabulary(Unspent, 20))
    cap_amount: Col[PositiveLimit | None] = Field(default=None, sa_type=BigInteger)
    approval_threshold_amount: Col[OptionalLimit | None] = Field(default=None, sa_type=BigInteger)


class FundingStream(FundingStreamBase, table=True):
    """One agency's stream; its rules are data."""

    __tablename__ = "funding_stream"
    __table_args__ = (
        CheckConstraint("cap_amount IS NULL OR cap_amount > 0", name="cap_positive"),
        CheckConstraint(
            "approval_threshold_amount IS NULL OR approval_threshold_amount >= 0",
            name="threshold_not_negative",
        ),
        CheckConstraint(sql_in("unspent", Unspent), name="unspent"),
    )

    id: Col[uuid.UUID] = uuid_pk()
    agency_id: Col[uuid.UUID] = Field(foreign_key="agency.id", index=True)
    version: Col[int] = Field(default=1)
    created_at: Col[datetime] = created_at()
