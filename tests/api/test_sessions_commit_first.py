"""Every route's session commits before its response is sent: no 201 for an uncommitted write.

FastAPI runs a generator dependency's exit (here: the commit) before the response only with
scope="function"; with the default, after it is sent. A request session comes from
request_session, directly (SessionDep) or inside a dependency that runs it itself
(kept_write); this walks every route's dependencies and checks each such one's scope.
"""

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from service.database import request_session
from service.idempotency.guard import CHECKS_CLIENT_IN_ITS_WORK
from tests.write_routes import api_routes


def _sessions(dependant: Dependant) -> Iterator[Dependant]:
    """The dependencies under `dependant` that open the request's session."""
    for sub in dependant.dependencies:
        if sub.call is request_session or hasattr(sub.call, CHECKS_CLIENT_IN_ITS_WORK):
            yield sub
        yield from _sessions(sub)


def test_every_request_session_commits_before_the_response(app: FastAPI) -> None:
    opened, late = 0, []
    for prefix, route in api_routes(app.router.routes):
        for session in _sessions(route.dependant):
            opened += 1
            if session.scope != "function":
                late.append(f"{sorted(route.methods)} {prefix}{route.path}: {session.call}")
    assert late == []
    assert opened > 20  # the walk found the API's sessions, the kept writes' among them
