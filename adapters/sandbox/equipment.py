"""Community equipment service: pushes signed webhooks when it issues or recalls equipment.

Each loan is one item (barcode, catalogue code, unit cost) issued to a person; its cost
is what the service funds. When the item comes back the person is credited (up to its
cost); small items are often never collected, and lost ones are written off. Every change
is an event, `equipment.issued | substituted | collected | recycled | written_off`,
delivered as a Standard Webhook (signed HMAC-SHA256, retried with the same webhook-id
until a 2xx) and listed at GET /v1/events for a client that missed some. Money is in
pence (`*_pence` fields).
"""

import asyncio
import base64
import bisect
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.sandbox.base import Sandbox
from adapters.sandbox.faults import (
    BAD_SIGNATURE,
    COMMON_FAULTS,
    DUPLICATE,
    LATENCY,
    MALFORMED,
    OUT_OF_ORDER,
)
from adapters.sandbox.inbox import Report, ReportLine
from adapters.sandbox.options import SandboxOptions
from adapters.sandbox.people import AMIRA, DANIEL, MARGARET, PETER, SOPHIE
from adapters.sandbox.store import AwardStatus, NewAward, RefusedChange, Versioned
from adapters.sandbox.wire import Refusal, page_size, sequence_number, utc_iso

API_KEY = "equipment-sandbox-api-key"
# The secret partners sign their own webhooks to this service with.
INBOUND_SECRET = "whsec_" + base64.b64encode(b"equipment-sandbox-inbound-secret").decode()


def new_secret() -> str:
    """A fresh Standard Webhooks signing secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True, slots=True)
class Loan:
    """One item of equipment on loan to a person."""

    reference: str
    person_ref: str
    barcode: str
    catalogue_code: str
    description: str
    unit_cost: int  # pence
    issued_on: date
    status: str = "on_loan"  # on_loan, collected, recycled, written_off
    event: str = "equipment.issued"  # what made this version
    credit_amount: int = 0  # pence credited back when the item was collected
    collected_on: date | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A change to a loan, as the service tells it."""

    id: str  # the webhook-id: the same on every retry
    sequence: int
    timestamp: datetime
    loan: Loan
    version: int

    def payload(self, *, malformed: bool = False, corruption: int = 0) -> dict[str, Any]:
        """The webhook body: {type, timestamp, data} (Standard Webhooks)."""
        loan = self.loan
        data: dict[str, Any] | None = {
            "loan_ref": loan.reference,
            "version": self.version,
            "person_ref": loan.person_ref,
            "item_barcode": loan.barcode,
            "catalogue_code": loan.catalogue_code,
            "description": loan.description,
            "status": loan.status,
            "unit_cost_pence": loan.unit_cost,
            "credit_amount_pence": loan.credit_amount,
            "net_cost_pence": loan.unit_cost - loan.credit_amount,
            "issued_on": loan.issued_on.isoformat(),
            "collected_on": loan.collected_on.isoformat() if loan.collected_on else None,
        }
        if malformed and data is not None:
            # A typed-in cost, a lost person, or no data at all: the envelope stays whole.
            if corruption == 0:
                data["unit_cost_pence"] = f"£{loan.unit_cost / 100:,.2f}"
            elif corruption == 1:
                del data["person_ref"]
            else:
                data = None
        return {"type": loan.event, "timestamp": utc_iso(self.timestamp), "data": data}


def _issued(
    number: int, person_ref: str, code: str, description: str, cost: int, issued_on: date
) -> Loan:
    """A loan issued from stock (barcodes follow loan numbers in the sandbox)."""
    return Loan(
        f"LN-2026-{number:05d}",
        person_ref,
        f"RCE{number + 4000:07d}",
        code,
        description,
        cost,
        issued_on,
    )


