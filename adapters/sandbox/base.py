"""What every sandbox agency is: seeded awards, the agency's rules for changing them, an
inbox of reports, its faults, and an ASGI app (its own routes, the shared controls)."""

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Generic

from fastapi import FastAPI, Request, Response

from adapters.sandbox.control import control_router
from adapters.sandbox.faults import COMMON_FAULTS, Faults
from adapters.sandbox.inbox import Inbox
from adapters.sandbox.options import SandboxOptions
from adapters.sandbox.store import (
    AlreadyWithdrawn,
    AwardStatus,
    AwardStore,
    AwardSummary,
    NewAward,
    R,
    RefusedChange,
    Versioned,
)
from adapters.sandbox.transport import FaultMiddleware
from adapters.sandbox.wire import Refusal
from service.ops.middleware import ASGIApp


class Sandbox(ABC, Generic[R]):
    """One sandbox agency."""

    kind: ClassVar[str]  # the agency kind, as onebudget names it (e.g. "council")
    name: ClassVar[str]
    receipt_prefix: ClassVar[str]  # of the ids it gives the reports it receives
    fault_names: ClassVar[tuple[str, ...]] = COMMON_FAULTS

    def __init__(self, *, options: SandboxOptions) -> None:
        self.options = options
        self.reset()

    def reset(self) -> None:
        """Back to the seed: its records only, no reports, faults off, the dice re-seeded."""
        self.faults = Faults(
            names=self.fault_names, rng=random.Random(f"{self.options.seed}:{self.kind}")
        )
        self.store: AwardStore[R] = AwardStore()
        self.inbox = Inbox(prefix=self.receipt_prefix)
        self._serial = 0  # of awards made at run time
        for record in self.seed():
            self.store.put(record)

    # The agency's own records and rules.

    @abstractmethod
    def seed(self) -> Iterable[R]:
        """The records the sandbox starts with, in the order they were made."""

    @abstractmethod
    def summary(self, record: R) -> tuple[str, int, AwardStatus] | None:
        """(person reference, pence, status) of the award this record is (None: no award)."""

    @abstractmethod
    def amended(self, record: R, amount: int) -> R:
        """The record varied to fund `amount` pence; RefusedChange if the rules forbid it."""

    @abstractmethod
    def withdrawn(self, record: R, reason: str) -> R:
        """The record once the agency withdraws the award."""

    @abstractmethod
    def created(self, award: NewAward, serial: int) -> R:
        """A new record for an award made at run time (serial: 1, 2, … in this sandbox)."""

    @abstractmethod
    def routes(self, app: FastAPI) -> None:
        """Add the agency's own routes to app."""

    def credentials(self) -> dict[str, str]:
        """What a client needs to call it (sandbox values, documented in docs/agencies.md)."""
        return {}

    def error_body(self, status: int, message: str) -> tuple[str, bytes]:
        """An error answer in the agency's style: (content type, body)."""
        return "application/json", json.dumps({"error": message}).encode()

    def refusal(self, refusal: Refusal) -> Response:
        """A Refusal as an answer in the agency's style."""
        content_type, body = self.error_body(refusal.status, refusal.message)
        return Response(body, refusal.status, refusal.headers, media_type=content_type)

    async def start(self) -> None:
        """Start background work (the server is listening)."""

    async def stop(self) -> None:
        """Stop background work (before the server stops)."""

    # The shared control operations (see control.py).

    def award(self, entry: Versioned[R]) -> AwardSummary | None:
        """The truth about one stored record, if it is an award."""
        summary = self.summary(entry.record)
        if summary is None:
            return None
        person_ref, amount, status = summary
        return AwardSummary(entry.record.reference, person_ref, amount, status, entry.version)

    def awards(self) -> list[AwardSummary]:
        """Every award as it stands, in change order."""
        return [award for entry in self.store.current() if (award := self.award(entry))]

    def _changeable(self, reference: str) -> R:
        """The record of an award that may change; UnknownAward, RefusedChange otherwise."""
        award = self.award(self.store.get(reference))
        if award is None:
            raise RefusedChange(f"{reference} is no award (yet)")
        if award.status is AwardStatus.WITHDRAWN:
            raise AlreadyWithdrawn(f"{reference} is withdrawn")
        return self.store.get(reference).record

    def _stored(self, record: R) -> AwardSummary:
        """Store a new version of an award; its summary."""
        award = self.award(self.store.put(record))
        assert award is not None, "a change to an award leaves an award"
        return award

    def amend(self, reference: str, amount: int) -> AwardSummary:
        """Vary an award to `amount` pence (a new version)."""
        return self._stored(self.amended(self._changeable(reference), amount))

    def withdraw(self, reference: str, reason: str) -> AwardSummary:
        """Withdraw an award (a new version)."""
        return self._stored(self.withdrawn(self._changeable(reference), reason))

    def create(self, awards: Iterable[NewAward]) -> list[AwardSummary]:
        """Add awards made at run time; RefusedChange (none added) if the rules refuse one."""
        records = []
        for award in awards:
            self._serial += 1
            records.append(self.created(award, self._serial))
        return [self._stored(record) for record in records]

    def app(self) -> ASGIApp:
        """The sandbox's ASGI app: its routes, the controls, the request faults in front."""
        app = FastAPI(title=self.name, docs_url=None, redoc_url=None, openapi_url=None)

        async def refused(request: Request, exc: Exception) -> Response:
            """A Refusal raised by a route, answered in the agency's style."""
            assert isinstance(exc, Refusal)
            return self.refusal(exc)

        app.add_exception_handler(Refusal, refused)
        app.include_router(control_router(self))
        self.routes(app)
        return FaultMiddleware(
            app, faults=lambda: self.faults, options=self.options, error_body=self.error_body
        )
