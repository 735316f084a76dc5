"""Which objects an agency reaches. REST and GraphQL both ask here, nowhere else.

An agency reaches its own streams; the budgets it leads or funds; the people it registered
or whose budgets it reaches. Anything else answers 404, exactly as if it did not exist.
"""

import uuid

from sqlalchemy import ColumnElement, exists, or_, select

from service.budgets.models import Budget, BudgetFunder
from service.people.models import Person
from service.streams.models import FundingStream

# An agency id, or a bound parameter standing for one in a statement built once.
AgencyRef = uuid.UUID | ColumnElement[uuid.UUID]


def stream_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Streams the agency owns."""
    return FundingStream.agency_id == agency_id


def budget_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """Budgets the agency leads, or was brought onto as a funder."""
    funds = exists().where(BudgetFunder.budget_id == Budget.id, BudgetFunder.agency_id == agency_id)
    return or_(Budget.lead_agency_id == agency_id, funds)


def person_in_reach(agency_id: AgencyRef) -> ColumnElement[bool]:
    """People the agency registered, or who hold a budget it reaches."""
    holds_reached_budget = exists(
        select(Budget.id).where(Budget.person_id == Person.id, budget_in_reach(agency_id))
    )
    return or_(Person.registered_by_agency_id == agency_id, holds_reached_budget)
