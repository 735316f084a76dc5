"""Registering, reading and correcting budget holders, within the caller's reach and role."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.pagination import Slice, paginate_slice
from service.auth.caller import Caller
from service.people.models import Person
from service.people.schemas import PersonIn, PersonPatch
from service.policy import person_access, person_in_reach, require_person_steward, require_scope
from service.versions import Precondition
from service.views import view_of


@dataclass(frozen=True, slots=True)
class PersonView:
    """A budget holder."""

    id: uuid.UUID
    reference: str
    name: str
    date_of_birth: date
    registered_by_agency_id: uuid.UUID
    version: int
    created_at: datetime


async def create_person(
    session: AsyncSession, caller: Caller, *, data: PersonIn, person_id: uuid.UUID | None = None
) -> PersonView:
    """Register a person; the caller's agency becomes the registering agency."""
    require_scope(caller, "people:write")
    person = Person(
        id=person_id or uuid.uuid4(), **data.model_dump(), registered_by_agency_id=caller.agency_id
    )
    session.add(person)
    await session.flush()
    return view_of(PersonView, person)


async def get_person(session: AsyncSession, caller: Caller, *, person_id: uuid.UUID) -> PersonView:
    """A person within the caller's reach, or 404."""
    require_scope(caller, "people:read")
    access = await person_access(session, caller, person_id=person_id)
    return view_of(PersonView, access.person)


async def get_people(
    session: AsyncSession, caller: Caller, *, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PersonView]:
    """The people among `person_ids` within the caller's reach, in one query."""
    require_scope(caller, "people:read")
    rows = await session.scalars(
        select(Person).where(Person.id.in_(person_ids), person_in_reach(caller.agency_id))
    )
    return {person.id: view_of(PersonView, person) for person in rows}


async def people_slice(
    session: AsyncSession, caller: Caller, *, cursor: str | None, limit: int
) -> Slice[PersonView]:
    """A page of the people within the caller's reach, oldest first."""
    require_scope(caller, "people:read")
    page = await paginate_slice(
        session,
        select(Person).where(person_in_reach(caller.agency_id)),
        order=[Person.created_at, Person.id],
        cursor=cursor,
        limit=limit,
    )
    return page.map(lambda rows: [view_of(PersonView, row) for row in rows])


async def update_person(
    session: AsyncSession,
    caller: Caller,
    *,
    person_id: uuid.UUID,
    changes: PersonPatch,
    precondition: Precondition,
) -> PersonView:
    """Correct a person's details: their registering agency or a lead of their budgets only."""
    require_scope(caller, "people:write")
    access = await person_access(session, caller, person_id=person_id, for_update=True)
    require_person_steward(access, action="change their details")
    person = access.person
    precondition.check(object_id=person.id, version=person.version)
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(person, field, value)
    person.version += 1
    await session.flush()
    return view_of(PersonView, person)
