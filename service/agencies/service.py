"""Registering and listing partner agencies."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.api.pagination import paginate
from service.domain.vocabulary import AgencyKind


async def create_agency(session: AsyncSession, *, name: str, kind: str) -> Agency:
    """Register an agency (operators only, from the command line)."""
    if kind not in set(AgencyKind):
        raise ValueError(f"kind must be one of {', '.join(AgencyKind)}")
    if not name.strip() or "\x00" in name or len(name) > 200:
        raise ValueError("name must be 1 to 200 characters without NUL")
    agency = Agency(name=name.strip(), kind=kind)
    session.add(agency)
    await session.flush()
    return agency


async def list_agencies(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list[Agency], str | None]:
    """A page of the directory, by name then id."""
    return await paginate(
        session, select(Agency), order=[Agency.name, Agency.id], cursor=cursor, limit=limit
    )
