"""/v1/streams: an agency's funding streams and their rules."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from service.api.etags import check_if_match, etag
from service.api.pagination import Cursor, Limit, Page
from service.auth.dependencies import StreamsRead, StreamsWrite
from service.database import SessionDep
from service.idempotency.guard import OptionallyIdempotent
from service.streams.schemas import StreamIn, StreamOut, StreamPatch
from service.streams.service import create_stream, get_stream, list_streams, update_stream

router = APIRouter(prefix="/v1/streams", tags=["streams"])


@router.post("", status_code=201, response_model=StreamOut)
async def post_stream(
    body: StreamIn, session: SessionDep, caller: StreamsWrite, idempotency: OptionallyIdempotent
) -> Response:
    """Open a funding stream for your agency, with its rules."""
    if (previous := await idempotency.previous()) is not None:
        return previous
    stream = await create_stream(session, caller, data=body)
    return await idempotency.respond(
        201, StreamOut.model_validate(stream), {"ETag": etag(stream.id, stream.version)}
    )


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
    stream = await get_stream(session, caller, stream_id)
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
    stream = await get_stream(session, caller, stream_id, for_update=True)
    check_if_match(if_match, etag(stream.id, stream.version))
    stream = await update_stream(session, stream, changes=body)
    response.headers["ETag"] = etag(stream.id, stream.version)
    return StreamOut.model_validate(stream)
