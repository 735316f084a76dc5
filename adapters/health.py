"""NHS personal health budgets: FHIR R4 resources, read and written with fhir.resources.

A ChargeItem is one plan line: the award (`planned` indicative, `billable`/`billed`
confirmed, `aborted` withdrawn), `priceOverride` the amount in pounds. Its subject is a
Patient whose council person reference is one of its identifiers. The package's R4B models
are used, as the sandbox does (R4B changed none of these resources). The cursor is the
latest `meta.lastUpdated` seen: `ChargeItem?_lastUpdated=gt<it>` is what changed since.
Spend lines go back as Invoices, created once per delivery identifier (If-None-Exist).
"""

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.invoice import Invoice
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

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
from adapters.http import AgencyHttp, Refused
from adapters.money import as_pounds, pence_of

PERSON_REF = "https://riverside-council.example/Id/person-ref"
PLAN_LINE = "https://riverside-icb.example/Id/phb-plan-line"
DELIVERY = "https://onebudget.example/Id/delivery"
CATEGORY = "https://onebudget.example/CodeSystem/spend-category"
STATUSES = {
    "planned": AwardStatus.INDICATIVE,
    "billable": AwardStatus.CONFIRMED,
    "billed": AwardStatus.CONFIRMED,
    "aborted": AwardStatus.WITHDRAWN,
    "entered-in-error": AwardStatus.WITHDRAWN,
}
FHIR_JSON = "application/fhir+json"


def person_ref_of(patient: Patient) -> str | None:
    """The council's person reference among a Patient's identifiers."""
    return next(
        (i.value for i in patient.identifier or [] if i.system == PERSON_REF and i.value), None
    )


def parse_charge_item(raw: str, patients: dict[str, str]) -> AwardRecord:
    """One ChargeItem (its JSON) as an award, its subject found in `patients` (Patient
    reference to person reference); ValueError or ValidationError if it cannot be one."""
    item = ChargeItem.model_validate_json(raw)
    reference = next(
        (i.value for i in item.identifier or [] if i.system == PLAN_LINE and i.value), None
    )
    if reference is None:
        raise ValueError(f"no identifier with system {PLAN_LINE}")
    if item.status not in STATUSES:
        raise ValueError(f"status {item.status!r} says nothing of the award")
    if item.meta is None or item.meta.versionId is None or not str(item.meta.versionId).isdigit():
        raise ValueError("meta.versionId is missing or not a number")
    price = item.priceOverride
    if price is None or price.value is None or price.currency != "GBP":
        raise ValueError("priceOverride must be an amount in GBP")
    subject = item.subject.reference if item.subject else None
    if subject not in patients:
        raise ValueError(f"the subject {subject!r} is not a Patient read from this server")
    period = item.occurrencePeriod
    if period is None or period.start is None or period.end is None:
        raise ValueError("occurrencePeriod needs a start and an end")
    return AwardRecord(
        reference=reference,
        version=int(str(item.meta.versionId)),
        person_ref=patients[subject],
        amount=pence_of(price.value),
        status=STATUSES[item.status],
        period=(_day(period.start), _day(period.end)),
        raw=raw,
    )


def _day(value: Any) -> Any:
    """A FHIR date or dateTime as a date."""
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def _named(raw: str) -> tuple[str | None, int | None, str | None]:
    """(award reference, version, lastUpdated) of a ChargeItem, as far as it reads as JSON."""
    try:
        resource = json.loads(raw)
    except ValueError:
        return None, None, None
    if not isinstance(resource, dict):
        return None, None, None
    reference = next(
        (
            i.get("value")
            for i in resource.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == PLAN_LINE
        ),
        None,
    )
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    version = str(meta.get("versionId", ""))
    updated = meta.get("lastUpdated")
    return (
        reference if isinstance(reference, str) else None,
        int(version) if version.isdigit() else None,
        updated if isinstance(updated, str) else None,
    )


