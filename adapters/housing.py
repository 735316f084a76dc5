"""Housing authority Disabled Facilities Grants: a CSV export behind HTTP Basic.

The grant (`grant_amount`, pounds with thousands separators) is the award: indicative
once an application is received, confirmed from approval on, withdrawn with the case. An
enquiry has no grant yet, so it is no award. Money is read to integer pence exactly.
"""

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from adapters.base import (
    AdapterConfig,
    AwardPage,
    AwardRecord,
    AwardStatus,
    DeliveryResult,
    DeliveryStatus,
    ParseFailure,
    SpendReport,
)
from adapters.http import AgencyHttp
from adapters.money import parse_pounds, pounds

COLUMNS = (
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
DATES = (
    "enquiry_date",
    "application_date",
    "approval_date",
    "works_start_date",
    "completion_date",
    "paid_date",
)
MONEY = ("works_cost", "contribution", "grant_amount", "interim_paid", "final_paid")
CONFIRMED = ("approved", "works_started", "completed", "paid")
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


def _uk_date(text: str, column: str) -> date | None:
    """DD/MM/YYYY, or None when blank; ValueError naming the column otherwise."""
    if not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), "%d/%m/%Y").date()
    except ValueError:
        raise ValueError(f"{column}: {text!r} is not a date like 31/01/2026") from None


def _money(text: str, column: str) -> int | None:
    """Pounds like 25,000.00 as pence, or None when blank."""
    if not text.strip():
        return None
    try:
        return parse_pounds(text, grouped=True)
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


def _status(case_status: str) -> AwardStatus | None:
    """The award a case's status makes of its grant (None: no award yet)."""
    if case_status in CONFIRMED:
        return AwardStatus.CONFIRMED
    if case_status == "application_received":
        return AwardStatus.INDICATIVE
    if case_status == "withdrawn":
        return AwardStatus.WITHDRAWN
    if case_status == "enquiry":
        return None
    raise ValueError(f"status: {case_status!r} is not a DFG case status")


def parse_row(row: dict[str, str], raw: str) -> AwardRecord | None:
    """One export row as an award (None for an enquiry); ValueError if it is broken."""
    dates = {column: _uk_date(row[column], column) for column in DATES}
    money = {column: _money(row[column], column) for column in MONEY}
    status = _status(row["status"])
    if status is None:
        return None
    grant = money["grant_amount"]
    if grant is None and status is not AwardStatus.WITHDRAWN:
        raise ValueError("grant_amount: blank for a case past its enquiry")
    if not row["person_ref"].strip():
        raise ValueError("person_ref: blank")
    # The day the grant's money starts to be used: works start, else approval, else application.
    day = dates["works_start_date"] or dates["approval_date"] or dates["application_date"]
    return AwardRecord(
        reference=row["case_ref"],
        version=int(row["version"]),
        person_ref=row["person_ref"].strip(),
        amount=grant or 0,
        status=status,
        period=(day, day) if day else None,
        raw=raw,
    )


def _raw(fields: list[str]) -> str:
    """A row with the header, as CSV text that reads alone."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(fields)
    return out.getvalue()


def read(raw: str) -> AwardRecord | ParseFailure | None:
    """An award from a header-and-row CSV text, None for an enquiry, or why it is broken."""
    rows = list(csv.reader(io.StringIO(raw)))
    fields = rows[1] if len(rows) > 1 else []
    reference = fields[1] if len(fields) > 1 else None
    try:
        if len(fields) != len(COLUMNS):
            raise ValueError(f"the row has {len(fields)} fields, not {len(COLUMNS)}")
        row = dict(zip(COLUMNS, fields, strict=True))
        return parse_row(row, raw)
    except (ValueError, KeyError) as exc:
        version = fields[2] if len(fields) > 2 and fields[2].isdigit() else None
        return ParseFailure(str(exc), raw, reference, int(version) if version else None)


class HousingAdapter:
    """Reads the DFG case export; imports spend lines as CSV."""

    kind: ClassVar[str] = "housing"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        credentials = config.credentials
        self.http = AgencyHttp(
            config.url,
            policy=config.policy,
            auth=_basic(credentials["username"], credentials["password"]),
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """A kept record, read again."""
        return read(raw)

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """Cases changed after export sequence `cursor`."""
        params: dict[str, Any] = {"after": cursor or "0", "limit": self.config.page_size}
        response = await self.http.call("GET", "/exports/dfg-cases.csv", params=params)
        rows = list(csv.reader(io.StringIO(response.text)))
        if not rows or tuple(rows[0][: len(COLUMNS)]) != COLUMNS:
            raise ValueError("the export's header row is not the DFG case columns")
        items: list[AwardRecord | ParseFailure] = []
        passed: list[str] = []
        for fields in rows[1:]:
            item = read(_raw(fields))
            if item is None:
                passed.append(fields[1])
            else:
                items.append(item)
        next_after = response.headers.get("x-next-after") or cursor
        more = 'rel="next"' in response.headers.get("link", "")
        return AwardPage(items, next_after, more, tuple(passed))

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """Every line in one CSV import; each report one row (its own delivery)."""
        if not reports:
            return []
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)
        for report in reports:
            (line,) = report.lines  # the sync sends one line a delivery
            writer.writerow(
                [
                    report.delivery_id,
                    report.award_ref or "",
                    report.person_ref,
                    line.category,
                    line.on.strftime("%d/%m/%Y"),
                    pounds(line.amount, grouped=True),
                    line.reason,
                    line.description or "",
                    line.payee or "",
                ]
            )
        response = await self.http.call(
            "POST",
            "/imports/spend-lines",
            content=out.getvalue().encode(),
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        answer = response.json()
        accepted, duplicates = set(answer["accepted"]), set(answer["duplicates"])
        rejected = {r["delivery_id"]: str(r["reason"]) for r in answer["rejected"]}
        results = []
        for report in reports:
            delivery = report.delivery_id
            if delivery in accepted:
                results.append(DeliveryResult(delivery, DeliveryStatus.ACCEPTED))
            elif delivery in duplicates:
                results.append(DeliveryResult(delivery, DeliveryStatus.DUPLICATE))
            else:
                reason = rejected.get(delivery, "the import did not mention this line")
                results.append(DeliveryResult(delivery, DeliveryStatus.REJECTED, reason=reason))
        return results


def _basic(username: str, password: str) -> Any:
    """HTTP Basic auth for httpx."""
    import httpx

    return httpx.BasicAuth(username, password)
