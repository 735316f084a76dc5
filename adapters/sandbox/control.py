"""The /_sandbox routes every sandbox has: faults, the awards' truth, changing awards,
and the reports received. No auth and no faults: they are for tests and people trying it."""

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from adapters.sandbox.faults import FaultError
from adapters.sandbox.store import (
    AlreadyWithdrawn,
    AwardSummary,
    NewAward,
    RefusedChange,
    UnknownAward,
)

if TYPE_CHECKING:
    from adapters.sandbox.base import Sandbox


class _Body(BaseModel):
    """A control body: unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class ResetIn(_Body):
    """A new seed for the fault dice (default: keep the seed)."""

    seed: int | None = None


class AmendIn(_Body):
    """The award's new amount."""

    amount: int = Field(gt=0, description="pence")


class WithdrawIn(_Body):
    """Why the agency withdraws it."""

    reason: str = "Withdrawn by the agency"


class NewAwardIn(_Body):
    """One award to add."""

    person_ref: str = Field(min_length=1, max_length=100)
    amount: int = Field(gt=0, description="pence")
    status: Literal["confirmed", "indicative"] = "confirmed"


class NewAwardsIn(_Body):
    """Awards to add, in order."""

    awards: list[NewAwardIn] = Field(min_length=1, max_length=100_000)


def _json(award: AwardSummary) -> dict[str, Any]:
    """An award summary as JSON."""
    return asdict(award)


def control_router(sandbox: "Sandbox[Any]") -> APIRouter:
    """The control routes, bound to one sandbox."""
    # Every route is async: FastAPI would run a plain def in a worker thread, while the
    # sandbox's state belongs to the event loop (and the equipment service starts tasks).
    router = APIRouter(prefix="/_sandbox")

    def change(
        work: Callable[[str, Any], AwardSummary], reference: str, arg: Any
    ) -> dict[str, Any]:
        """Run a change: 404 unknown award, 409 withdrawn already, 422 refused by the rules."""
        try:
            award = work(reference, arg)
        except UnknownAward as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyWithdrawn as exc:
            raise HTTPException(409, str(exc)) from None
        except RefusedChange as exc:
            raise HTTPException(422, str(exc)) from None
        return _json(award)

    @router.get("")
    async def describe() -> dict[str, Any]:
        """What this sandbox is, how to call it, and its faults."""
        return {
            "name": sandbox.name,
            "kind": sandbox.kind,
            "credentials": sandbox.credentials(),
            "faults": sandbox.faults.rates,
            "seed": sandbox.options.seed,
        }

    @router.post("/reset")
    async def reset(body: ResetIn | None = None) -> dict[str, Any]:
        """Back to the seeded records, no reports, every fault off, the dice re-seeded."""
        if body is not None and body.seed is not None:
            sandbox.options = replace(sandbox.options, seed=body.seed)
        sandbox.reset()
        return await describe()

    @router.get("/faults")
    async def get_faults() -> dict[str, float]:
        """Every fault this sandbox has, with its rate."""
        return sandbox.faults.rates

    @router.post("/faults")
    async def set_faults(rates: dict[str, float]) -> dict[str, float]:
        """Change some rates (0 switches a fault off); answers them all."""
        try:
            sandbox.faults.set(rates)
        except FaultError as exc:
            raise HTTPException(422, str(exc)) from None
        return sandbox.faults.rates

    @router.get("/awards")
    async def awards() -> dict[str, list[dict[str, Any]]]:
        """Every award as it stands now: what an adapter should end up with."""
        return {"items": [_json(award) for award in sandbox.awards()]}

    @router.post("/awards", status_code=201)
    async def add_awards(body: NewAwardsIn) -> dict[str, list[dict[str, Any]]]:
        """Make new awards, as the agency would."""
        new = [NewAward(a.person_ref, a.amount, a.status == "confirmed") for a in body.awards]
        try:
            made = sandbox.create(new)
        except RefusedChange as exc:
            raise HTTPException(422, str(exc)) from None
        return {"items": [_json(award) for award in made]}

    @router.post("/awards/{reference}/amend")
    async def amend(reference: str, body: AmendIn) -> dict[str, Any]:
        """Vary an award to a new amount (a new version)."""
        return change(sandbox.amend, reference, body.amount)

    @router.post("/awards/{reference}/withdraw")
    async def withdraw(reference: str, body: WithdrawIn | None = None) -> dict[str, Any]:
        """Withdraw an award (a new version)."""
        return change(sandbox.withdraw, reference, (body or WithdrawIn()).reason)

    @router.get("/received")
    async def received() -> dict[str, list[dict[str, Any]]]:
        """Every report received, once per delivery id, with how often it was delivered."""
        return {"items": [item.as_json() for item in sandbox.inbox.all()]}

    return router
