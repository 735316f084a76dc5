"""Community equipment service: loans told as events, pushed as Standard Webhooks and listed
for whoever missed some. Each loan is an award of its net cost (unit cost less credits):
confirmed while out, withdrawn once back and credited in full.

Webhooks arrive at onebudget's inbound route (adapters.inbound), verified with
`standardwebhooks` and de-duplicated by webhook-id; a sync reads the event list too, so
an event whose webhook was lost still arrives. Spend lines go back as signed webhooks
whose webhook-id is the delivery id.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError
from standardwebhooks import Webhook

from adapters.base import (
    AdapterConfig,
    AwardPage,
    AwardRecord,
    AwardStatus,
    DeliveryResult,
    DeliveryStatus,
    ParseFailure,
    SpendReport,
    failure_of,
)
from adapters.http import AgencyHttp

BACK = ("collected", "recycled")


class LoanData(BaseModel):
    """The `data` of an equipment event: what an award needs from it."""

    model_config = ConfigDict(extra="ignore")

    loan_ref: str
    version: StrictInt
    person_ref: str
    status: Literal["on_loan", "collected", "recycled", "written_off"]
    unit_cost_pence: StrictInt
    credit_amount_pence: StrictInt
    net_cost_pence: StrictInt
    issued_on: date


class EquipmentEvent(BaseModel):
    """An event: a webhook body, or an item of the event list (with its id and sequence)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    data: LoanData


def parse_event(raw: str) -> AwardRecord:
    """One event (its JSON text) as the award of its loan; ValueError if broken."""
    data = EquipmentEvent.model_validate_json(raw).data
    net = data.unit_cost_pence - data.credit_amount_pence
    if net != data.net_cost_pence or net < 0:
        raise ValueError(
            f"net_cost_pence {data.net_cost_pence} is not the unit cost"
            f" {data.unit_cost_pence} less the credit {data.credit_amount_pence}"
        )
    back = data.status in BACK and net == 0
    return AwardRecord(
        reference=data.loan_ref,
        version=data.version,
        person_ref=data.person_ref,
        amount=net,
        status=AwardStatus.WITHDRAWN if back else AwardStatus.CONFIRMED,
        period=(data.issued_on, data.issued_on),
        raw=raw,
    )


def read(raw: str) -> AwardRecord | ParseFailure:
    """An award from one event, or why the event cannot be one."""
    try:
        return parse_event(raw)
    except (ValueError, ValidationError) as exc:
        reference, version = _named(raw)
        return ParseFailure(failure_of(exc), raw, reference, version)


def _named(raw: str) -> tuple[str | None, int | None]:
    """The loan and version a broken event still gives, if any."""
    try:
        data = json.loads(raw).get("data")
    except (ValueError, AttributeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    reference, version = data.get("loan_ref"), data.get("version")
    return (
        reference if isinstance(reference, str) else None,
        version if isinstance(version, int) else None,
    )


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check a webhook's Standard Webhooks signature; WebhookVerificationError if it fails."""
    Webhook(secret).verify(body, dict(headers), json_parse=False)


class EquipmentAdapter:
    """Reads the event list; reports spend lines as signed webhooks."""

    kind: ClassVar[str] = "equipment"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.http = AgencyHttp(
            config.url,
            policy=config.policy,
            headers={"Authorization": f"Bearer {config.credentials['api_key']}"},
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """A kept event, read again."""
        return read(raw)

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """Events after sequence `cursor`, as the awards of their loans."""
        params: dict[str, Any] = {"after": cursor or "0", "limit": self.config.page_size}
        response = await self.http.call("GET", "/v1/events", params=params)
        page = response.json()
        items = [read(json.dumps(event, ensure_ascii=False)) for event in page["data"]]
        return AwardPage(items, str(page.get("next_after", cursor or "0")), bool(page["has_more"]))

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """One signed spend.posted webhook per report."""
        return [await self._push(report) for report in reports]

    async def _push(self, report: SpendReport) -> DeliveryResult:
        body = json.dumps(
            {
                "type": "spend.posted",
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "data": {
                    "person_ref": report.person_ref,
                    "loan_ref": report.award_ref,
                    "lines": [
                        {
                            "category": line.category,
                            "date": line.on.isoformat(),
                            "amount_pence": line.amount,
                            "reason": line.reason,
                            "description": line.description,
                            "payee": line.payee,
                        }
                        for line in report.lines
                    ],
                },
            }
        )
        signer = Webhook(self.config.credentials["inbound_webhook_secret"])

        async def signed() -> dict[str, str]:
            """Signed anew for each attempt: the agency refuses stale timestamps."""
            now = datetime.now(UTC)
            return {
                "webhook-id": report.delivery_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(report.delivery_id, now, body),
            }

        response = await self.http.call(
            "POST",
            "/v1/inbound-webhooks",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
            auth_headers=signed,
            accept=(400,),
        )
        if response.status_code == 400:
            reason = response.json().get("error") or response.text[:200]
            return DeliveryResult(report.delivery_id, DeliveryStatus.REJECTED, reason=str(reason))
        answer = response.json()
        status = DeliveryStatus.DUPLICATE if answer.get("status") == "duplicate" else None
        return DeliveryResult(
            report.delivery_id, status or DeliveryStatus.ACCEPTED, receipt=answer.get("id")
        )
