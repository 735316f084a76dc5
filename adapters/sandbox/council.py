"""Council adult social care case system: JSON service agreements behind its own OAuth.

A service agreement is the council's record of a care package (the fields follow the
NHS England Client Level Data return: person, NHS number, delivery mechanism, line items
with unit costs and planned units a week). The award is `total_net_cost`: what the
council funds over the agreement, after the person's assessed contribution. Clients get
an access token with client credentials; tokens expire and must be asked for again.
"""

import base64
import binascii
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.sandbox.base import Sandbox
from adapters.sandbox.faults import COMMON_FAULTS, EXPIRED_TOKEN
from adapters.sandbox.inbox import Report, ReportLine
from adapters.sandbox.money import parse_pounds, pounds
from adapters.sandbox.people import AMIRA, DANIEL, GRACE, MARGARET, PETER, person
from adapters.sandbox.store import AwardStatus, NewAward, Versioned
from adapters.sandbox.wire import Refusal, after_from, cursor_for, page_size, utc_iso

CLIENT_ID = "onebudget-sandbox"
CLIENT_SECRET = "council-sandbox-secret"
REALM = "riverside-council"
PERIOD = (date(2026, 4, 1), date(2027, 3, 31))
WEEKS = 52
FIRST_PAYMENT = date(2026, 4, 3)  # direct payments go out 4-weekly in advance, on Fridays
SERVICE_TYPE = "Long Term Support: Community"
DIRECT_PAYMENT = "Direct Payment"
MANAGED = "CASSR Managed Personal Budget"
COMMISSIONED = "CASSR Commissioned Support"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One service in a care package, costed by the week."""

    service_component: str
    unit: str  # hour, session or week
    unit_cost: int  # pence
    units_per_week: Decimal

    @property
    def weekly_cost(self) -> int:
        """Pence a week (rounded half up to the penny)."""
        return int((self.unit_cost * self.units_per_week).to_integral_value(ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Agreement:
    """A service agreement: a care package for one person over a period."""

    reference: str
    person_ref: str
    nhs_number: str | None  # missing on some records, as in real returns
    delivery_mechanism: str
    status: str  # proposed (awaiting panel: indicative), active, cancelled
    line_items: tuple[LineItem, ...]
    weekly_contribution: int  # pence: the person's assessed contribution
    total_net_cost: int  # pence: the award
    cancelled_on: date | None = None
    cancellation_reason: str | None = None

    @property
    def weekly_cost(self) -> int:
        """Gross pence a week, the person's contribution included."""
        return sum(item.weekly_cost for item in self.line_items)


def _agreement(
    reference: str,
    person_ref: str,
    mechanism: str,
    items: Iterable[tuple[str, str, int, str]],
    *,
    contribution: int = 0,
    status: str = "active",
    nhs: bool = True,
) -> Agreement:
    """An agreement whose award is its net weekly cost for the 52 weeks."""
    lines = tuple(LineItem(c, unit, cost, Decimal(units)) for c, unit, cost, units in items)
    gross = sum(line.weekly_cost for line in lines)
    return Agreement(
        reference,
        person_ref,
        person(person_ref).nhs_number if nhs else None,
        mechanism,
        status,
        lines,
        contribution,
        (gross - contribution) * WEEKS,
    )


SEED = (
    # £300 a week: a personal assistant, with agency cover; on benefits, so no contribution.
    _agreement(
        "SA-2026-000418",
        AMIRA.reference,
        DIRECT_PAYMENT,
        [
            ("Personal assistant", "hour", 1500, "16"),
            ("Home care agency cover", "hour", 2400, "2.5"),
        ],
    ),
    # £220 a week of commissioned home care less a £20 contribution: £200 a week.
    _agreement(
        "SA-2026-000532",
        DANIEL.reference,
        COMMISSIONED,
        [("Home care: morning and evening calls", "hour", 2750, "8")],
        contribution=2000,
    ),
    # £395 a week (home care and day centre) less a £45 contribution: £350 a week.
    _agreement(
        "SA-2026-000611",
        MARGARET.reference,
        MANAGED,
        [("Home care visits", "hour", 2250, "14"), ("Day centre", "session", 4000, "2")],
        contribution=4500,
    ),
    _agreement(
        "SA-2026-000644",
        PETER.reference,
        DIRECT_PAYMENT,
        [("Personal assistant", "hour", 1500, "20")],
        contribution=3850,
    ),
    # Awaiting the funding panel, and entered without an NHS number.
    _agreement(
        "SA-2026-000702",
        GRACE.reference,
        COMMISSIONED,
        [("Home care", "hour", 2471, "10")],
        status="proposed",
        nhs=False,
    ),
)


