"""Employment support (Access to Work): XML awards with elements and instalments in arrears.

An award lists each element (support worker, travel to work, special aids, …) with what
Access to Work pays and what the employer and the person contribute; refused items with
the reason; and a monthly schedule paid in arrears (April's support is paid by the end of
May). The award is `TotalAward`, the sum of what Access to Work pays. Clients send an API
key; money is written "8000.00"; dates are ISO.
"""

import calendar
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import FastAPI, Request, Response

from adapters.sandbox.base import Sandbox
from adapters.sandbox.inbox import Report, ReportLine
from adapters.sandbox.money import parse_pounds, pounds, split
from adapters.sandbox.people import DANIEL, GRACE, person
from adapters.sandbox.store import AwardStatus, NewAward, Versioned
from adapters.sandbox.wire import Refusal, page_size, sequence_number, utc_iso

NAMESPACE = "urn:onebudget:sandbox:access-to-work:1"
API_KEY = "atw-sandbox-key"
XML = "application/xml"
PERIOD = (date(2026, 4, 1), date(2027, 3, 31))
ELEMENT_TYPES = (
    "special_aids_and_equipment",
    "adaptations",
    "travel_to_work",
    "travel_in_work",
    "support_worker",
    "communication_support",
    "mental_health_support",
    "miscellaneous",
)

ET.register_namespace("", NAMESPACE)


def _q(tag: str) -> str:
    """A tag in the award namespace."""
    return f"{{{NAMESPACE}}}{tag}"


