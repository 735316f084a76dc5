"""GET /v1/agencies: the directory of partner agencies."""

import uuid

from fastapi import APIRouter

from service.agencies.service import list_agencies
from service.api.fields import ResponseModel
from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import Authenticated
from service.database import SessionDep
from service.domain.vocabulary import AgencyKind

router = APIRouter(prefix="/v1/agencies", tags=["agencies"])


class AgencyOut(ResponseModel):
    """A partner agency as the directory shows it."""

    id: uuid.UUID
    name: str
    kind: AgencyKind


@router.get("", response_model=Page[AgencyOut])
async def get_agencies(
    session: SessionDep, caller: Authenticated, limit: Limit = 50, cursor: Cursor = None
) -> Page[AgencyOut]:
    """List partner agencies, so a lead agency can find the ones to bring onto a budget."""
    rows, next_cursor = await list_agencies(session, cursor=cursor, limit=limit)
    return Page(items=[AgencyOut.model_validate(row) for row in rows], next_cursor=next_cursor)
