"""Housing authority Disabled Facilities Grants: a CSV export of cases, behind HTTP Basic.

A case moves enquiry → application_received → approved → works_started → completed →
paid (or withdrawn). The grant is the cost of the works up to the £30,000 cap, less the
person's means-tested contribution; it is proposed (indicative) once the application is
in, confirmed from approval on, and paid to the contractor as interim (up to 90%) and
final payments. Money is written as spreadsheets show it, "25,000.00"; dates DD/MM/YYYY.
"""

import base64
import binascii
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from adapters.sandbox.base import Sandbox
from adapters.sandbox.inbox import Report, ReportLine
from adapters.sandbox.money import parse_pounds, pounds
from adapters.sandbox.people import AMIRA, MARGARET, PETER, SOPHIE, TOMASZ, person
from adapters.sandbox.store import AwardStatus, NewAward, RefusedChange, Versioned
from adapters.sandbox.wire import Refusal, page_size, sequence_number, utc_iso

USERNAME = "onebudget"
PASSWORD = "housing-sandbox-password"
REALM = "riverside-housing-exports"
CAP = 3_000_000  # £30,000 in England
CONFIRMED_STATES = ("approved", "works_started", "completed", "paid")
CASE_COLUMNS = (
    "export_sequence",
    "case_ref",
    "version",
    "updated_at",
    "person_ref",
    "applicant_name",
    "tenure",
    "status",
    "enquiry_date",
    "application_date",
    "approval_date",
    "works_start_date",
    "completion_date",
    "paid_date",
    "works_description",
    "works_cost",
    "contribution",
    "grant_amount",
    "capped",
    "interim_paid",
    "final_paid",
    "contractor",
    "withdrawn_reason",
)
REPORT_COLUMNS = (
    "delivery_id",
    "case_ref",
    "person_ref",
    "category",
    "date",
    "amount",
    "reason",
    "description",
    "payee",
)


def uk_date(day: date | None) -> str:
    """A date as DD/MM/YYYY ("" for none)."""
    return day.strftime("%d/%m/%Y") if day else ""


def parse_uk_date(text: str) -> date:
    """DD/MM/YYYY as a date; ValueError otherwise."""
    return datetime.strptime(text.strip(), "%d/%m/%Y").date()


def _money(pence: int | None) -> str:
    """Pence as the export writes them ("" for none)."""
    return "" if pence is None else pounds(pence, grouped=True)


@dataclass(frozen=True, slots=True)
class Case:
    """A Disabled Facilities Grant case."""

    reference: str
    person_ref: str
    tenure: str
    status: str
    works_description: str
    works_cost: int | None = None  # pence; None until the works are quoted
    contribution: int | None = None  # pence; None until the means test is done
    enquiry_date: date | None = None
    application_date: date | None = None
    approval_date: date | None = None
    works_start_date: date | None = None
    completion_date: date | None = None
    paid_date: date | None = None
    interim_paid: int | None = None
    final_paid: int | None = None
    contractor: str | None = None
    withdrawn_reason: str | None = None

    @property
    def grant(self) -> int | None:
        """The works up to the cap, less the contribution (None until both are known)."""
        if self.works_cost is None or self.contribution is None:
            return None
        return max(0, min(self.works_cost, CAP) - self.contribution)