class _Strict(BaseModel):
    """A return body: unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class ReturnLineIn(_Strict):
    """One line of a direct payment return."""

    category: str
    date: date
    amount: str  # pounds and pence, "1050.00"
    reason: str
    description: str | None = None
    payee: str | None = None


class ReturnIn(_Strict):
    """A direct payment return: what the council's money paid for."""

    delivery_id: str
    person_ref: str
    agreement_id: str | None = None
    lines: list[ReturnLineIn]


class CouncilSandbox(Sandbox[Agreement]):
    """Riverside Council's adult social care case system."""

    kind = "council"
    name = "Riverside Council adult social care case system"
    receipt_prefix = "DPR"
    fault_names = COMMON_FAULTS + (EXPIRED_TOKEN,)

    def reset(self) -> None:
        """Back to the seed; every token forgotten."""
        self.tokens: dict[str, float] = {}  # access token -> monotonic expiry
        super().reset()

    def seed(self) -> Iterable[Agreement]:
        """Three demo people's care packages and two strangers'."""
        return SEED

    def summary(self, record: Agreement) -> tuple[str, int, AwardStatus]:
        """Proposed agreements are indicative; cancelled ones withdrawn."""
        status = {"active": AwardStatus.CONFIRMED, "proposed": AwardStatus.INDICATIVE}
        return (
            record.person_ref,
            record.total_net_cost,
            status.get(record.status, AwardStatus.WITHDRAWN),
        )

    def amended(self, record: Agreement, amount: int) -> Agreement:
        """A variation: a line item makes the weekly cost match the new total."""
        net_weekly = int((Decimal(amount) / WEEKS).to_integral_value(ROUND_HALF_UP))
        difference = net_weekly + record.weekly_contribution - record.weekly_cost
        variation = LineItem("Variation", "week", difference, Decimal(1))
        return replace(record, line_items=(*record.line_items, variation), total_net_cost=amount)

    def withdrawn(self, record: Agreement, reason: str) -> Agreement:
        """Cancelled today."""
        return replace(
            record, status="cancelled", cancelled_on=date.today(), cancellation_reason=reason
        )

    def created(self, award: NewAward, serial: int) -> Agreement:
        """A direct payment personal budget of the amount (its weekly figure rounded)."""
        weekly = int((Decimal(award.amount) / WEEKS).to_integral_value(ROUND_HALF_UP))
        return replace(
            _agreement(
                f"SA-2026-{900_000 + serial:06d}",
                award.person_ref,
                DIRECT_PAYMENT,
                [("Personal budget", "week", weekly, "1")],
                status="active" if award.confirmed else "proposed",
            ),
            total_net_cost=award.amount,
        )

    def credentials(self) -> dict[str, str]:
        """OAuth client credentials for its token endpoint."""
        return {
            "token_url": "/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }

    def error_body(self, status: int, message: str) -> tuple[str, bytes]:
        """OAuth-style errors: {"error", "error_description"}."""
        code = {
            400: "invalid_request",
            401: "invalid_token",
            404: "not_found",
            422: "invalid_return",
            429: "rate_limited",
        }.get(status, "server_error")
        body = {"error": code, "error_description": message}
        return "application/json", json.dumps(body).encode()

    # Tokens

    def _client_credentials(self, request: Request, form: dict[str, str]) -> tuple[str, str]:
        """(client_id, client_secret) from HTTP Basic or from the form."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    async def token(self, request: Request) -> JSONResponse:
        """OAuth 2.0 client credentials grant (RFC 6749 section 4.4)."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if self._client_credentials(request, form) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "unknown client or wrong secret"},
                401,
                {"www-authenticate": f'Basic realm="{REALM}"'},
            )
        token = secrets.token_urlsafe(32)
        lifetime = self.options.token_lifetime_seconds
        self.tokens[token] = time.monotonic() + lifetime
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime)},
            headers={"cache-control": "no-store"},
        )

    def _authorise(self, request: Request) -> None:
        """Refusal 401 unless the request has a live access token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refusal(
                401, "an access token is required", {"www-authenticate": f'Bearer realm="{REALM}"'}
            )
        expires = self.tokens.get(token)
        if expires is None:
            problem = "the access token is not one this service issued"
        elif time.monotonic() >= expires or self.faults.fires(EXPIRED_TOKEN):
            problem = "the access token expired"
        else:
            return
        challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{problem}"'
        raise Refusal(401, problem, {"www-authenticate": challenge})

    # Service agreements

    def _json(self, entry: Versioned[Agreement], *, malformed: bool) -> dict[str, Any]:
        """An agreement as the case system sends it (amounts in pounds, as strings)."""
        a = entry.record
        document: dict[str, Any] = {
            "id": a.reference,
            "version": entry.version,
            "updated_at": utc_iso(entry.updated_at),
            "status": a.status,
            "person_ref": a.person_ref,
            "nhs_number": a.nhs_number,
            "service_type": SERVICE_TYPE,
            "delivery_mechanism": a.delivery_mechanism,
            "start": PERIOD[0].isoformat(),
            "end": PERIOD[1].isoformat(),
            "frequency": "4-weekly",
            "line_items": [
                {
                    "service_component": item.service_component,
                    "unit": item.unit,
                    "unit_cost": pounds(item.unit_cost),
                    "planned_units_per_week": float(item.units_per_week),
                    "weekly_cost": pounds(item.weekly_cost),
                }
                for item in a.line_items
            ],
            "weekly_cost": pounds(a.weekly_cost),
            "weekly_contribution": pounds(a.weekly_contribution),
            "net_weekly_cost": pounds(a.weekly_cost - a.weekly_contribution),
            "weeks": WEEKS,
            "total_net_cost": pounds(a.total_net_cost),
            "payment_schedule": {
                "frequency": "4-weekly",
                "first_payment_on": FIRST_PAYMENT.isoformat(),
                "payments": WEEKS // 4,
            },
            "cancelled_on": a.cancelled_on.isoformat() if a.cancelled_on else None,
            "cancellation_reason": a.cancellation_reason,
        }
        if malformed:
            # Faults seen in real returns: free-typed money, codes off the list, a lost field.
            corruption = self.faults.pick(3)
            if corruption == 0:
                document["total_net_cost"] = f"£{document['total_net_cost']}k"
            elif corruption == 1:
                document["delivery_mechanism"] = "DP (see notes)"
                document["start"] = PERIOD[0].strftime("%d/%m/%Y")
            else:
                document["line_items"] = None
                del document["person_ref"]
        return document

    async def agreements(self, request: Request) -> JSONResponse:
        """A page of agreements changed after the cursor, oldest change first."""
        self._authorise(request)
        after = after_from(request.query_params.get("cursor"))
        limit = page_size(request.query_params.get("limit"), default=100, maximum=500)
        page = self.store.page(after=after, limit=limit)
        served = self.faults.serve(page.entries, previous=self.store.previous)
        return JSONResponse(
            {
                "data": [self._json(s.item, malformed=s.malformed) for s in served],
                "next_cursor": cursor_for(page.next_after),
                "has_more": page.more,
            }
        )

    async def agreement(self, request: Request) -> JSONResponse:
        """One agreement, as it stands."""
        self._authorise(request)
        reference = request.path_params["reference"]
        if reference not in self.store.history:
            raise Refusal(404, f"no service agreement {reference}")
        return JSONResponse(self._json(self.store.get(reference), malformed=False))

    async def direct_payment_return(self, request: Request) -> JSONResponse:
        """Receive a return; the same delivery_id again is answered, not recorded twice."""
        self._authorise(request)
        try:
            body = ReturnIn.model_validate_json(await request.body())
            report = Report(
                body.delivery_id,
                body.person_ref,
                tuple(
                    ReportLine(
                        line.category,
                        line.date,
                        parse_pounds(line.amount),
                        line.reason,
                        line.description,
                        line.payee,
                    )
                    for line in body.lines
                ),
                body.agreement_id,
            )
            received, new = self.inbox.accept(report)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise Refusal(422, f"{where}: {first['msg']}") from None
        except ValueError as exc:  # ReportError, or an amount parse_pounds refused
            raise Refusal(422, str(exc)) from None
        return JSONResponse(
            {
                "id": received.receipt,
                "delivery_id": report.delivery_id,
                "status": "accepted" if new else "duplicate",
                "received_at": utc_iso(received.received_at),
            },
            201 if new else 200,
        )

    def routes(self, app: FastAPI) -> None:
        """OAuth token, agreements, returns."""
        app.add_api_route("/oauth/token", self.token, methods=["POST"])
        app.add_api_route("/v1/service-agreements", self.agreements, methods=["GET"])
        app.add_api_route("/v1/service-agreements/{reference}", self.agreement, methods=["GET"])
        app.add_api_route(
            "/v1/direct-payment-returns", self.direct_payment_return, methods=["POST"]
        )
