"""/v1/streams: an agency's funding streams and their rules."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from service.api.etags import etag, precondition
from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import StreamsRead, StreamsWrite
from service.database import SessionDep
from service.idempotency.guard import OptionallyIdempotent, Reply
from service.streams.schemas import StreamIn, StreamOut, StreamPatch
from service.streams.service import (
    StreamView,
    create_stream,
    get_stream,
    list_streams,
    update_stream,
)

router = APIRouter(prefix="/v1/streams", tags=["streams"])


def _reply(stream: StreamView) -> Reply:
    return Reply(StreamOut.model_validate(stream), {"ETag": etag(stream.id, stream.version)})


@router.post("", status_code=201, response_model=StreamOut)
async def post_stream(
    body: StreamIn, session: SessionDep, caller: StreamsWrite, idempotency: OptionallyIdempotent
) -> Response:
    """Open a funding stream for your agency, with its rules."""

    async def work(new_id: uuid.UUID) -> Reply:
        return _reply(await create_stream(session, caller, data=body, stream_id=new_id))

    return await idempotency.answer(201, work)


@router.get("", response_model=Page[StreamOut])
async def get_streams(
    session: SessionDep, caller: StreamsRead, limit: Limit = 50, cursor: Cursor = None
) -> Page[StreamOut]:
    """List your agency's streams."""
    rows, next_cursor = await list_streams(session, caller, cursor=cursor, limit=limit)
    return Page(items=[StreamOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/{stream_id}", response_model=StreamOut)
async def get_one_stream(
    stream_id: uuid.UUID, session: SessionDep, caller: StreamsRead, response: Response
) -> StreamOut:
    """One of your agency's streams."""
    stream = await get_stream(session, caller, stream_id=stream_id)
    response.headers["ETag"] = etag(stream.id, stream.version)
    return StreamOut.model_validate(stream)


@router.patch("/{stream_id}", response_model=StreamOut)
async def patch_stream(
    stream_id: uuid.UUID,
    body: StreamPatch,
    session: SessionDep,
    caller: StreamsWrite,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> StreamOut:
    """Change a stream's name, cap or approval threshold. Needs If-Match."""
    stream = await update_stream(
        session,
        caller,
        stream_id=stream_id,
        changes=body,
        precondition=precondition(if_match, stream_id),
    )
    response.headers["ETag"] = etag(stream.id, stream.version)
    return StreamOut.model_validate(stream)