SEED = (
    # £30,000 of works less a £5,000 contribution; the shower room paid as an interim payment.
    Case(
        "DFG-2025-0147",
        AMIRA.reference,
        "owner",
        "works_started",
        "Level-access shower room and ground-floor bedroom extension",
        works_cost=3_000_000,
        contribution=500_000,
        enquiry_date=date(2025, 9, 2),
        application_date=date(2025, 11, 17),
        approval_date=date(2026, 3, 20),
        works_start_date=date(2026, 6, 15),
        interim_paid=850_000,
        contractor="Able Adaptations Ltd",
    ),
    # Over the cap: the grant shows £30,000, paid 90% interim and the rest on completion.
    Case(
        "DFG-2025-0098",
        TOMASZ.reference,
        "owner",
        "paid",
        "Through-floor lift",
        works_cost=4_250_000,
        contribution=0,
        enquiry_date=date(2025, 3, 11),
        application_date=date(2025, 5, 2),
        approval_date=date(2025, 8, 29),
        works_start_date=date(2025, 11, 3),
        completion_date=date(2026, 1, 16),
        paid_date=date(2026, 2, 6),
        interim_paid=2_700_000,
        final_paid=300_000,
        contractor="Lift & Access Solutions Ltd",
    ),
    Case(
        "DFG-2026-0019",
        PETER.reference,
        "tenant (housing association)",
        "approved",
        "Ramp and widened doorways",
        works_cost=985_000,
        contribution=124_000,
        enquiry_date=date(2026, 1, 13),
        application_date=date(2026, 3, 4),
        approval_date=date(2026, 6, 30),
        contractor="Riverside Building Services",
    ),
    # Being decided: the proposed grant is indicative. On pension credit: no contribution.
    Case(
        "DFG-2026-0032",
        MARGARET.reference,
        "owner",
        "application_received",
        "Stairlift (straight)",
        works_cost=650_000,
        contribution=0,
        enquiry_date=date(2026, 8, 4),
        application_date=date(2026, 10, 12),
    ),
    Case(
        "DFG-2026-0051",
        SOPHIE.reference,
        "tenant (private)",
        "enquiry",
        "Accessible kitchen (to be assessed)",
        enquiry_date=date(2026, 11, 2),
    ),
)


