"""The awards side: the council sandbox given its awards, the people they name given budgets,
the council connected to its sandbox, and what the ledger must hold after the syncs.

The sandbox is told of its awards through its control API (POST /_sandbox/awards), as a
person trying it adds awards; it keeps its own seeded ones, so it holds `--awards` in all.
"""

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.demo import write_secret
from adapters.sandbox import RunningSandbox
from bench.api import ENDS_ON, STARTS_ON, Partner, run_operator
from bench.errors import BenchError
from bench.history import Check
from bench.progress import say
from service.auth.caller import Caller
from service.auth.models import OAuthClient
from service.budgets.schemas import BudgetIn
from service.budgets.service import create_budget
from service.database import make_engine, make_sessionmaker
from service.domain.vocabulary import Deployment, StreamKind
from service.people.schemas import PersonIn
from service.people.service import create_person
from service.streams.schemas import StreamIn
from service.streams.service import create_stream

FIRST_SERIAL = 200_000  # RC-200000 on: the sandbox's own people are RC-1xxxxx
AWARDS_A_PERSON = (1, 2, 3)  # drawn evenly for each person: two on average
INDICATIVE_SHARE = 0.1  # awaiting the funding panel
# A year's care at £40 to £900 a week, any penny of it (the checks are to the penny).
YEARLY_PENCE = (208_000, 4_680_000)
CHUNK = 5_000  # awards a control request
PEOPLE_A_TRANSACTION = 500
BORN = date(1980, 5, 1)
SCOPES = frozenset({"streams:write", "people:write", "budgets:write"})
STREAM = StreamIn(name="Adult social care", kind=StreamKind.SOCIAL_CARE, unspent="carry_forward")


@dataclass(frozen=True)
class PlannedAward:
    """An award to give the sandbox, as its control API takes it."""

    person_ref: str
    amount: int  # pence
    confirmed: bool

    def as_json(self) -> dict[str, Any]:
        status = "confirmed" if self.confirmed else "indicative"
        return {"person_ref": self.person_ref, "amount": self.amount, "status": status}


def plan_awards(count: int, *, seed: int = 0) -> list[PlannedAward]:
    """`count` awards for people with one to three each, about one in ten indicative."""
    rng = random.Random(seed)
    awards: list[PlannedAward] = []
    serial = FIRST_SERIAL
    while len(awards) < count:
        person_ref = f"RC-{serial}"
        serial += 1
        for _ in range(min(rng.choice(AWARDS_A_PERSON), count - len(awards))):
            amount = rng.randint(*YEARLY_PENCE)
            awards.append(PlannedAward(person_ref, amount, rng.random() >= INDICATIVE_SHARE))
    return awards


@dataclass(frozen=True)
class Truth:
    """What the sandbox says every award is (GET /_sandbox/awards): what the ledger must hold."""

    awards: list[dict[str, Any]]

    @property
    def count(self) -> int:
        return len(self.awards)

    @property
    def people(self) -> list[str]:
        """The people the awards name, in the order first named."""
        return list(dict.fromkeys(award["person_ref"] for award in self.awards))

    def total(self, status: str | None = None) -> tuple[int, int]:
        """(how many, pence) of the awards, or of those of one status."""
        chosen = [a["amount"] for a in self.awards if status in (None, a["status"])]
        return len(chosen), sum(chosen)


async def seed_sandbox(sandbox: RunningSandbox, count: int) -> Truth:
    """Give the sandbox awards until it holds `count` (its seeded ones count); the truth."""
    async with httpx.AsyncClient(base_url=sandbox.url, trust_env=False, timeout=60) as http:
        seeded = len((await http.get("/_sandbox/awards")).json()["items"])
        planned = plan_awards(max(count - seeded, 0))
        for start in range(0, len(planned), CHUNK):
            chunk = [award.as_json() for award in planned[start : start + CHUNK]]
            answer = await http.post("/_sandbox/awards", json={"awards": chunk})
            if answer.status_code != 201:
                raise BenchError(f"the sandbox refused awards: {answer.status_code} {answer.text}")
        truth = Truth((await http.get("/_sandbox/awards")).json()["items"])
    say(
        f"sandbox: {truth.count:,} awards ({seeded} seeded, {len(planned):,} added) for"
        f" {len(truth.people):,} people, £{truth.total()[1] / 100:,.2f} in all"
    )
    return truth


