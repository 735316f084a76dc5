"""Mutations: each one transaction (schema.transactions), each a call of a feature service.

Inputs are checked by REST's own request models, so both APIs accept exactly the same
values; money-moving mutations take an idempotencyKey with REST's rules (schema.idempotency).
"""

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError

from schema.context import Context
from schema.enums import AllocationStatus, Category, Deployment
from schema.errors import invalid_input
from schema.idempotency import once, once_kept
from schema.results import InsufficientFunds, Refusal
from schema.scalars import Money, parse_id
from schema.syncs import DeadLetter
from schema.transactions import OneTransaction
from schema.types import (
    Allocation,
    Budget,
    Commitment,
    Ctx,
    Funder,
    Person,
    Reversal,
    Spend,
)
from service.allocations.schemas import AllocationIn
from service.allocations.service import AllocationView, confirm_allocation, create_allocation
from service.budgets.schemas import BudgetIn, FunderIn
from service.budgets.service import BudgetView, FunderView, add_funder, create_budget
from service.domain.pooling import SplitLine
from service.domain.vocabulary import SpendKind
from service.idempotency.store import Keeper
from service.people.schemas import PersonIn
from service.people.service import PersonView, create_person
from service.spends.schemas import CommitmentIn, CommitmentPostIn, SpendIn
from service.spends.service import (
    decide,
    post_commitment,
    record_commitment,
    record_spend,
    reverse_spend,
    void_commitment,
)
from service.spends.views import SpendView
from service.syncs.dead_letters import replay_dead_letter
from service.syncs.schemas import DeadLetterOut

M = TypeVar("M", bound=BaseModel)

KEY = "A new key (a UUID) per intended write; the same key when retrying it."


def _union(name: str, description: str) -> Any:
    return strawberry.union(name, description=description)


RecordSpendResult = Annotated[
    Spend | InsufficientFunds | Refusal, _union("RecordSpendResult", "The spend, or why not.")
]
MakeCommitmentResult = Annotated[
    Commitment | InsufficientFunds | Refusal,
    _union("MakeCommitmentResult", "The commitment, or why not."),
]
CommitmentResult = Annotated[
    Commitment | Refusal, _union("CommitmentResult", "The commitment, or why not.")
]
SpendResult = Annotated[Spend | Refusal, _union("SpendResult", "The spend, or why not.")]
ReversalResult = Annotated[
    Reversal | Refusal, _union("ReversalResult", "The reversal, or why not.")
]
AllocationResult = Annotated[
    Allocation | Refusal, _union("AllocationResult", "The allocation, or why not.")
]
PersonResult = Annotated[Person | Refusal, _union("PersonResult", "The person, or why not.")]
BudgetResult = Annotated[Budget | Refusal, _union("BudgetResult", "The budget, or why not.")]
FunderResult = Annotated[Funder | Refusal, _union("FunderResult", "The funder, or why not.")]
DeadLetterResult = Annotated[
    DeadLetter | Refusal, _union("DeadLetterResult", "The dead letter, or why not.")
]


def _mutation(description: str, *, funds: bool = False) -> Any:
    return strawberry.mutation(description=description, extensions=[OneTransaction(funds=funds)])


