"""Registering and reading budget holders, within the caller's reach."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.caller import Caller
from service.errors import NotFound
from service.people.models import Person
from service.people.schemas import PersonIn, PersonPatch
from service.reach import person_in_reach


async def create_person(session: AsyncSession, caller: Caller, *, data: PersonIn) -> Person:
    """Register a person for the caller's agency."""
    person = Person(**data.model_dump(), registered_by_agency_id=caller.agency_id)
    session.add(person)
    await session.flush()
    return person


async def get_person(
    session: AsyncSession, caller: Caller, person_id: uuid.UUID, *, for_update: bool = False
) -> Person:
    """A person within the caller's reach, or 404."""
    query = select(Person).where(Person.id == person_id, person_in_reach(caller.agency_id))
    if for_update:
        query = query.with_for_update(of=Person)
    person = await session.scalar(query)
    if person is None:
        raise NotFound(f"No person {person_id} is within your reach.")
    return person


async def update_person(session: AsyncSession, person: Person, *, changes: PersonPatch) -> Person:
    """Apply the fields sent and move the version on."""
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(person, field, value)
    person.version += 1
    await session.flush()
    return person