async def open_budgets(database_url: str, partner: Partner, truth: Truth) -> None:
    """The council's stream, and a budget for the year for every person its awards name.

    Through the service functions the API calls, in the bench's process, as the demo loads
    its world: thousands of people through the API would take minutes of the run."""
    engine = make_engine(database_url, pool_size=1)
    sessionmaker = make_sessionmaker(engine)
    people = truth.people
    try:
        async with sessionmaker() as session, session.begin():
            client = await session.scalar(
                select(OAuthClient.id).where(OAuthClient.client_id == partner.client_id)
            )
            assert client is not None, "the client `onebudget clients add` registered"
            council = Caller(client, partner.client_id, uuid.UUID(partner.agency_id), SCOPES)
            await create_stream(session, council, data=STREAM)
        for start in range(0, len(people), PEOPLE_A_TRANSACTION):
            async with sessionmaker() as session, session.begin():
                for reference in people[start : start + PEOPLE_A_TRANSACTION]:
                    await _open_budget(session, council, reference)
            done = min(start + PEOPLE_A_TRANSACTION, len(people))
            say(f"setup: {done:,}/{len(people):,} people and their budgets")
    finally:
        await engine.dispose()


async def _open_budget(session: AsyncSession, council: Caller, reference: str) -> None:
    """A person and their budget for the council's year (the awards' period)."""
    person = await create_person(
        session,
        council,
        data=PersonIn(reference=reference, name=f"Person {reference}", date_of_birth=BORN),
    )
    await create_budget(
        session,
        council,
        data=BudgetIn(
            person_id=person.id,
            starts_on=STARTS_ON,
            ends_on=ENDS_ON,
            currency="GBP",
            deployment=Deployment.DIRECT_PAYMENT,
        ),
    )


def connect_council(
    database_url: str, work_dir: Path, partner: Partner, sandbox: RunningSandbox
) -> None:
    """`onebudget connect`: the council bound to its sandbox, its secrets in a 0600 file."""
    secrets = work_dir / "council-credentials.json"
    write_secret(secrets, sandbox.credentials)
    run_operator(
        database_url,
        work_dir,
        "connect",
        "--agency",
        partner.agency_id,
        "--adapter",
        "council",
        "--url",
        sandbox.url,
        "--credentials",
        str(secrets),
    )
    say(f"setup: council connected to its sandbox at {sandbox.url} with `onebudget connect`")


# The council stream's allocations from awards, and the ledger's transfers for them.
ALLOCATED = """
SELECT count(*) AS allocations, count(DISTINCT a.award_reference) AS references_,
       coalesce(sum(a.amount), 0) AS pence,
       count(*) FILTER (WHERE a.status = 'confirmed') AS confirmed,
       coalesce(sum(a.amount) FILTER (WHERE a.status = 'confirmed'), 0) AS confirmed_pence,
       (SELECT count(*) FROM agency_award) AS agency_awards,
       (SELECT count(*) FROM dead_letter) AS dead_letters
FROM allocation AS a JOIN funding_stream AS s ON s.id = a.stream_id
WHERE s.agency_id = $1 AND a.award_reference IS NOT NULL
"""
MOVED = """
SELECT count(*) AS transfers, coalesce(sum(t.amount), 0) AS pence
FROM transfer AS t JOIN allocation AS a ON a.id = t.reference_id
JOIN funding_stream AS s ON s.id = a.stream_id
WHERE s.agency_id = $1 AND t.code = 'allocation'
"""


async def award_checks(probe: Any, partner: Partner, truth: Truth) -> list[Check]:
    """Each award allocated once, to the penny, and confirmed ones moved into pots once."""
    row = await probe.fetchrow(ALLOCATED, partner.agency_id)
    moved = await probe.fetchrow(MOVED, partner.agency_id)
    count, pence = truth.total()
    confirmed, confirmed_pence = truth.total("confirmed")
    return [
        Check(
            f"{row['allocations']:,} allocations = {count:,} awards, one per reference,"
            f" £{row['pence'] / 100:,.2f} = £{pence / 100:,.2f} (to the penny)",
            row["allocations"] == row["references_"] == row["agency_awards"] == count
            and row["pence"] == pence,
        ),
        Check(
            f"{row['confirmed']:,} confirmed allocations = {confirmed:,} confirmed awards,"
            f" £{row['confirmed_pence'] / 100:,.2f}; {moved['transfers']:,} transfers moved"
            f" £{moved['pence'] / 100:,.2f} into pots",
            row["confirmed"] == moved["transfers"] == confirmed
            and row["confirmed_pence"] == moved["pence"] == confirmed_pence,
        ),
        Check(f"no dead letters ({row['dead_letters']})", row["dead_letters"] == 0),
    ]


def expected_counts(first: dict[str, int], second: dict[str, int], awards: int) -> list[Check]:
    """The first sync created every award, the second found every one unchanged."""
    busy: Sequence[str] = ("created", "adjusted", "confirmed", "dead_lettered")
    return [
        Check(
            f"sync 1: fetched {first['fetched']:,}, created {first['created']:,}",
            first["fetched"] == first["created"] == awards,
        ),
        Check(
            f"sync 2: fetched {second['fetched']:,}, unchanged {second['unchanged']:,},"
            " nothing else",
            second["fetched"] == second["unchanged"] == awards
            and not any(second[name] for name in busy),
        ),
    ]
