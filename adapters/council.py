"""Council social care case system: JSON service agreements behind its own OAuth tokens.

Tokens come from the client credentials grant and are renewed when they expire (by their
`expires_in`, or when a call answers 401). An agreement's `total_net_cost` is the award;
`active` is confirmed, `proposed` indicative, `cancelled` withdrawn.
"""

import json
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

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
from adapters.money import parse_pounds, pounds

STATUSES = {
    "active": AwardStatus.CONFIRMED,
    "proposed": AwardStatus.INDICATIVE,
    "cancelled": AwardStatus.WITHDRAWN,
}
# A token is renewed this long before the council says it expires.
RENEW_EARLY_SECONDS = 5.0


class Agreement(BaseModel):
    """The fields of a service agreement an award needs; the rest is kept in the raw record."""

    model_config = ConfigDict(extra="ignore")

    id: str
    version: int
    status: Literal["active", "proposed", "cancelled"]
    person_ref: str
    delivery_mechanism: Literal[
        "Direct Payment", "CASSR Managed Personal Budget", "CASSR Commissioned Support"
    ]
    start: date
    end: date
    total_net_cost: str
    line_items: list[dict[str, Any]]


def parse_agreement(raw: str) -> AwardRecord:
    """One agreement (its JSON text) as an award; ValueError (or ValidationError) if broken."""
    agreement = Agreement.model_validate_json(raw)
    return AwardRecord(
        reference=agreement.id,
        version=agreement.version,
        person_ref=agreement.person_ref,
        amount=parse_pounds(agreement.total_net_cost),
        status=STATUSES[agreement.status],
        period=(agreement.start, agreement.end),
        raw=raw,
    )


def read(raw: str) -> AwardRecord | ParseFailure:
    """An award, or why the record cannot be one."""
    try:
        return parse_agreement(raw)
    except (ValueError, ValidationError) as exc:
        named = _named(raw)
        return ParseFailure(failure_of(exc), raw, named.get("id"), named.get("version"))


def _named(raw: str) -> dict[str, Any]:
    """The id and version a broken record still gives, if any."""
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    version = document.get("version")
    return {
        "id": document["id"] if isinstance(document.get("id"), str) else None,
        "version": version if isinstance(version, int) else None,
    }


class CouncilAdapter:
    """Reads service agreements; sends direct payment returns."""

    kind: ClassVar[str] = "council"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.http = AgencyHttp(config.url, policy=config.policy)
        self._token: str | None = None
        self._token_expires = 0.0

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """A kept record, read again."""
        return read(raw)

    async def _fetch_token(self) -> None:
        """A new access token by the client credentials grant."""
        credentials = self.config.credentials
        response = await self.http.call(
            "POST",
            credentials.values.get("token_url", "/oauth/token"),
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        answer = response.json()
        self._token = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 60))
        self._token_expires = time.monotonic() + max(0.0, lifetime - RENEW_EARLY_SECONDS)

    async def _auth(self) -> Mapping[str, str]:
        """A live bearer token, renewed when it expired."""
        if self._token is None or time.monotonic() >= self._token_expires:
            await self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _forget_token(self) -> None:
        """The council refused the token (expired early, or revoked): get another."""
        self._token = None

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.call(
            method, path, auth_headers=self._auth, on_unauthorized=self._forget_token, **kwargs
        )
        return response

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """A page of agreements changed after the cursor."""
        params: dict[str, Any] = {"limit": self.config.page_size}
        if cursor:
            params["cursor"] = cursor
        response = await self._call("GET", "/v1/service-agreements", params=params)
        page = response.json()
        items = [read(json.dumps(record, ensure_ascii=False)) for record in page["data"]]
        return AwardPage(items, page.get("next_cursor") or cursor, bool(page.get("has_more")))

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """One direct payment return per report."""
        return [await self._push(report) for report in reports]

    async def _push(self, report: SpendReport) -> DeliveryResult:
        body: dict[str, Any] = {
            "delivery_id": report.delivery_id,
            "person_ref": report.person_ref,
            "lines": [
                {
                    "category": line.category,
                    "date": line.on.isoformat(),
                    "amount": pounds(line.amount),
                    "reason": line.reason,
                    "description": line.description,
                    "payee": line.payee,
                }
                for line in report.lines
            ],
        }
        if report.award_ref:
            body["agreement_id"] = report.award_ref
        response = await self._call("POST", "/v1/direct-payment-returns", json=body, accept=(422,))
        answer = response.json()
        if response.status_code == 422:
            reason = answer.get("error_description") or answer.get("error") or "refused"
            return DeliveryResult(report.delivery_id, DeliveryStatus.REJECTED, reason=reason)
        status = DeliveryStatus.DUPLICATE if answer.get("status") == "duplicate" else None
        return DeliveryResult(
            report.delivery_id, status or DeliveryStatus.ACCEPTED, receipt=answer.get("id")
        )