class HousingSandbox(Sandbox[Case]):
    """Riverside Housing Authority's Disabled Facilities Grant case system."""

    kind = "housing"
    name = "Riverside Housing Authority Disabled Facilities Grants"
    receipt_prefix = "DFGR"

    def seed(self) -> Iterable[Case]:
        """Two demo people's cases and three strangers'."""
        return SEED

    def summary(self, record: Case) -> tuple[str, int, AwardStatus] | None:
        """No award at enquiry; indicative once applied for; confirmed from approval on."""
        grant = record.grant
        if grant is None:
            return None
        if record.status == "withdrawn":
            status = AwardStatus.WITHDRAWN
        elif record.status in CONFIRMED_STATES:
            status = AwardStatus.CONFIRMED
        else:
            status = AwardStatus.INDICATIVE
        return record.person_ref, grant, status

    def amended(self, record: Case, amount: int) -> Case:
        """A varied specification: works costed at the new grant plus the contribution."""
        contribution = record.contribution or 0
        if amount + contribution > CAP:
            raise RefusedChange(
                f"a grant of {pounds(amount, grouped=True)} with a contribution of "
                f"{pounds(contribution, grouped=True)} is over the £30,000 cap"
            )
        return replace(record, works_cost=amount + contribution)

    def withdrawn(self, record: Case, reason: str) -> Case:
        """The application withdrawn."""
        return replace(record, status="withdrawn", withdrawn_reason=reason)

    def created(self, award: NewAward, serial: int) -> Case:
        """An approved (or applied-for) grant, no contribution; RefusedChange over the cap."""
        if award.amount > CAP:
            raise RefusedChange(f"{pounds(award.amount, grouped=True)} is over the £30,000 cap")
        today = date.today()
        return Case(
            f"DFG-2026-{5000 + serial:04d}",
            award.person_ref,
            "owner",
            "approved" if award.confirmed else "application_received",
            "Adaptations",
            works_cost=award.amount,
            contribution=0,
            enquiry_date=today,
            application_date=today,
            approval_date=today if award.confirmed else None,
        )

    def credentials(self) -> dict[str, str]:
        """HTTP Basic credentials of the export account."""
        return {"username": USERNAME, "password": PASSWORD}

    def error_body(self, status: int, message: str) -> tuple[str, bytes]:
        """Plain text errors."""
        return "text/plain; charset=utf-8", f"{status} {message}\n".encode()

    def _authorise(self, request: Request) -> None:
        """Refusal 401 unless the request carries the export account's Basic credentials."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if scheme.lower() != "basic" or given != f"{USERNAME}:{PASSWORD}":
            raise Refusal(
                401,
                "sign in with the export account (HTTP Basic)",
                {"www-authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )

    def _row(self, entry: Versioned[Case], *, malformed: bool) -> list[str]:
        """A case as one export row."""
        case = entry.record
        grant = case.grant
        row = {
            "export_sequence": str(entry.sequence),
            "case_ref": case.reference,
            "version": str(entry.version),
            "updated_at": utc_iso(entry.updated_at),
            "person_ref": case.person_ref,
            "applicant_name": person(case.person_ref).name,
            "tenure": case.tenure,
            "status": case.status,
            "enquiry_date": uk_date(case.enquiry_date),
            "application_date": uk_date(case.application_date),
            "approval_date": uk_date(case.approval_date),
            "works_start_date": uk_date(case.works_start_date),
            "completion_date": uk_date(case.completion_date),
            "paid_date": uk_date(case.paid_date),
            "works_description": case.works_description,
            "works_cost": _money(case.works_cost),
            "contribution": _money(case.contribution),
            "grant_amount": _money(grant),
            "capped": "" if grant is None else "Y" if (case.works_cost or 0) > CAP else "N",
            "interim_paid": _money(case.interim_paid),
            "final_paid": _money(case.final_paid),
            "contractor": case.contractor or "",
            "withdrawn_reason": case.withdrawn_reason or "",
        }
        values = [row[column] for column in CASE_COLUMNS]
        if malformed:
            # What hand-kept spreadsheets do: words for money, impossible dates, cut rows.
            corruption = self.faults.pick(3)
            if corruption == 0:
                values[CASE_COLUMNS.index("grant_amount")] = "TBC"
            elif corruption == 1:
                values[CASE_COLUMNS.index("approval_date")] = "31/02/2026"
                values[CASE_COLUMNS.index("works_cost")] = "£30k approx"
            else:
                values = values[: CASE_COLUMNS.index("works_cost")]
        return values

    async def export(self, request: Request) -> Response:
        """Cases changed after export sequence `after`, oldest change first, as CSV."""
        self._authorise(request)
        after = sequence_number(request.query_params.get("after"), name="after")
        limit = page_size(request.query_params.get("limit"), default=200, maximum=1000)
        page = self.store.page(after=after, limit=limit)
        out = io.StringIO()
        writer = csv.writer(out)  # RFC 4180: CRLF line ends, fields quoted where needed
        writer.writerow(CASE_COLUMNS)
        for served in self.faults.serve(page.entries, previous=self.store.previous):
            writer.writerow(self._row(served.item, malformed=served.malformed))
        headers = {
            "x-next-after": str(page.next_after),
            "content-disposition": 'attachment; filename="dfg-cases.csv"',
        }
        if page.more:
            following = request.url.include_query_params(after=page.next_after, limit=limit)
            headers["link"] = f'<{following}>; rel="next"'
        return Response(out.getvalue(), headers=headers, media_type="text/csv; charset=utf-8")

    async def import_spend_lines(self, request: Request) -> JSONResponse:
        """Spend lines as CSV, one delivery a row; a delivery_id seen before is a duplicate."""
        self._authorise(request)
        if not request.headers.get("content-type", "").startswith("text/csv"):
            raise Refusal(415, "send the spend lines as text/csv")
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refusal(400, "the file is not UTF-8") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REPORT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise Refusal(400, f"the header row lacks the columns {', '.join(missing)}")
        accepted: list[str] = []
        duplicates: list[str] = []
        rejected: list[dict[str, object]] = []
        for row in reader:
            delivery_id = row.get("delivery_id") or ""
            try:
                if None in row.values() or None in row:
                    raise ValueError("the row does not have one field per column")
                report = Report(
                    delivery_id,
                    row["person_ref"],
                    (
                        ReportLine(
                            row["category"],
                            parse_uk_date(row["date"]),
                            parse_pounds(row["amount"], grouped=True),
                            row["reason"],
                            row["description"] or None,
                            row["payee"] or None,
                        ),
                    ),
                    row["case_ref"] or None,
                )
                _, new = self.inbox.accept(report)
            except ValueError as exc:
                rejected.append(
                    {"line": reader.line_num, "delivery_id": delivery_id, "reason": str(exc)}
                )
                continue
            (accepted if new else duplicates).append(delivery_id)
        return JSONResponse({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})

    def routes(self, app: FastAPI) -> None:
        """The case export and the spend line import."""
        app.add_api_route("/exports/dfg-cases.csv", self.export, methods=["GET"])
        app.add_api_route("/imports/spend-lines", self.import_spend_lines, methods=["POST"])