def _month_end(year: int, month: int) -> date:
    """The last day of a month (month may run past 12 into the next year)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True, slots=True)
class Element:
    """One kind of support in an award."""

    type: str
    description: str
    atw_pays: int  # pence
    employer_contribution: int = 0
    personal_contribution: int = 0


@dataclass(frozen=True, slots=True)
class Instalment:
    """A payment on the schedule ("adjustment": a top-up or recovery after a variation)."""

    number: int
    due: date
    amount: int  # pence; negative for a recovery
    kind: str = "instalment"


@dataclass(frozen=True, slots=True)
class Award:
    """An Access to Work award."""

    reference: str
    person_ref: str
    status: str  # awarded, provisional (awaiting review: indicative), withdrawn
    employer: str
    employer_staff: str  # 1-49, 50-249 or 250+: sets the employer's share of equipment costs
    decided_on: date
    elements: tuple[Element, ...]
    instalments: tuple[Instalment, ...]
    refused: tuple[tuple[str, str], ...] = ()  # (element, reason)
    withdrawn_reason: str | None = None
    was_awarded: bool = False  # for a withdrawn award: whether it was paying before

    @property
    def paying(self) -> bool:
        """Whether instalments fall due: not while provisional (nor if withdrawn then)."""
        return self.status == "awarded" or (self.status == "withdrawn" and self.was_awarded)

    def paid(self, instalment: Instalment) -> bool:
        """Whether an instalment has been paid (as of today)."""
        return self.paying and instalment.due < date.today()

    @property
    def total(self) -> int:
        """What Access to Work pays in all, in pence."""
        return sum(element.atw_pays for element in self.elements)


def _schedule(total: int) -> tuple[Instalment, ...]:
    """Twelve monthly instalments in arrears: each month's support paid by the next's end."""
    start = PERIOD[0]
    amounts = split(total, 12)
    return tuple(
        Instalment(n + 1, _month_end(start.year, start.month + n + 1), amount)
        for n, amount in enumerate(amounts)
    )


def _award(
    reference: str,
    person_ref: str,
    status: str,
    *elements: Element,
    employer: str,
    employer_staff: str,
    decided_on: date,
    refused: tuple[tuple[str, str], ...] = (),
) -> Award:
    """An award with its twelve instalments."""
    total = sum(element.atw_pays for element in elements)
    return Award(
        reference,
        person_ref,
        status,
        employer,
        employer_staff,
        decided_on,
        elements,
        _schedule(total),
        refused,
    )


SEED = (
    # Grace: special aids (a 250+ employer pays the first £1,000 and 20% of the rest) and
    # BSL interpreters; an ergonomic chair refused.
    _award(
        "ATW-2026-003988",
        GRACE.reference,
        "awarded",
        Element(
            "special_aids_and_equipment",
            "Screen reader licence and video magnifier (£2,800.00)",
            144_000,
            employer_contribution=136_000,
        ),
        Element("communication_support", "BSL interpreter, 24 sessions", 216_000),
        employer="Riverside NHS Foundation Trust",
        employer_staff="250+",
        decided_on=date(2026, 2, 20),
        refused=(("miscellaneous", "Ergonomic chair: a reasonable adjustment for the employer"),),
    ),
    # Daniel: this year's award, £8,000.
    _award(
        "ATW-2026-004417",
        DANIEL.reference,
        "awarded",
        Element("support_worker", "Support worker at work, 10 hours a week", 494_000),
        Element("travel_to_work", "Taxi to and from work", 306_000),
        employer="Riverside Logistics Ltd",
        employer_staff="250+",
        decided_on=date(2026, 3, 12),
    ),
    # Daniel: a travel uplift, provisional until the yearly review.
    _award(
        "ATW-2026-005102",
        DANIEL.reference,
        "provisional",
        Element("travel_to_work", "Travel uplift: taxis after the office move", 150_000),
        employer="Riverside Logistics Ltd",
        employer_staff="250+",
        decided_on=date(2026, 10, 28),
    ),
)


class EmploymentSandbox(Sandbox[Award]):
    """Access to Work's award system."""

    kind = "employment"
    name = "Access to Work (Riverside) awards"
    receipt_prefix = "ATWC"

    def seed(self) -> Iterable[Award]:
        """Daniel's two awards and a stranger's."""
        return SEED

    def summary(self, record: Award) -> tuple[str, int, AwardStatus]:
        """Awarded is confirmed, provisional indicative."""
        status = {"awarded": AwardStatus.CONFIRMED, "provisional": AwardStatus.INDICATIVE}
        return record.person_ref, record.total, status.get(record.status, AwardStatus.WITHDRAWN)

    def amended(self, record: Award, amount: int) -> Award:
        """Elements scaled to the new total; instalments not yet paid re-split to match."""
        shares = [element.atw_pays * amount // record.total for element in record.elements]
        shares[-1] += amount - sum(shares)
        elements = tuple(
            replace(e, atw_pays=s) for e, s in zip(record.elements, shares, strict=True)
        )
        today = date.today()
        paid = [i for i in record.instalments if record.paid(i)]
        unpaid = [i for i in record.instalments if not record.paid(i)]
        rest = amount - sum(i.amount for i in paid)
        if unpaid and rest >= 0:
            instalments = paid + [
                replace(i, amount=a) for i, a in zip(unpaid, split(rest, len(unpaid)), strict=True)
            ]
        else:
            # Nothing left to re-split, or more paid than now awarded: one adjustment.
            due = _month_end(today.year, today.month + 1)
            number = len(record.instalments) + 1
            instalments = paid + [replace(i, amount=0) for i in unpaid]
            instalments.append(Instalment(number, due, rest, "adjustment"))
        return replace(record, elements=elements, instalments=tuple(instalments))

    def withdrawn(self, record: Award, reason: str) -> Award:
        """Withdrawn: the instalments not yet paid are cancelled."""
        return replace(
            record,
            status="withdrawn",
            withdrawn_reason=reason,
            was_awarded=record.status == "awarded",
        )

    def created(self, award: NewAward, serial: int) -> Award:
        """A support worker award of the amount."""
        return _award(
            f"ATW-2026-{800_000 + serial:06d}",
            award.person_ref,
            "awarded" if award.confirmed else "provisional",
            Element("support_worker", "Support worker", award.amount),
            employer="Riverside Employer Ltd",
            employer_staff="50-249",
            decided_on=date.today(),
        )

    def credentials(self) -> dict[str, str]:
        """The API key, sent as X-API-Key."""
        return {"api_key": API_KEY}

    def error_body(self, status: int, message: str) -> tuple[str, bytes]:
        """<Error status="…">message</Error>."""
        error = ET.Element(_q("Error"), status=str(status))
        error.text = message
        return XML, ET.tostring(error, encoding="utf-8", xml_declaration=True)

    def _authorise(self, request: Request) -> None:
        """Refusal 401 without the API key."""
        if request.headers.get("x-api-key") != API_KEY:
            raise Refusal(401, "send the API key in the X-API-Key header")

    def _instalment_status(self, award: Award, instalment: Instalment) -> str:
        """paid, scheduled, provisional or cancelled, as of today."""
        if award.paid(instalment):
            return "paid"
        return {"awarded": "scheduled", "provisional": "provisional"}.get(award.status, "cancelled")

    def _element(self, entry: Versioned[Award], *, malformed: bool) -> ET.Element:
        """One award as XML."""
        award = entry.record
        node = ET.Element(
            _q("Award"),
            reference=award.reference,
            version=str(entry.version),
            sequence=str(entry.sequence),
            status=award.status,
            updated=utc_iso(entry.updated_at),
        )
        customer = ET.SubElement(node, _q("Customer"))
        who = person(award.person_ref)
        for tag, text in (
            ("PersonRef", who.reference),
            ("NationalInsuranceNumber", who.nino),
            ("Name", who.name),
        ):
            ET.SubElement(customer, _q(tag)).text = text
        ET.SubElement(node, _q("Employer"), name=award.employer, staff=award.employer_staff)
        ET.SubElement(node, _q("DecisionDate")).text = award.decided_on.isoformat()
        period = ET.SubElement(
            node, _q("Period"), start=PERIOD[0].isoformat(), end=PERIOD[1].isoformat()
        )
        elements = ET.SubElement(node, _q("Elements"))
        for element in award.elements:
            item = ET.SubElement(elements, _q("Element"), type=element.type)
            ET.SubElement(item, _q("Description")).text = element.description
            ET.SubElement(item, _q("AtwPays")).text = pounds(element.atw_pays)
            ET.SubElement(item, _q("EmployerContribution")).text = pounds(
                element.employer_contribution
            )
            ET.SubElement(item, _q("PersonalContribution")).text = pounds(
                element.personal_contribution
            )
        if award.refused:
            refused = ET.SubElement(node, _q("Refused"))
            for element_type, reason in award.refused:
                ET.SubElement(refused, _q("Item"), element=element_type, reason=reason)
        total = ET.SubElement(node, _q("TotalAward"), currency="GBP")
        total.text = pounds(award.total)
        schedule = ET.SubElement(node, _q("Schedule"), frequency="monthly", basis="arrears")
        for instalment in award.instalments:
            ET.SubElement(
                schedule,
                _q("Instalment"),
                number=str(instalment.number),
                due=instalment.due.isoformat(),
                amount=pounds(instalment.amount),
                kind=instalment.kind,
                status=self._instalment_status(award, instalment),
            )
        if award.withdrawn_reason:
            ET.SubElement(node, _q("WithdrawnReason")).text = award.withdrawn_reason
        if malformed:
            # Still well-formed XML: one award with words for money, a lost part, a bad date.
            corruption = self.faults.pick(3)
            if corruption == 0:
                total.text = "eight thousand pounds"
            elif corruption == 1:
                node.remove(customer)
            else:
                period.set("start", "2026-13-01")
        return node

    async def awards_page(self, request: Request) -> Response:
        """Awards changed after sequence `after`, oldest change first."""
        self._authorise(request)
        after = sequence_number(request.query_params.get("after"), name="after")
        limit = page_size(request.query_params.get("count"), default=50, maximum=200)
        page = self.store.page(after=after, limit=limit)
        root = ET.Element(
            _q("AwardList"),
            after=str(after),
            nextAfter=str(page.next_after),
            more="true" if page.more else "false",
        )
        for served in self.faults.serve(page.entries, previous=self.store.previous):
            root.append(self._element(served.item, malformed=served.malformed))
        return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), media_type=XML)

    def _claim(self, body: bytes) -> Report:
        """A claim document as a report; ValueError saying what is wrong with it."""
        try:
            root = fromstring(body, forbid_dtd=True)
        except (ET.ParseError, DefusedXmlException) as exc:
            raise ValueError(f"the claim is not well-formed XML: {exc}") from None
        if root.tag != _q("Claim"):
            raise ValueError(f"expected a <Claim> in the namespace {NAMESPACE}, not {root.tag}")
        lines = []
        for number, line in enumerate(root.findall(_q("Line")), start=1):
            try:
                lines.append(
                    ReportLine(
                        line.get("category", ""),
                        date.fromisoformat(line.get("date", "")),
                        parse_pounds(line.get("amount", "")),
                        line.findtext(_q("Reason"), ""),
                        line.findtext(_q("Description")),
                        line.findtext(_q("Payee")),
                    )
                )
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
        return Report(
            root.get("deliveryId", ""),
            root.findtext(_q("PersonRef"), ""),
            tuple(lines),
            root.get("awardReference"),
        )

    async def claim(self, request: Request) -> Response:
        """Receive a claim; the same deliveryId again is answered, not recorded twice."""
        self._authorise(request)
        try:
            received, new = self.inbox.accept(self._claim(await request.body()))
        except ValueError as exc:
            raise Refusal(400, str(exc)) from None
        receipt = ET.Element(
            _q("ClaimReceipt"),
            claimId=received.receipt,
            deliveryId=received.report.delivery_id,
            status="accepted" if new else "duplicate",
            received=utc_iso(received.received_at),
        )
        return Response(
            ET.tostring(receipt, encoding="utf-8", xml_declaration=True),
            201 if new else 200,
            media_type=XML,
        )

    def routes(self, app: FastAPI) -> None:
        """Awards and claims."""
        app.add_api_route("/api/v1/awards", self.awards_page, methods=["GET"])
        app.add_api_route("/api/v1/claims", self.claim, methods=["POST"])
