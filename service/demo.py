"""The demo world: four Riverside agencies, their funding streams and three pooled budgets.

`onebudget serve --demo` calls `load_demo` before the server starts. The world is loaded
once, in one transaction, through the same service functions the API calls, so every
figure passes the rules a partner's request would meet (caps, ring fences, approval
thresholds); a figure that breaks them fails the load loudly. The figures are typical
of England: a £300-a-week care budget, a £25,000 Disabled Facilities Grant (£30,000 works
less a £5,000 contribution), an £8,000 Access to Work award.
"""

import asyncio
import json
import os
import shlex
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.agencies.models import Agency
from service.agencies.service import create_agency
from service.allocations.service import create_allocation
from service.auth.caller import SCOPES, Caller
from service.auth.service import create_client
from service.budgets.models import Budget
from service.budgets.schemas import BudgetIn
from service.budgets.service import add_funder, create_budget
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.domain.vocabulary import AllocationStatus, Category, Deployment, StreamKind
from service.ledger.clock import recorded_at
from service.people.models import Person
from service.people.schemas import PersonIn
from service.people.service import create_person
from service.spends.service import record_commitment, record_spend
from service.streams.schemas import StreamIn
from service.streams.service import create_stream

COUNCIL = "Riverside Council — Adult Social Care"
CLIENTS_FILE = "demo-clients.json"
PERIOD = (date(2026, 4, 1), date(2027, 3, 31))  # the UK financial year
# Commitments are held for ten weeks from loading, so the demo never starts already expired.
COMMITMENT_HOLD = timedelta(weeks=10)
# People and budgets are dated this far apart, in PEOPLE's order: rows written in one
# transaction share its now(), and "oldest first" lists would then order them by random id.
CREATED_APART = timedelta(minutes=1)
OPENED_AT, PAID_AT = time(9, 0), time(12, 0)  # UTC: budgets open, purchases are paid
# Held for the loading transaction, so two servers started together load the world once.
_LOCK_KEY = 0x0DE0_0B0D


@dataclass(frozen=True, slots=True)
class AgencySpec:
    """A partner agency and the one funding stream it opens."""

    kind: str
    name: str
    stream: StreamIn


@dataclass(frozen=True, slots=True)
class Purchase:
    """Spends of one kind, one on each date (e.g. 4-weekly wages)."""

    category: Category
    amount: int
    description: str
    payee: str
    dates: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """A budget holder, what each agency puts in, and what has been spent so far."""

    reference: str
    name: str
    born: date
    deployment: Deployment
    allocations: tuple[tuple[str, int, str], ...]  # (agency kind, pence, status)
    purchases: tuple[Purchase, ...]
    commitment: tuple[Category, int, str]  # held for COMMITMENT_HOLD


@dataclass(frozen=True, slots=True)
class SeededAward:
    """An award an agency's own system holds (its sandbox's seed), to allocate as that award."""

    reference: str
    person_ref: str
    amount: int
    status: str  # confirmed or indicative


# Awards by agency kind: where given, a person's allocations of that kind are these awards
# (tagged with their references, so the agency's first sync finds them and adds nothing).
Awards = Mapping[str, Sequence[SeededAward]]


def _allocations(person: "PersonSpec", awards: Awards) -> list[tuple[str, int, str, str | None]]:
    """(kind, pence, status, award reference) of what each agency puts into the budget."""
    made: list[tuple[str, int, str, str | None]] = [
        (kind, amount, status, None)
        for kind, amount, status in person.allocations
        if kind not in awards
    ]
    for kind, seeded in awards.items():
        made += [
            (kind, award.amount, award.status, award.reference)
            for award in seeded
            if award.person_ref == person.reference and award.status != "withdrawn"
        ]
    return made


def _four_weekly(first: date, count: int) -> tuple[date, ...]:
    """`count` dates four weeks apart, as direct payments and wages are paid."""
    return tuple(first + timedelta(weeks=4 * n) for n in range(count))


