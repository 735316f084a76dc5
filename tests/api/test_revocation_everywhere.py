"""Every route that acts for a client checks that the client is not revoked.

Most routes check on the way in (current_caller). The two hottest (recording a spend or a
commitment) check in their own first statement instead, one round trip fewer; that is
allowed only for routes that claim their key there too (kept_write, answer_kept), and only
for the routes named here, so a new route cannot skip the check by accident.
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from service.auth.dependencies import REQUIRED_SCOPE, current_caller, verified_caller
from service.idempotency.guard import CHECKS_CLIENT_IN_ITS_WORK
from tests.write_routes import api_routes

CHECKED_BY_THEIR_WORK = {
    ("POST", "/v1/budgets/{budget_id}/spends"),
    ("POST", "/v1/budgets/{budget_id}/commitments"),
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _takes_a_token(call: Callable[..., Any] | None) -> bool:
    return call in (verified_caller, current_caller) or hasattr(call, REQUIRED_SCOPE)


def test_every_route_with_a_token_checks_its_client(app: FastAPI) -> None:
    with_token, unchecked = set(), set()
    for prefix, route in api_routes(app.router.routes):
        calls = set(_calls(route.dependant))
        if not any(_takes_a_token(call) for call in calls):
            continue  # no token: /oauth/token, the inbound agency routes
        path = prefix + route.path
        for method in route.methods:
            with_token.add((method, path))
            if current_caller not in calls:
                checked_by_work = any(hasattr(call, CHECKS_CLIENT_IN_ITS_WORK) for call in calls)
                assert checked_by_work, f"{method} {path} never checks its client"
                unchecked.add((method, path))
    assert unchecked == CHECKED_BY_THEIR_WORK
    assert len(with_token) > 20  # the walk found the API's routes
