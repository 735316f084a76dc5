"""Employment support (Access to Work): XML awards paid in instalments, read with defusedxml.

`TotalAward` is the award (`awarded` confirmed, `provisional` indicative, `withdrawn`); the
schedule's instalments must add up to it, or the record is set aside. Claims go back as XML.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

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

NAMESPACE = "urn:onebudget:sandbox:access-to-work:1"
STATUSES = {
    "awarded": AwardStatus.CONFIRMED,
    "provisional": AwardStatus.INDICATIVE,
    "withdrawn": AwardStatus.WITHDRAWN,
}


def _q(tag: str) -> str:
    """A tag in the Access to Work namespace."""
    return f"{{{NAMESPACE}}}{tag}"


@dataclass(frozen=True, slots=True)
class Instalment:
    """One payment of an award's schedule (negative: a recovery after a variation)."""

    number: int
    due: date
    amount: int
    kind: str
    status: str


def _xml(text: str | bytes) -> ET.Element:
    """A document parsed safely: no DTDs, entities or external references."""
    try:
        return fromstring(text, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None


def _need(node: ET.Element, tag: str) -> ET.Element:
    found = node.find(_q(tag))
    if found is None:
        raise ValueError(f"<{tag}> is missing")
    return found


def _day(text: str | None, where: str) -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a date like 2026-04-01") from None


def instalments(award: ET.Element) -> list[Instalment]:
    """The award's schedule."""
    return [
        Instalment(
            int(item.get("number", "0")),
            _day(item.get("due"), "Instalment due"),
            parse_pounds(item.get("amount", "")),
            item.get("kind", "instalment"),
            item.get("status", ""),
        )
        for item in _need(award, "Schedule").findall(_q("Instalment"))
    ]


def parse_award(node: ET.Element, raw: str) -> AwardRecord:
    """One <Award> as an award; ValueError saying what is wrong with it."""
    status = node.get("status", "")
    if status not in STATUSES:
        raise ValueError(f"status: {status!r} is not awarded, provisional or withdrawn")
    person_ref = (_need(_need(node, "Customer"), "PersonRef").text or "").strip()
    if not person_ref:
        raise ValueError("Customer/PersonRef is blank")
    period = _need(node, "Period")
    start, end = _day(period.get("start"), "Period start"), _day(period.get("end"), "Period end")
    total = _need(node, "TotalAward")
    if total.get("currency", "GBP") != "GBP":
        raise ValueError(f"TotalAward is in {total.get('currency')}, not GBP")
    amount = parse_pounds(total.text or "")
    scheduled = sum(instalment.amount for instalment in instalments(node))
    if scheduled != amount:
        raise ValueError(
            f"the instalments add up to {pounds(scheduled)}, not the {pounds(amount)} awarded"
        )
    return AwardRecord(
        reference=node.get("reference", ""),
        version=int(node.get("version", "")),
        person_ref=person_ref,
        amount=amount,
        status=STATUSES[status],
        period=(start, end),
        raw=raw,
    )


def _read_node(node: ET.Element) -> AwardRecord | ParseFailure:
    raw = ET.tostring(node, encoding="unicode")
    try:
        return parse_award(node, raw)
    except ValueError as exc:
        version = node.get("version", "")
        return ParseFailure(
            str(exc),
            raw,
            node.get("reference"),
            int(version) if version.isdigit() else None,
        )


def read(raw: str) -> AwardRecord | ParseFailure:
    """An award from one kept <Award> element, or why it is broken."""
    try:
        return _read_node(_xml(raw))
    except ValueError as exc:
        return ParseFailure(str(exc), raw)


class EmploymentAdapter:
    """Reads Access to Work awards; sends claims."""

    kind: ClassVar[str] = "employment"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.http = AgencyHttp(
            config.url, policy=config.policy, headers={"X-API-Key": config.credentials["api_key"]}
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """A kept record, read again."""
        return read(raw)

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """Awards changed after sequence `cursor`."""
        params: dict[str, Any] = {"after": cursor or "0", "count": self.config.page_size}
        response = await self.http.call("GET", "/api/v1/awards", params=params)
        root = _xml(response.content)
        if root.tag != _q("AwardList"):
            raise ValueError(f"expected an <AwardList>, not {root.tag}")
        items = [_read_node(node) for node in root.findall(_q("Award"))]
        return AwardPage(items, root.get("nextAfter") or cursor, root.get("more") == "true")

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """One claim per report."""
        return [await self._claim(report) for report in reports]

    async def _claim(self, report: SpendReport) -> DeliveryResult:
        claim = ET.Element(_q("Claim"), deliveryId=report.delivery_id)
        if report.award_ref:
            claim.set("awardReference", report.award_ref)
        ET.SubElement(claim, _q("PersonRef")).text = report.person_ref
        for line in report.lines:
            node = ET.SubElement(
                claim,
                _q("Line"),
                category=line.category,
                date=line.on.isoformat(),
                amount=pounds(line.amount),
            )
            ET.SubElement(node, _q("Reason")).text = line.reason
            if line.description:
                ET.SubElement(node, _q("Description")).text = line.description
            if line.payee:
                ET.SubElement(node, _q("Payee")).text = line.payee
        response = await self.http.call(
            "POST",
            "/api/v1/claims",
            content=ET.tostring(claim, encoding="utf-8", xml_declaration=True),
            headers={"Content-Type": "application/xml"},
            accept=(400,),
        )
        answer = _xml(response.content)
        if response.status_code == 400:
            reason = (answer.text or "refused").strip()
            return DeliveryResult(report.delivery_id, DeliveryStatus.REJECTED, reason=reason)
        status = DeliveryStatus(answer.get("status", "accepted"))
        return DeliveryResult(report.delivery_id, status, receipt=answer.get("claimId"))