AGENCIES = (
    AgencySpec(
        "council",
        COUNCIL,
        StreamIn(
            name="Adult social care personal budget",
            kind=StreamKind.SOCIAL_CARE,
            unspent="carry_forward",
        ),
    ),
    AgencySpec(
        "housing",
        "Riverside Housing Authority — Disabled Facilities Grants",
        StreamIn(
            name="Disabled Facilities Grant",
            kind=StreamKind.HOUSING_ADAPTATION,
            categories=[Category.HOUSING_ADAPTATION],
            unspent="return",
            cap_amount=3_000_000,
            approval_threshold_amount=1_000_000,
        ),
    ),
    AgencySpec(
        "employment",
        "Access to Work — Department for Work and Pensions",
        StreamIn(
            name="Access to Work",
            kind=StreamKind.EMPLOYMENT,
            categories=[
                Category.EMPLOYMENT_SUPPORT,
                Category.TRANSPORT,
                Category.ASSISTIVE_TECHNOLOGY,
                Category.PERSONAL_ASSISTANT,
            ],
            unspent="return",
            cap_amount=5_920_000,
        ),
    ),
    AgencySpec(
        "equipment",
        "Riverside Community Equipment Service",
        StreamIn(
            name="Community equipment",
            kind=StreamKind.EQUIPMENT,
            categories=[Category.EQUIPMENT, Category.ASSISTIVE_TECHNOLOGY],
            unspent="return",
            approval_threshold_amount=150_000,
        ),
    ),
)

PEOPLE = (
    PersonSpec(
        reference="RC-100231",
        name="Amira Hussain",
        born=date(1979, 3, 14),
        deployment=Deployment.DIRECT_PAYMENT,
        allocations=(
            ("council", 1_560_000, "confirmed"),  # £300 a week
            ("housing", 2_500_000, "confirmed"),  # £30,000 works less £5,000 contribution
            ("equipment", 240_000, "confirmed"),
        ),
        purchases=(
            Purchase(
                Category.PERSONAL_ASSISTANT,
                105_000,
                "PA wages, 4 weeks (15 hours a week)",
                "Jo Morgan (personal assistant)",
                _four_weekly(date(2026, 4, 24), 8),
            ),
            Purchase(
                Category.EQUIPMENT,
                42_000,
                "Bath lift",
                "Riverside Community Equipment",
                (date(2026, 5, 12),),
            ),
            Purchase(
                Category.PERSONAL_CARE,
                38_500,
                "Agency cover while the PA was on leave",
                "Riverside Home Care Ltd",
                (date(2026, 6, 3),),
            ),
            Purchase(
                Category.HOUSING_ADAPTATION,
                850_000,
                "Level-access shower room",
                "Able Adaptations Ltd",
                (date(2026, 7, 29),),
            ),
            Purchase(
                Category.TRANSPORT,
                4_500,
                "Taxis to hospital appointments",
                "Riverside Cabs",
                (date(2026, 9, 2),),
            ),
            # Over the DFG's £10,000 threshold: awaits the housing authority's approval.
            Purchase(
                Category.HOUSING_ADAPTATION,
                1_450_000,
                "Ground-floor bedroom extension, stage payment",
                "Able Adaptations Ltd",
                (date(2026, 11, 18),),
            ),
        ),
        commitment=(Category.PERSONAL_ASSISTANT, 145_000, "PA cover over Christmas and New Year"),
    ),
    PersonSpec(
        reference="RC-100587",
        name="Daniel Okafor",
        born=date(1991, 9, 2),
        deployment=Deployment.MIXED,
        allocations=(
            ("council", 1_040_000, "confirmed"),  # £200 a week
            ("employment", 800_000, "confirmed"),  # this year's Access to Work award
            ("employment", 150_000, "indicative"),  # travel uplift, awaiting the yearly review
            ("equipment", 200_000, "confirmed"),
        ),
        purchases=(
            Purchase(
                Category.PERSONAL_CARE,
                72_000,
                "Morning and evening support, 4 weeks",
                "Riverside Home Care Ltd",
                _four_weekly(date(2026, 4, 24), 8),
            ),
            Purchase(
                Category.PERSONAL_ASSISTANT,
                38_000,
                "Support worker at work, 4 weeks",
                "Clearpath Support CIC",
                _four_weekly(date(2026, 4, 30), 8),
            ),
            Purchase(
                Category.TRANSPORT,
                36_000,
                "Taxis to and from work, 4 weeks",
                "Riverside Cabs",
                _four_weekly(date(2026, 4, 30), 8),
            ),
            Purchase(
                Category.DAY_ACTIVITIES,
                12_000,
                "Adapted swimming club, annual membership",
                "Riverside Leisure Trust",
                (date(2026, 5, 6),),
            ),
            # Over the equipment service's £1,500 threshold: awaits its approval.
            Purchase(
                Category.ASSISTIVE_TECHNOLOGY,
                175_000,
                "Environmental control system",
                "Possum Ltd",
                (date(2026, 11, 10),),
            ),
        ),
        commitment=(Category.TRANSPORT, 72_000, "Taxis to and from work, December and January"),
    ),
    PersonSpec(
        reference="RC-101142",
        name="Margaret Ellis",
        born=date(1948, 11, 30),
        deployment=Deployment.MANAGED,
        allocations=(
            ("council", 1_820_000, "confirmed"),  # £350 a week
            ("equipment", 180_000, "confirmed"),
            ("housing", 650_000, "indicative"),  # stairlift, grant application being decided
        ),
        purchases=(
            Purchase(
                Category.PERSONAL_CARE,
                126_000,
                "Home care visits, 4 weeks (14 hours a week)",
                "Riverside Home Care Ltd",
                _four_weekly(date(2026, 4, 24), 8),
            ),
            Purchase(
                Category.DAY_ACTIVITIES,
                18_000,
                "Day centre, 12 sessions",
                "Riverside Day Centre",
                (date(2026, 6, 15),),
            ),
            Purchase(
                Category.RESPITE,
                96_000,
                "Respite week while her carer was away",
                "Oakfield House",
                (date(2026, 8, 10),),
            ),
            # Over the equipment service's £1,500 threshold: awaits its approval.
            Purchase(
                Category.EQUIPMENT,
                165_000,
                "Riser-recliner chair",
                "Riverside Community Equipment",
                (date(2026, 11, 16),),
            ),
        ),
        commitment=(Category.RESPITE, 96_000, "Respite week booked for January"),
    ),
)


