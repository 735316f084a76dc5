"""/v1/people: budget holders. Personal data, so reach is checked on every read."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from service.api.etags import etag, precondition
from service.auth.dependencies import PeopleRead, PeopleWrite
from service.database import SessionDep
from service.idempotency.guard import OptionallyIdempotent, Reply
from service.people.schemas import PersonIn, PersonOut, PersonPatch
from service.people.service import create_person, get_person, update_person

router = APIRouter(prefix="/v1/people", tags=["people"])


@router.post("", status_code=201, response_model=PersonOut)
async def post_person(
    body: PersonIn, session: SessionDep, caller: PeopleWrite, idempotency: OptionallyIdempotent
) -> Response:
    """Register a person your agency supports."""

    async def work(new_id: uuid.UUID) -> Reply:
        person = await create_person(session, caller, data=body, person_id=new_id)
        return Reply(PersonOut.model_validate(person), {"ETag": etag(person.id, person.version)})

    return await idempotency.answer(201, work)


@router.get("/{person_id}", response_model=PersonOut)
async def get_one_person(
    person_id: uuid.UUID, session: SessionDep, caller: PeopleRead, response: Response
) -> PersonOut:
    """A person your agency registered or whose budget it reaches."""
    person = await get_person(session, caller, person_id=person_id)
    response.headers["ETag"] = etag(person.id, person.version)
    return PersonOut.model_validate(person)


@router.patch("/{person_id}", response_model=PersonOut)
async def patch_person(
    person_id: uuid.UUID,
    body: PersonPatch,
    session: SessionDep,
    caller: PeopleWrite,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> PersonOut:
    """Correct a person's reference or name (their registering agency or a lead). If-Match."""
    person = await update_person(
        session,
        caller,
        person_id=person_id,
        changes=body,
        precondition=precondition(if_match, person_id),
    )
    response.headers["ETag"] = etag(person.id, person.version)
    return PersonOut.model_validate(person)
