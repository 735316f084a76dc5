"""Registering and listing partner agencies."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.api.pagination import paginate
from service.domain.vocabulary import AgencyKind

# The unique index on lower(agency.name) (migration 0003).
_UNIQUE_NAME_INDEX = "uq_agency_lower_name"


class DuplicateAgencyName(ValueError):
    """An agency already has this name (names are compared ignoring case)."""

    def __init__(self, name: str, existing_id: uuid.UUID | None) -> None:
        known = f" (id {existing_id})" if existing_id else ""
        super().__init__(f"An agency named {name!r} already exists{known}.")
        self.existing_id = existing_id


async def create_agency(session: AsyncSession, *, name: str, kind: str) -> Agency:
    """Register an agency (operators only, from the command line).

    Raises DuplicateAgencyName (a ValueError) if the name is taken, ignoring case.
    """
    if kind not in set(AgencyKind):
        raise ValueError(f"kind must be one of {', '.join(AgencyKind)}")
    if not name.strip() or "\x00" in name or len(name) > 200:
        raise ValueError("name must be 1 to 200 characters without NUL")
    clean_name = name.strip()
    same_name = select(Agency.id).where(func.lower(Agency.name) == clean_name.lower())
    if (existing := await session.scalar(same_name)) is not None:
        raise DuplicateAgencyName(clean_name, existing)
    agency = Agency(name=clean_name, kind=kind)
    session.add(agency)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another transaction registered the name between our look-up and our insert.
        if _UNIQUE_NAME_INDEX in str(exc.orig):
            raise DuplicateAgencyName(clean_name, None) from None
        raise
    return agency


async def list_agencies(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list[Agency], str | None]:
    """A page of the directory, by name then id."""
    return await paginate(
        session, select(Agency), order=[Agency.name, Agency.id], cursor=cursor, limit=limit
    )


async def get_agencies(
    session: AsyncSession, *, agency_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Agency]:
    """The agencies among `agency_ids` (the directory is open to any valid token)."""
    rows = await session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))
    return {agency.id: agency for agency in rows}