class HealthAdapter:
    """Reads plan lines (ChargeItems); reports spend lines as Invoices."""

    kind: ClassVar[str] = "health"

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        base = config.url.rstrip("/") + config.credentials.values.get("fhir_base", "/fhir")
        self.http = AgencyHttp(
            base,
            policy=config.policy,
            headers={
                "Authorization": f"Bearer {config.credentials['bearer_token']}",
                "Accept": FHIR_JSON,
            },
        )
        self.patients: dict[str, str] = {}  # "Patient/id" -> person reference
        self.patient_ids: dict[str, str | None] = {}  # person reference -> "Patient/id"

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    def read(self, raw: str) -> AwardRecord | ParseFailure | None:
        """A kept ChargeItem, read again (its Patient must have been read by this adapter)."""
        try:
            return parse_charge_item(raw, self.patients)
        except (ValueError, ValidationError) as exc:
            reference, version, _ = _named(raw)
            return ParseFailure(failure_of(exc), raw, reference, version)

    async def _search(
        self, path: str, params: dict[str, Any]
    ) -> tuple[Bundle, list[dict[str, Any]]]:
        """A searchset Bundle's envelope, validated, and its entries' resources as JSON:
        each entry is validated on its own, so one broken resource is set aside alone."""
        response = await self.http.call("GET", path, params=params)
        bundle = response.json()
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise ValueError(f"{path} did not answer a Bundle")
        entries = bundle.pop("entry", None) or []
        resources = [e.get("resource") for e in entries if isinstance(e, dict)]
        return Bundle.model_validate(bundle), [r for r in resources if isinstance(r, dict)]

    async def _learn_patients(self, references: set[str]) -> None:
        """Read the Patients not known yet: their council person references."""
        for reference in sorted(references - set(self.patients)):
            if not reference.startswith("Patient/"):
                continue
            try:
                response = await self.http.call("GET", f"/{reference}")
            except Refused as exc:
                if exc.status == 404:
                    continue  # its ChargeItems are set aside: the subject is no Patient here
                raise
            patient = Patient.model_validate_json(response.content)
            person = person_ref_of(patient)
            if person is not None:
                self.patients[reference] = person
                self.patient_ids[person] = reference

    async def fetch_awards(self, cursor: str | None) -> AwardPage:
        """ChargeItems changed after the cursor (the latest lastUpdated seen)."""
        params: dict[str, Any] = {"_count": self.config.page_size}
        if cursor:
            params["_lastUpdated"] = f"gt{cursor}"
        bundle, resources = await self._search("/ChargeItem", params)
        raws = [json.dumps(resource, ensure_ascii=False) for resource in resources]
        subjects = {
            subject["reference"]
            for resource in resources
            if isinstance(subject := resource.get("subject"), dict)
            and isinstance(subject.get("reference"), str)
        }
        await self._learn_patients(subjects)
        latest = max((u for raw in raws if (u := _named(raw)[2]) is not None), default=cursor)
        more = any(link.relation == "next" for link in bundle.link or [])
        items = [item for raw in raws if (item := self.read(raw)) is not None]
        return AwardPage(items, latest, more)

    async def _patient_for(self, person_ref: str) -> str | None:
        """The Patient reference for a council person reference (None: not the ICB's)."""
        if person_ref not in self.patient_ids:
            query = {"identifier": f"{PERSON_REF}|{person_ref}"}
            _, resources = await self._search("/Patient", query)
            found = [Patient.model_validate(resource) for resource in resources]
            self.patient_ids[person_ref] = f"Patient/{found[0].id}" if len(found) == 1 else None
        return self.patient_ids[person_ref]

    async def push_spends(self, reports: Sequence[SpendReport]) -> list[DeliveryResult]:
        """One Invoice per report, created once per delivery identifier."""
        return [await self._invoice(report) for report in reports]

    async def _invoice(self, report: SpendReport) -> DeliveryResult:
        patient = await self._patient_for(report.person_ref)
        if patient is None:
            reason = f"the ICB has no Patient with person reference {report.person_ref}"
            return DeliveryResult(report.delivery_id, DeliveryStatus.REJECTED, reason=reason)
        first = report.lines[0]
        invoice = Invoice.model_validate(
            {
                "resourceType": "Invoice",
                "status": "issued",
                "identifier": [{"system": DELIVERY, "value": report.delivery_id}],
                "subject": {"reference": patient},
                "date": first.on.isoformat(),
                "participant": [{"role": {"text": "payee"}, "actor": {"display": first.payee}}]
                if first.payee
                else None,
                "lineItem": [
                    {
                        "sequence": number,
                        "chargeItemCodeableConcept": {
                            "coding": [{"system": CATEGORY, "code": line.category}],
                            "text": line.description,
                        },
                        "priceComponent": [
                            {
                                "type": "base",
                                "code": {"text": line.reason},
                                "amount": {"value": as_pounds(line.amount), "currency": "GBP"},
                            }
                        ],
                    }
                    for number, line in enumerate(report.lines, start=1)
                ],
            }
        )
        response = await self.http.call(
            "POST",
            "/Invoice",
            content=invoice.model_dump_json(exclude_none=True),
            headers={
                "Content-Type": FHIR_JSON,
                "If-None-Exist": f"identifier={DELIVERY}|{report.delivery_id}",
            },
            accept=(400, 422),
        )
        answer = response.json()
        if response.status_code in (400, 422):
            issues = answer.get("issue") or [{}]
            reason = str(issues[0].get("diagnostics") or "refused")
            return DeliveryResult(report.delivery_id, DeliveryStatus.REJECTED, reason=reason)
        status = (
            DeliveryStatus.ACCEPTED if response.status_code == 201 else DeliveryStatus.DUPLICATE
        )
        return DeliveryResult(report.delivery_id, status, receipt=answer.get("id"))
