"""/v1 routes of agencies' syncs: their runs, their dead letters and replays; and the
inbound route an agency's system pushes its messages to (signed, so no OAuth token)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import SyncsRead, SyncsWrite
from service.database import SessionDep
from service.errors import COMMON_PROBLEMS, problem_response
from service.idempotency.guard import OptionallyIdempotent, Reply
from service.syncs.dead_letters import agency_dead_letters, replay_dead_letter
from service.syncs.runs import agency_runs
from service.syncs.schemas import DeadLetterOut, SyncRunOut

router = APIRouter(prefix="/v1", tags=["syncs"])
inbound_router = APIRouter(tags=["inbound"])

AgencyId = Annotated[uuid.UUID, Path(description="Your own agency's id")]


@router.get("/agencies/{agency_id}/syncs", response_model=Page[SyncRunOut])
async def get_syncs(
    agency_id: AgencyId,
    session: SessionDep,
    caller: SyncsRead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SyncRunOut]:
    """Your agency's syncs with its own system, newest first, with what each did."""
    runs = await agency_runs(session, caller, agency_id=agency_id, cursor=cursor, limit=limit)
    return Page(
        items=[SyncRunOut.model_validate(r) for r in runs.items], next_cursor=runs.next_cursor
    )


@router.get("/dead-letters", response_model=Page[DeadLetterOut])
async def get_dead_letters(
    session: SessionDep, caller: SyncsRead, limit: Limit = 50, cursor: Cursor = None
) -> Page[DeadLetterOut]:
    """Records from your agency's system that could not be used, newest first, with why."""
    letters = await agency_dead_letters(
        session, caller, agency_id=caller.agency_id, cursor=cursor, limit=limit
    )
    return Page(
        items=[DeadLetterOut.model_validate(d) for d in letters.items],
        next_cursor=letters.next_cursor,
    )


@router.post("/dead-letters/{dead_letter_id}/replay", response_model=DeadLetterOut)
async def post_replay(
    dead_letter_id: uuid.UUID,
    session: SessionDep,
    caller: SyncsWrite,
    idempotency: OptionallyIdempotent,
) -> Any:
    """Replay a dead letter at your agency's next sync, once its cause is fixed."""

    async def work(new_id: uuid.UUID) -> Reply:
        letter = await replay_dead_letter(session, caller, letter_id=dead_letter_id)
        return Reply(DeadLetterOut.model_validate(letter))

    return await idempotency.answer(200, work)


@inbound_router.post(
    "/inbound/agencies/{agency_id}",
    responses={
        200: {"description": "Taken (applied, set aside as a dead letter, or a duplicate)"},
        **{status: COMMON_PROBLEMS[status] for status in (400, 413, 415, 422)},
        401: {**COMMON_PROBLEMS[401], "description": "The signature does not verify"},
        404: {**COMMON_PROBLEMS[404], "description": "The agency pushes no messages here"},
        503: {**COMMON_PROBLEMS[404], "description": "The agency's secret is not configured"},
    },
)
async def post_inbound(agency_id: uuid.UUID, request: Request) -> JSONResponse:
    """Take a message an agency's system pushes (a Standard Webhook, signed with the secret
    its connection's credentials hold as `webhook_secret`)."""
    from adapters.inbound import InboundRefused, receive

    body = await request.body()
    try:
        outcome = await receive(
            request.app.state.sessionmaker,
            request.app.state.settings,
            agency_id=agency_id,
            body=body,
            headers=request.headers,
        )
    except InboundRefused as exc:
        slug = {401: "unauthenticated", 404: "not-found"}.get(exc.status, "unavailable")
        return problem_response(status=exc.status, slug=slug, title="Refused", detail=str(exc))
    return JSONResponse({"status": outcome.status, "webhook_id": outcome.message_id})