@contextmanager
def _step(label: str) -> Iterator[None]:
    """Print one progress line to stderr: the step, then done (or failed)."""
    print(f"demo: {label} …", end=" ", file=sys.stderr, flush=True)
    try:
        yield
    except BaseException:
        print("failed", file=sys.stderr, flush=True)
        raise
    print("done", file=sys.stderr, flush=True)


async def _load_person(
    session: AsyncSession,
    person: PersonSpec,
    *,
    callers: Mapping[str, Caller],
    streams: Mapping[str, uuid.UUID],
    created_at: datetime,
    awards: Awards,
) -> None:
    """One person's budget: council-led, funders brought in, money allocated and spent."""
    council = callers["council"]
    row = await create_person(
        session,
        council,
        data=PersonIn(reference=person.reference, name=person.name, date_of_birth=person.born),
    )
    budget = await create_budget(
        session,
        council,
        data=BudgetIn(
            person_id=row.id,
            starts_on=PERIOD[0],
            ends_on=PERIOD[1],
            currency="GBP",
            deployment=person.deployment,
        ),
    )
    # Spaced creation times, so "the first budget" of the README tour is always this one.
    await session.execute(update(Person).where(Person.id == row.id).values(created_at=created_at))
    await session.execute(
        update(Budget).where(Budget.id == budget.id).values(created_at=created_at)
    )
    for kind in dict.fromkeys(kind for kind, _, _ in person.allocations if kind != "council"):
        await add_funder(session, council, budget_id=budget.id, agency_id=callers[kind].agency_id)
    # The money moves on the days it would have, so statements as of a past date show it.
    for kind, amount, status, reference in _allocations(person, awards):
        with recorded_at(session, created_at):
            await create_allocation(
                session,
                callers[kind],
                budget_id=budget.id,
                stream_id=streams[kind],
                amount=amount,
                status=AllocationStatus(status),
                award_reference=reference,
            )
    dated = sorted(((on, p) for p in person.purchases for on in p.dates), key=lambda x: x[0])
    for occurred_on, purchase in dated:
        paid_at = min(datetime.combine(occurred_on, PAID_AT, UTC), datetime.now(UTC))
        with recorded_at(session, paid_at):
            await record_spend(
                session,
                council,
                spend_id=uuid.uuid4(),
                budget_id=budget.id,
                amount=purchase.amount,
                category=purchase.category,
                description=purchase.description,
                occurred_on=occurred_on,
                payee=purchase.payee,
                split=None,
            )
    category, amount, description = person.commitment
    await record_commitment(
        session,
        council,
        commitment_id=uuid.uuid4(),
        budget_id=budget.id,
        amount=amount,
        category=category,
        description=description,
        expires_at=datetime.now(UTC) + COMMITMENT_HOLD,
    )