_BED_LEVER = _issued(30, AMIRA.reference, "BED-LVR-01", "Bed lever", 6_700, date(2026, 4, 9))
_FRAME = _issued(
    52, SOPHIE.reference, "WLK-FRM-01", "Walking frame (folding)", 4_800, date(2026, 2, 10)
)
SEED = (
    _BED_LEVER,
    # Amira: £2,400.00 on loan.
    _issued(
        31,
        AMIRA.reference,
        "BED-PRF-02",
        "Profiling bed with side rails",
        118_500,
        date(2026, 4, 14),
    ),
    _issued(
        32,
        AMIRA.reference,
        "MAT-DYN-01",
        "Dynamic pressure-relieving mattress",
        64_000,
        date(2026, 4, 14),
    ),
    _issued(33, AMIRA.reference, "SHW-CHR-04", "Mobile shower chair", 35_500, date(2026, 4, 21)),
    _issued(34, AMIRA.reference, "WLK-FRM-03", "Wheeled walking frame", 14_000, date(2026, 4, 21)),
    _issued(35, AMIRA.reference, "STL-PRC-01", "Perching stool", 5_200, date(2026, 4, 21)),
    _issued(36, AMIRA.reference, "TLT-RSD-02", "Raised toilet seat", 2_800, date(2026, 4, 21)),
    # The bed lever came back when the profiling bed arrived: credited in full, then recycled.
    replace(
        _BED_LEVER,
        status="collected",
        event="equipment.collected",
        credit_amount=6_700,
        collected_on=date(2026, 4, 28),
    ),
    replace(
        _BED_LEVER,
        status="recycled",
        event="equipment.recycled",
        credit_amount=6_700,
        collected_on=date(2026, 4, 28),
    ),
    # Daniel: £2,000.00.
    _issued(40, DANIEL.reference, "HST-MOB-01", "Mobile hoist", 135_000, date(2026, 5, 5)),
    _issued(41, DANIEL.reference, "SLG-UNI-02", "Universal hoist sling", 16_500, date(2026, 5, 5)),
    _issued(42, DANIEL.reference, "SHW-CMD-01", "Shower commode chair", 42_000, date(2026, 5, 5)),
    _issued(43, DANIEL.reference, "TRF-BRD-01", "Transfer board", 6_500, date(2026, 5, 12)),
    # Margaret: £1,800.00.
    _issued(45, MARGARET.reference, "BED-PRF-01", "Profiling bed", 109_000, date(2026, 6, 2)),
    _issued(
        46, MARGARET.reference, "CSH-PRS-02", "Pressure-relieving cushion", 21_000, date(2026, 6, 2)
    ),
    _issued(47, MARGARET.reference, "WLK-RLT-01", "Rollator", 9_500, date(2026, 6, 2)),
    _issued(48, MARGARET.reference, "TLT-FRM-01", "Toilet frame", 3_800, date(2026, 6, 9)),
    _issued(49, MARGARET.reference, "BED-LVR-01", "Bed lever", 6_700, date(2026, 6, 9)),
    _issued(50, MARGARET.reference, "BTH-BRD-01", "Bath board", 4_500, date(2026, 6, 9)),
    _issued(51, MARGARET.reference, "CMD-STD-01", "Commode", 25_500, date(2026, 6, 9)),
    # Strangers: a wheelchair on loan, and a frame never returned, so written off.
    _issued(
        44,
        PETER.reference,
        "WCH-ATT-01",
        "Attendant-propelled wheelchair",
        31_000,
        date(2026, 5, 19),
    ),
    _FRAME,
    replace(_FRAME, status="written_off", event="equipment.written_off"),
)


