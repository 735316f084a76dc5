"""Vocabularies as GraphQL enums: each value is the REST value upper-cased (TRANSPORT is
"transport", PENDING_APPROVAL is "pending_approval"), one to one, from the same Python enums.

Schema modules import the enums from here, never from service/: a type that named one
before it was registered would get an enum without its description.
"""

import strawberry

from service.domain.ledger import AccountKind, TransferKind
from service.domain.vocabulary import (
    AgencyKind,
    AllocationStatus,
    Approval,
    Category,
    Deployment,
    SpendStatus,
    StreamKind,
    Unspent,
)
from service.syncs.vocabulary import RunStatus

# The enum classes themselves, registered with Strawberry: member names are GraphQL's values.
VOCABULARIES = (
    AccountKind,
    AgencyKind,
    AllocationStatus,
    Approval,
    Category,
    Deployment,
    RunStatus,
    SpendStatus,
    StreamKind,
    TransferKind,
    Unspent,
)
# An enum's name in the schema where its Python name would say little there.
SCHEMA_NAMES: dict[type, str] = {RunStatus: "SyncRunStatus"}
for _vocabulary in VOCABULARIES:
    strawberry.enum(
        _vocabulary, name=SCHEMA_NAMES.get(_vocabulary), description=_vocabulary.__doc__
    )

__all__ = [
    "SCHEMA_NAMES",
    "VOCABULARIES",
    "AccountKind",
    "AgencyKind",
    "AllocationStatus",
    "Approval",
    "Category",
    "Deployment",
    "RunStatus",
    "SpendStatus",
    "StreamKind",
    "TransferKind",
    "Unspent",
]
