"""Who may reach and do what: the one place REST, GraphQL and every service ask.

Reach (anything outside answers 404, exactly as if it did not exist):
- an agency reaches its own streams;
- the budgets it leads (it opened them) or funds (the lead brought it on);
- the people it registered, or whose budgets it reaches;
- the name, kind and agency of each stream paying into a budget it reaches (a budget shows
  its streams), but not that stream's rules;
- its own webhook endpoints (and their delivery logs), which hear of every budget it reaches;
- its own system's syncs and dead letters, never another agency's (GraphQL shows every
  agency's name and kind, but not those).

Roles on what it reaches (a role that may not answers 403, naming the role that may):
- on a budget: the lead records spends and commitments, reverses and voids them, edits the
  budget and brings funders in; a funder allocates from its own streams, approves or
  rejects what awaits its approval, and reads;
- on a person: the agency that registered them, or one that leads a budget for them, edits
  them and opens budgets for them; an agency that reaches them only as a funder reads.
Scopes say what a token may do at all; each service function asks `require_scope` itself,
so no edge can forget.
"""

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.caller import Caller
from service.budgets.models import Budget, BudgetFunder
from service.domain.errors import ForbiddenRole, MissingScope, NotFound
from service.ledger.models import Account
from service.people.models import Person
from service.streams.models import FundingStream
from service.webhooks.models import WebhookEndpoint

# An agency id, or a bound parameter standing for one in a statement built once.
AgencyRef = uuid.UUID | ColumnElement[uuid.UUID]


class BudgetRole(StrEnum):
    """What an agency is to a budget it reaches."""

    LEAD = "lead"
    FUNDER = "funder"


class PersonRole(StrEnum):
    """What an agency is to a person it reaches."""

    REGISTRAR = "registering agency"
    LEAD = "lead agency of one of their budgets"
    FUNDER = "funder of one of their budgets"


def require_scope(caller: Caller, scope: str) -> None:
    """Refuse a caller whose token lacks `scope`."""
    if scope not in caller.scopes:
        raise MissingScope(scope)


def own_system(caller: Caller, agency_id: uuid.UUID) -> bool:
    """Whether the agency's syncs and dead letters are the caller's: only its own agency's."""
    return agency_id == caller.agency_id


def stream_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Streams the agency owns."""
    return FundingStream.agency_id == agency_id


def endpoint_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Webhook endpoints the agency registered."""
    return WebhookEndpoint.agency_id == agency_id


def budget_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Budgets the agency leads, or was brought onto as a funder."""
    funds = exists().where(BudgetFunder.budget_id == Budget.id, BudgetFunder.agency_id == agency_id)
    return or_(Budget.lead_agency_id == agency_id, funds)


def budgets_reached(
    budget_id: SQLColumnExpression[uuid.UUID], agency_id: AgencyRef
) -> ColumnElement[bool]:
    """Rows of a budget (spends, transfers, allocations) whose budget the agency reaches."""
    return exists().where(Budget.id == budget_id, budget_in_reach(agency_id))


def stream_shown(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Streams the agency owns, or that pay into a budget it reaches: a budget names its
    streams (name, kind, agency) to everyone who reaches it; the rules stay the owner's."""
    pays_in = exists().where(
        Account.stream_id == FundingStream.id, budgets_reached(Account.budget_id, agency_id)
    )
    return or_(stream_in_reach(agency_id), pays_in)


def person_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """People the agency registered, or who hold a budget it reaches."""
    holds_reached_budget = exists(
        select(Budget.id).where(Budget.person_id == Person.id, budget_in_reach(agency_id))
    )
    return or_(Person.registered_by_agency_id == agency_id, holds_reached_budget)


def budget_role(caller: Caller, *, lead_agency_id: uuid.UUID) -> BudgetRole:
    """The caller's role on a budget it reaches (the reach itself was checked by the query)."""
    return BudgetRole.LEAD if caller.agency_id == lead_agency_id else BudgetRole.FUNDER


def require_lead(caller: Caller, *, lead_agency_id: uuid.UUID, action: str) -> None:
    """Only the budget's lead agency may do `action` (e.g. "record a spend")."""
    if budget_role(caller, lead_agency_id=lead_agency_id) is not BudgetRole.LEAD:
        raise ForbiddenRole(
            f"Only the budget's lead agency may {action}; your agency funds this budget.",
            allowed=[BudgetRole.LEAD.value],
        )


@dataclass(frozen=True, slots=True)
class PersonAccess:
    """How the caller reaches a person, decided in one query."""

    person: Person
    role: PersonRole


async def person_access(
    session: AsyncSession, caller: Caller, *, person_id: uuid.UUID, for_update: bool = False
) -> PersonAccess:
    """The person and the caller's role on them; NotFound when outside reach."""
    agency = caller.agency_id
    leads = exists().where(Budget.person_id == Person.id, Budget.lead_agency_id == agency)
    query = select(Person, leads.label("leads")).where(
        Person.id == person_id, person_in_reach(agency)
    )
    if for_update:
        query = query.with_for_update(of=Person)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"No person {person_id} is within your reach.")
    person, leads_a_budget = row
    if person.registered_by_agency_id == agency:
        role = PersonRole.REGISTRAR
    elif leads_a_budget:
        role = PersonRole.LEAD
    else:
        role = PersonRole.FUNDER
    return PersonAccess(person=person, role=role)


def require_person_steward(access: PersonAccess, *, action: str) -> None:
    """Only the registering agency, or a lead of one of their budgets, may do `action`."""
    if access.role is PersonRole.FUNDER:
        raise ForbiddenRole(
            f"Only the agency that registered this person, or one leading a budget for them,"
            f" may {action}: reaching a person through a budget you fund passes nothing on.",
            allowed=[PersonRole.REGISTRAR.value, PersonRole.LEAD.value],
        )