async def _load_world(session: AsyncSession, awards: Awards) -> list[dict[str, str]]:
    """Agencies, clients, streams and people; returns each agency's credentials."""
    callers: dict[str, Caller] = {}
    streams: dict[str, uuid.UUID] = {}
    clients: list[dict[str, str]] = []
    with _step(f"{len(AGENCIES)} agencies, their clients and streams"):
        for spec in AGENCIES:
            agency = await create_agency(session, name=spec.name, kind=spec.kind)
            row, secret = await create_client(
                session, agency_id=agency.id, name="Demo partner system", scope=" ".join(SCOPES)
            )
            callers[spec.kind] = Caller(
                client_pk=row.id,
                client_id=row.client_id,
                agency_id=agency.id,
                scopes=frozenset(SCOPES),
            )
            streams[spec.kind] = (
                await create_stream(session, callers[spec.kind], data=spec.stream)
            ).id
            clients.append(
                {
                    "agency": agency.name,
                    "agency_id": str(agency.id),
                    "kind": agency.kind,
                    "client_id": row.client_id,
                    "client_secret": secret,
                    "scope": row.scope,
                }
            )
    # Budgets open as the period starts (before any spend), a minute apart: none alike.
    first = datetime.combine(PERIOD[0], OPENED_AT, UTC)
    for number, person in enumerate(PEOPLE, start=1):
        with _step(f"person {number}/{len(PEOPLE)} ({person.name})"):
            await _load_person(
                session,
                person,
                callers=callers,
                streams=streams,
                created_at=first + CREATED_APART * (number - 1),
                awards=awards,
            )
    return clients


def _write_clients(path: Path, clients: list[dict[str, str]]) -> None:
    """Write the credentials where only the operator can read them (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        os.fchmod(file.fileno(), 0o600)  # a file left from an earlier load keeps its old mode
        json.dump(clients, file, indent=2, ensure_ascii=False)
        file.write("\n")


async def load_once(settings: Settings, url: str, awards: Awards) -> bool:
    """Load the world unless the council exists already; True when it was loaded now."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
            existing = select(Agency.id).where(Agency.name == COUNCIL).limit(1)
            if await session.scalar(existing) is not None:
                return False
            clients = await _load_world(session, awards)
            # Written before the commit: if writing fails, nothing is loaded and the next
            # start tries again, instead of leaving a world whose secrets nobody has.
            with _step(f"writing {CLIENTS_FILE}"):
                _write_clients(settings.data_dir / CLIENTS_FILE, clients)
            return True
    finally:
        await engine.dispose()


def _print_credentials(settings: Settings, path: Path) -> None:
    """Print each agency's credentials and a curl line to get the council a token."""
    if not path.exists():
        print(
            f"demo: {path} is missing, so the demo secrets are lost;"
            " add a client with `onebudget clients add`.",
            file=sys.stderr,
        )
        return
    clients: list[dict[str, str]] = json.loads(path.read_text())
    print("onebudget demo partners (all scopes):")
    for client in clients:
        print(f"  {client['agency']} ({client['kind']})")
        print(f"    client_id:     {client['client_id']}")
        print(f"    client_secret: {client['client_secret']}")
    council = next(c for c in clients if c["agency"] == COUNCIL)
    basic = shlex.quote(f"{council['client_id']}:{council['client_secret']}")
    token_url = f"http://{settings.host}:{settings.port}/oauth/token"
    print("A token for the council:")
    print(f"  curl -s -u {basic} -d grant_type=client_credentials {token_url}")
    print(f"Credentials file: {path}")


def load_demo(settings: Settings, url: str, *, awards: Awards | None = None) -> None:
    """Load the demo world into the (migrated) database at url once, and print its credentials.

    With `awards`, the agencies of those kinds allocate their own systems' awards instead
    (`serve --demo --sandboxes`): the same sums, one allocation per award reference.
    """
    if not asyncio.run(load_once(settings, url, awards or {})):
        print(f"demo: {COUNCIL!r} exists, so the demo is loaded already", file=sys.stderr)
    _print_credentials(settings, settings.data_dir / CLIENTS_FILE)