def _validated(model: type[M], data: dict[str, Any]) -> M:
    """The input as REST's request model accepts it, or a validation-error refusal."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_input(error) from None


def _args(value: Any) -> Any:
    """Arguments as plain data, for the idempotency fingerprint."""
    return strawberry.asdict(value) if hasattr(value, "__strawberry_definition__") else value


@strawberry.input(description="What one stream pays of a spend, as the person chooses.")
class SplitInput:
    stream_id: strawberry.ID
    amount: Money


@strawberry.input(description="A purchase to pay from a budget.")
class RecordSpendInput:
    budget_id: strawberry.ID
    amount: Money
    category: Category
    description: str
    occurred_on: date
    payee: str | None = None
    split: list[SplitInput] | None = strawberry.field(
        default=None, description="The person's own split, used exactly if the rules allow."
    )


@strawberry.input(description="Money to hold for booked support.")
class MakeCommitmentInput:
    budget_id: strawberry.ID
    amount: Money
    category: Category
    description: str
    expires_at: datetime


@strawberry.input(description="Money one of your streams puts into a budget.")
class AllocateInput:
    budget_id: strawberry.ID
    stream_id: strawberry.ID
    amount: Money
    status: AllocationStatus


@strawberry.input(description="A person your agency supports.")
class CreatePersonInput:
    reference: str
    name: str
    date_of_birth: date


@strawberry.input(description="A person's budget for one period; your agency leads it.")
class CreateBudgetInput:
    person_id: strawberry.ID
    starts_on: date
    ends_on: date
    deployment: Deployment
    currency: str = "GBP"


def _window(context: Context) -> timedelta:
    return timedelta(days=context.settings.approval_window_days)


async def _decided(
    info: Ctx, id: strawberry.ID, key: str, *, approve: bool, kind: SpendKind, name: str
) -> SpendView:
    context = info.context
    spend_id = parse_id(id, what=kind.value)

    async def work(new_id: uuid.UUID) -> SpendView:
        return await context.serve(decide, spend_id=spend_id, approve=approve, kind=kind)

    return await once(
        context, key=key, mutation=name, arguments={"id": id}, shape=SpendView, work=work
    )


async def _held(
    info: Ctx,
    id: strawberry.ID,
    key: str,
    name: str,
    act: Callable[[uuid.UUID], Any],
    arguments: dict[str, Any],
) -> Commitment:
    context = info.context
    commitment_id = parse_id(id, what="commitment")

    async def work(new_id: uuid.UUID) -> SpendView:
        view: SpendView = await act(commitment_id)
        return view

    view = await once(
        context, key=key, mutation=name, arguments=arguments, shape=SpendView, work=work
    )
    return Commitment.of(view)


@strawberry.type(description="Writes. Each mutation is one transaction: all of it, or nothing.")
class Mutation:
    @_mutation("Pay for something from a budget (lead agency).", funds=True)
    async def record_spend(
        self,
        info: Ctx,
        input: RecordSpendInput,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> RecordSpendResult | None:
        """Record a spend, split across the budget's streams."""
        context = info.context
        budget_id = parse_id(input.budget_id, what="budget")
        body = _validated(
            SpendIn,
            {
                "amount": input.amount,
                "category": input.category,
                "description": input.description,
                "occurred_on": input.occurred_on,
                "payee": input.payee,
                "split": None
                if input.split is None
                else [{"stream_id": s.stream_id, "amount": s.amount} for s in input.split],
            },
        )
        split = [SplitLine(line.stream_id, line.amount) for line in body.split or ()] or None

        async def work(new_id: uuid.UUID, keeper: Keeper) -> SpendView:
            return await context.serve(
                record_spend,
                spend_id=new_id,
                budget_id=budget_id,
                amount=body.amount,
                category=body.category,
                description=body.description,
                occurred_on=body.occurred_on,
                payee=body.payee,
                split=split,
                approval_window=_window(context),
                keeper=keeper,
            )

        view = await once_kept(
            context,
            key=idempotency_key,
            mutation="recordSpend",
            arguments=_args(input),
            shape=SpendView,
            work=work,
        )
        return Spend.of(view)

    @_mutation("Hold money for booked support (lead agency).", funds=True)
    async def make_commitment(
        self,
        info: Ctx,
        input: MakeCommitmentInput,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> MakeCommitmentResult | None:
        """Hold money until it is posted, voided or expires."""
        context = info.context
        budget_id = parse_id(input.budget_id, what="budget")
        body = _validated(
            CommitmentIn,
            {
                "amount": input.amount,
                "category": input.category,
                "description": input.description,
                "expires_at": input.expires_at,
            },
        )

        async def work(new_id: uuid.UUID, keeper: Keeper) -> SpendView:
            return await context.serve(
                record_commitment,
                commitment_id=new_id,
                budget_id=budget_id,
                amount=body.amount,
                category=body.category,
                description=body.description,
                expires_at=body.expires_at,
                approval_window=_window(context),
                clock=context.clock,
                keeper=keeper,
            )

        view = await once_kept(
            context,
            key=idempotency_key,
            mutation="makeCommitment",
            arguments=_args(input),
            shape=SpendView,
            work=work,
        )
        return Commitment.of(view)

    @_mutation("Pay a commitment in full, or `amount` of it; the rest goes back (lead).")
    async def post_commitment(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
        amount: Money | None = None,
    ) -> CommitmentResult | None:
        """Post held money."""
        context = info.context
        body = _validated(CommitmentPostIn, {"amount": amount})

        async def act(commitment_id: uuid.UUID) -> SpendView:
            return await context.serve(
                post_commitment,
                commitment_id=commitment_id,
                amount=body.amount,
                clock=context.clock,
            )

        return await _held(
            info, id, idempotency_key, "postCommitment", act, {"id": id, "amount": amount}
        )

    @_mutation("Release a commitment's held money back to the pots (lead agency).")
    async def void_commitment(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> CommitmentResult | None:
        """Void held money."""
        context = info.context

        async def act(commitment_id: uuid.UUID) -> SpendView:
            return await context.serve(
                void_commitment, commitment_id=commitment_id, clock=context.clock
            )

        return await _held(info, id, idempotency_key, "voidCommitment", act, {"id": id})

    @_mutation("Approve your agency's share of a spend; when all approve, it is paid.")
    async def approve_spend(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> SpendResult | None:
        """Approve a spend's awaiting line."""
        view = await _decided(
            info, id, idempotency_key, approve=True, kind=SpendKind.SPEND, name="approveSpend"
        )
        return Spend.of(view)

    @_mutation("Reject a spend awaiting your agency's approval; its money is released.")
    async def reject_spend(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> SpendResult | None:
        """Reject a spend's awaiting line."""
        view = await _decided(
            info, id, idempotency_key, approve=False, kind=SpendKind.SPEND, name="rejectSpend"
        )
        return Spend.of(view)

    @_mutation("Approve your agency's share of held money; then it can be posted.")
    async def approve_commitment(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> CommitmentResult | None:
        """Approve a commitment's awaiting line."""
        view = await _decided(
            info,
            id,
            idempotency_key,
            approve=True,
            kind=SpendKind.COMMITMENT,
            name="approveCommitment",
        )
        return Commitment.of(view)

    @_mutation("Reject held money awaiting your agency's approval; it goes back to the pots.")
    async def reject_commitment(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> CommitmentResult | None:
        """Reject a commitment's awaiting line."""
        view = await _decided(
            info,
            id,
            idempotency_key,
            approve=False,
            kind=SpendKind.COMMITMENT,
            name="rejectCommitment",
        )
        return Commitment.of(view)

    @_mutation("Reverse a posted spend: each stream that paid gets its share back (lead).")
    async def reverse_spend(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> ReversalResult | None:
        """Reverse a spend."""
        context = info.context
        spend_id = parse_id(id, what="spend")

        async def work(new_id: uuid.UUID) -> SpendView:
            return await context.serve(reverse_spend, spend_id=spend_id, reversal_id=new_id)

        view = await once(
            context,
            key=idempotency_key,
            mutation="reverseSpend",
            arguments={"id": id},
            shape=SpendView,
            work=work,
        )
        return Reversal.of(view)

    @_mutation("Allocate money from one of your streams to a budget you lead or fund.")
    async def allocate(
        self,
        info: Ctx,
        input: AllocateInput,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> AllocationResult | None:
        """Allocate, indicative or confirmed."""
        context = info.context
        budget_id = parse_id(input.budget_id, what="budget")
        body = _validated(
            AllocationIn,
            {"stream_id": input.stream_id, "amount": input.amount, "status": input.status},
        )

        async def work(new_id: uuid.UUID) -> AllocationView:
            return await context.serve(
                create_allocation,
                budget_id=budget_id,
                stream_id=body.stream_id,
                amount=body.amount,
                status=AllocationStatus(body.status),
                allocation_id=new_id,
            )

        view = await once(
            context,
            key=idempotency_key,
            mutation="allocate",
            arguments=_args(input),
            shape=AllocationView,
            work=work,
        )
        return Allocation.of(view)

    @_mutation("Confirm an indicative allocation of your stream: its money moves into the pot.")
    async def confirm_allocation(
        self,
        info: Ctx,
        id: strawberry.ID,
        idempotency_key: Annotated[str, strawberry.argument(description=KEY)],
    ) -> AllocationResult | None:
        """Confirm an allocation."""
        context = info.context
        allocation_id = parse_id(id, what="allocation")

        async def work(new_id: uuid.UUID) -> AllocationView:
            return await context.serve(confirm_allocation, allocation_id=allocation_id)

        view = await once(
            context,
            key=idempotency_key,
            mutation="confirmAllocation",
            arguments={"id": id},
            shape=AllocationView,
            work=work,
        )
        return Allocation.of(view)

    @_mutation("Register a person your agency supports; it becomes their registering agency.")
    async def create_person(
        self, info: Ctx, input: CreatePersonInput, idempotency_key: str | None = None
    ) -> PersonResult | None:
        """Register a person."""
        context = info.context
        body = _validated(
            PersonIn,
            {
                "reference": input.reference,
                "name": input.name,
                "date_of_birth": input.date_of_birth,
            },
        )

        async def work(new_id: uuid.UUID) -> PersonView:
            return await context.serve(create_person, data=body, person_id=new_id)

        view = await once(
            context,
            key=idempotency_key,
            mutation="createPerson",
            arguments=_args(input),
            shape=PersonView,
            work=work,
        )
        return Person.of(view)

    @_mutation("Open a budget for a person you registered or lead a budget for; you lead it.")
    async def create_budget(
        self, info: Ctx, input: CreateBudgetInput, idempotency_key: str | None = None
    ) -> BudgetResult | None:
        """Open a budget."""
        context = info.context
        person_id = parse_id(input.person_id, what="person")
        body = _validated(
            BudgetIn,
            {
                "person_id": person_id,
                "starts_on": input.starts_on,
                "ends_on": input.ends_on,
                "currency": input.currency,
                "deployment": input.deployment,
            },
        )

        async def work(new_id: uuid.UUID) -> BudgetView:
            return await context.serve(create_budget, data=body, budget_id=new_id)

        view = await once(
            context,
            key=idempotency_key,
            mutation="createBudget",
            arguments=_args(input),
            shape=BudgetView,
            work=work,
        )
        return Budget.of(view)

    @_mutation("Bring a partner agency onto a budget you lead. Adding twice changes nothing.")
    async def add_funder(
        self,
        info: Ctx,
        budget_id: strawberry.ID,
        agency_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> FunderResult | None:
        """Add a funder."""
        context = info.context
        budget = parse_id(budget_id, what="budget")
        body = _validated(FunderIn, {"agency_id": agency_id})

        async def work(new_id: uuid.UUID) -> FunderView:
            return await context.serve(add_funder, budget_id=budget, agency_id=body.agency_id)

        view = await once(
            context,
            key=idempotency_key,
            mutation="addFunder",
            arguments={"budgetId": budget_id, "agencyId": agency_id},
            shape=FunderView,
            work=work,
        )
        return Funder(created_at=view.created_at, _view=view)

    @_mutation(
        "Replay a dead letter of your agency's system at its next sync (queued now), once its"
        " cause is fixed. Asking again while one waits changes nothing."
    )
    async def replay_dead_letter(
        self, info: Ctx, id: strawberry.ID, idempotency_key: str | None = None
    ) -> DeadLetterResult | None:
        """Ask for a dead letter's replay."""
        context = info.context
        letter_id = parse_id(id, what="dead letter")

        async def work(new_id: uuid.UUID) -> DeadLetterOut:
            letter = await context.serve(replay_dead_letter, letter_id=letter_id)
            return DeadLetterOut.model_validate(letter)

        view = await once(
            context,
            key=idempotency_key,
            mutation="replayDeadLetter",
            arguments={"id": id},
            shape=DeadLetterOut,
            work=work,
        )
        return DeadLetter.of(view)