class Subscription(BaseModel):
    """Where the service pushes its webhooks, and the secret it signs them with."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9+/=]+$")
    replay: bool = False  # also push every event so far


class SpendLineIn(BaseModel):
    """One line of a spend notification."""

    model_config = ConfigDict(extra="forbid")

    category: str
    date: date
    amount_pence: int
    reason: str
    description: str | None = None
    payee: str | None = None


class SpendDataIn(BaseModel):
    """The data of a spend.posted webhook."""

    model_config = ConfigDict(extra="forbid")

    person_ref: str
    loan_ref: str | None = None
    lines: list[SpendLineIn]


class SpendWebhookIn(BaseModel):
    """A Standard Webhooks body from a partner."""

    type: str
    timestamp: datetime
    data: SpendDataIn


class EquipmentSandbox(Sandbox[Loan]):
    """Riverside Community Equipment Service."""

    kind = "equipment"
    name = "Riverside Community Equipment Service"
    receipt_prefix = "CES"
    fault_names = COMMON_FAULTS + (BAD_SIGNATURE,)

    def __init__(self, *, options: SandboxOptions) -> None:
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending = asyncio.Semaphore(4)  # deliveries in flight at once
        super().__init__(options=options)

    def reset(self) -> None:
        """Back to the seed: its events only, deliveries stopped, the start's subscription."""
        for task in self._tasks:
            task.cancel()
        self.events: list[Event] = []
        self.attempts: list[dict[str, Any]] = []
        self.subscription: Subscription | None = None
        super().reset()
        self.store.listen(self._record_event)
        # Events of the seed, stored before we listened.
        for versions in self.store.history.values():
            self.events += [self._event(entry) for entry in versions]
        self.events.sort(key=lambda event: event.sequence)
        if self.options.webhook_url:
            self.subscription = Subscription(
                url=self.options.webhook_url,
                secret=self.options.webhook_secret or new_secret(),
                replay=True,
            )
            self._replay()

    def _replay(self) -> None:
        """Push every event so far (once serving)."""
        if self._client is not None:
            for event in self.events:
                self._push(event)

    def seed(self) -> Iterable[Loan]:
        """The demo people's equipment and two strangers'."""
        return SEED

    def summary(self, record: Loan) -> tuple[str, int, AwardStatus]:
        """The cost net of credits; withdrawn once an item is back and credited in full."""
        net = record.unit_cost - record.credit_amount
        back = record.status in ("collected", "recycled")
        return (
            record.person_ref,
            net,
            AwardStatus.WITHDRAWN if back and net == 0 else AwardStatus.CONFIRMED,
        )

    def amended(self, record: Loan, amount: int) -> Loan:
        """A substitute item of another cost; RefusedChange unless the item is on loan."""
        if record.status != "on_loan":
            raise RefusedChange(f"{record.reference} is {record.status}, not on loan")
        return replace(
            record,
            barcode=f"{record.barcode}S",
            description=f"{record.description} (substitute)",
            unit_cost=amount,
            event="equipment.substituted",
        )

    def withdrawn(self, record: Loan, reason: str) -> Loan:
        """Recalled: collected today and credited in full."""
        return replace(
            record,
            status="collected",
            event="equipment.collected",
            credit_amount=record.unit_cost,
            collected_on=date.today(),
        )

    def created(self, award: NewAward, serial: int) -> Loan:
        """An item issued today at the amount; RefusedChange for an indicative one."""
        if not award.confirmed:
            raise RefusedChange("equipment is issued or not: there is no indicative loan")
        return _issued(
            5000 + serial,
            award.person_ref,
            "MSC-GEN-01",
            "Equipment item",
            award.amount,
            date.today(),
        )

    def credentials(self) -> dict[str, str]:
        """The API key (Bearer) for /v1/events, and the secret to sign webhooks to it with."""
        return {"api_key": API_KEY, "inbound_webhook_secret": INBOUND_SECRET}

    # Events and their webhooks

    def _event(self, entry: Versioned[Loan]) -> Event:
        """The event a stored version is."""
        return Event(
            f"msg_{secrets.token_hex(12)}",
            entry.sequence,
            entry.updated_at,
            entry.record,
            entry.version,
        )

    def _record_event(self, entry: Versioned[Loan]) -> None:
        """Log the event of a new version, and push it if someone subscribed."""
        event = self._event(entry)
        self.events.append(event)
        if self.subscription is not None and self._client is not None:
            self._push(event)

    def _push(self, event: Event) -> None:
        """Deliver an event in the background; its faults are rolled now, in event order."""
        held = self.faults.fires(OUT_OF_ORDER)
        malformed = self.faults.fires(MALFORMED)
        body = json.dumps(
            event.payload(malformed=malformed, corruption=self.faults.pick(3) if malformed else 0)
        )
        copies = 2 if self.faults.fires(DUPLICATE) else 1
        task = asyncio.create_task(
            self._deliver(
                event, body, self.subscription, held=held, malformed=malformed, copies=copies
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log(self, event: Event, attempt: int, **outcome: Any) -> None:
        """One line of the delivery log."""
        self.attempts.append(
            {
                "webhook_id": event.id,
                "type": event.loan.event,
                "sequence": event.sequence,
                "attempt": attempt,
                "at": utc_iso(datetime.now(UTC)),
                **outcome,
            }
        )

    async def _deliver(
        self,
        event: Event,
        body: str,
        subscription: Subscription | None,
        *,
        held: bool,
        malformed: bool,
        copies: int,
    ) -> None:
        """POST one event until a 2xx (copies times), the same webhook-id on every retry."""
        if subscription is None:
            return
        if held:
            await asyncio.sleep(self.options.webhook_hold_seconds)  # later events overtake it
        waits = (0.0, *self.options.webhook_retry_seconds)
        for attempt, wait in enumerate(waits, start=1):
            await asyncio.sleep(wait)
            if self.subscription is not subscription:
                return  # unsubscribed (or replaced) meanwhile
            if self.faults.fires(LATENCY):
                await asyncio.sleep(self.options.latency_seconds)
            bad = self.faults.fires(BAD_SIGNATURE)
            status = await self._post(
                event, body, subscription, attempt=attempt, bad=bad, malformed=malformed
            )
            if status == 410:
                self.subscription = None  # the receiver asked for no more
                return
            if status is not None and 200 <= status < 300:
                copies -= 1
                if copies == 0:
                    return

    async def _post(
        self,
        event: Event,
        body: str,
        subscription: Subscription,
        *,
        attempt: int,
        bad: bool,
        malformed: bool,
    ) -> int | None:
        """One signed POST; its status (None if it did not get one). Logged."""
        assert self._client is not None and subscription.secret is not None
        sent_at = datetime.now(UTC)
        secret = new_secret() if bad else subscription.secret
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(event.id, sent_at, body),
        }
        async with self._sending:
            try:
                answer = await self._client.post(subscription.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                self._log(
                    event,
                    attempt,
                    status=None,
                    error=repr(exc),
                    bad_signature=bad,
                    malformed=malformed,
                )
                return None
        self._log(
            event,
            attempt,
            status=answer.status_code,
            error=None,
            bad_signature=bad,
            malformed=malformed,
        )
        return answer.status_code

    async def start(self) -> None:
        """Open the webhook client; push everything to a subscription made at start."""
        self._client = httpx.AsyncClient(timeout=self.options.webhook_timeout_seconds)
        if self.subscription is not None:
            self._replay()

    async def stop(self) -> None:
        """Stop delivering."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # Routes

    def _authorise(self, request: Request) -> None:
        """Refusal 401 without the API key as a Bearer token."""
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            raise Refusal(401, "send the API key as a Bearer token", {"www-authenticate": "Bearer"})

    def _previous_event(self, event: Event) -> Event | None:
        """The event of the loan's version before this event's, if any."""
        if event.version == 1:
            return None
        older = self.store.history[event.loan.reference][event.version - 2].sequence
        return self.events[bisect.bisect_left(self.events, older, key=lambda e: e.sequence)]

    async def list_events(self, request: Request) -> JSONResponse:
        """Events after sequence `after`, oldest first: for a client that missed webhooks."""
        self._authorise(request)
        after = sequence_number(request.query_params.get("after"), name="after")
        limit = page_size(request.query_params.get("limit"), default=100, maximum=500)
        start = bisect.bisect_right(self.events, after, key=lambda event: event.sequence)
        page = self.events[start : start + limit]
        items = []
        for served in self.faults.serve(page, previous=self._previous_event):
            event = served.item
            body = event.payload(
                malformed=served.malformed,
                corruption=self.faults.pick(3) if served.malformed else 0,
            )
            items.append({"id": event.id, "sequence": event.sequence, **body})
        next_after = page[-1].sequence if page else after
        return JSONResponse(
            {"data": items, "next_after": next_after, "has_more": start + limit < len(self.events)}
        )

    async def inbound(self, request: Request) -> JSONResponse:
        """A partner's signed spend.posted webhook; the same webhook-id again is a duplicate."""
        body = await request.body()
        try:
            Webhook(INBOUND_SECRET).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            raise Refusal(401, f"the webhook signature does not verify: {exc}") from None
        try:
            message = SpendWebhookIn.model_validate_json(body)
            if message.type != "spend.posted":
                raise ValueError(f"this service takes spend.posted webhooks, not {message.type!r}")
            data = message.data
            report = Report(
                request.headers["webhook-id"],
                data.person_ref,
                tuple(
                    ReportLine(
                        line.category,
                        line.date,
                        line.amount_pence,
                        line.reason,
                        line.description,
                        line.payee,
                    )
                    for line in data.lines
                ),
                data.loan_ref,
            )
            received, new = self.inbox.accept(report)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Refusal(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        except ValueError as exc:
            raise Refusal(400, str(exc)) from None
        return JSONResponse(
            {"id": received.receipt, "status": "accepted" if new else "duplicate"}, 200
        )

    def routes(self, app: FastAPI) -> None:
        """Events, inbound webhooks, and the subscription controls."""
        app.add_api_route("/v1/events", self.list_events, methods=["GET"])
        app.add_api_route("/v1/inbound-webhooks", self.inbound, methods=["POST"])

        @app.post("/_sandbox/subscribe")
        async def subscribe(body: Subscription) -> dict[str, str]:
            """Push webhooks to url from now on (from the first event with replay)."""
            if self._client is None:
                raise HTTPException(503, "the sandbox is not serving yet")
            self.subscription = body.model_copy(update={"secret": body.secret or new_secret()})
            if body.replay:
                self._replay()
            assert self.subscription.secret is not None
            return {"url": self.subscription.url, "secret": self.subscription.secret}

        @app.delete("/_sandbox/subscribe", status_code=204)
        async def unsubscribe() -> Response:
            """Push no more webhooks."""
            self.subscription = None
            return Response(status_code=204)

        @app.get("/_sandbox/deliveries")
        async def deliveries() -> dict[str, Any]:
            """Every delivery attempt so far, and where webhooks go now."""
            subscription = self.subscription
            return {
                "subscription": subscription.model_dump(exclude={"replay"})
                if subscription
                else None,
                "pending": len(self._tasks),
                "items": self.attempts,
            }
