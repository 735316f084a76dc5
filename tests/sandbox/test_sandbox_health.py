"""The NHS sandbox: a FHIR R4 API, read with fhir.resources; Invoices created once."""

from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.invoice import Invoice
from fhir.resources.R4B.patient import Patient

from tests.sandboxes import Agency

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
DELIVERY = "https://onebudget.example/Id/delivery"
CATEGORY = "https://onebudget.example/CodeSystem/spend-category"


async def _search(health: Agency, url: str, **params: Any) -> Bundle:
    # params=None, not {}: httpx would replace the query of a next link with an empty one.
    answer = await health.client.get(url, params=params or None, headers=await health.headers())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/fhir+json"
    return Bundle.model_validate_json(answer.content)


async def _every(health: Agency, resource_type: str, **params: Any) -> list[Any]:
    """Every match, following the Bundles' next links (two a page)."""
    bundle = await _search(health, f"/fhir/{resource_type}", _count=2, **params)
    resources = []
    while True:
        assert bundle.type == "searchset"
        resources += [entry.resource for entry in bundle.entry or []]
        following = [link.url for link in bundle.link or [] if link.relation == "next"]
        if not following:
            return resources
        bundle = await _search(health, str(following[0]))


async def test_it_speaks_fhir_r4_behind_a_bearer_token(health: Agency) -> None:
    assert (await health.client.get("/fhir/ChargeItem")).status_code == 401
    metadata = (await health.client.get("/fhir/metadata")).json()
    assert metadata["resourceType"] == "CapabilityStatement" and metadata["fhirVersion"] == "4.0.1"
    unknown = await health.client.get("/fhir/ChargeItem?colour=red", headers=await health.headers())
    assert unknown.status_code == 400 and unknown.json()["resourceType"] == "OperationOutcome"


async def test_a_patient_is_found_by_nhs_number(health: Agency) -> None:
    (patient,) = await _every(health, "Patient", identifier=f"{NHS_NUMBER}|9990002312")
    assert isinstance(patient, Patient)
    assert patient.name[0].text == "Amira Hussain"
    identifiers = {i.system: i.value for i in patient.identifier}
    assert identifiers["https://riverside-council.example/Id/person-ref"] == "RC-100231"
    assert [p.id for p in await _every(health, "Patient")] == [
        "patient-rc-100231",
        "patient-rc-100764",
        "patient-rc-101142",
        "patient-rc-101388",
    ]


async def test_plan_lines_page_completely_and_carry_the_award(health: Agency) -> None:
    items = await _every(health, "ChargeItem")
    assert all(isinstance(item, ChargeItem) for item in items)
    assert len(items) == len({item.id for item in items}) == 6
    amounts = {item.identifier[0].value: item.priceOverride.value for item in items}
    assert amounts["PHB-2025-0342-01"] == Decimal("28080.00")
    assert {item.status for item in items} == {"planned", "billable", "billed"}
    peter = await _every(health, "ChargeItem", patient="Patient/patient-rc-100764")
    assert len(peter) == 3
    (account,) = await _every(health, "Account", patient="patient-rc-100764")
    assert all(item.account[0].reference == f"Account/{account.id}" for item in peter)
    (coverage,) = await _every(health, "Coverage", beneficiary="Patient/patient-rc-100764")
    assert coverage.type.coding[0].code == "CHC"
    read = await health.client.get(
        f"/fhir/ChargeItem/{peter[0].id}", headers=await health.headers()
    )
    assert ChargeItem.model_validate_json(read.content) == peter[0]
    gone = await health.client.get("/fhir/ChargeItem/nothing", headers=await health.headers())
    assert gone.status_code == 404 and gone.json()["resourceType"] == "OperationOutcome"


async def test_last_updated_gives_only_what_changed(health: Agency) -> None:
    items = await _every(health, "ChargeItem")
    since = max(item.meta.lastUpdated for item in items).isoformat()
    assert await _every(health, "ChargeItem", _lastUpdated=f"gt{since}") == []
    await health.control("POST", "/awards/PHB-2026-0107-01/amend", {"amount": 240_000})
    await health.control("POST", "/awards/PHB-2025-0342-02/withdraw")
    changed = await _every(health, "ChargeItem", _lastUpdated=f"gt{since}")
    assert [(c.identifier[0].value, c.meta.versionId, c.status) for c in changed] == [
        ("PHB-2026-0107-01", "2", "billable"),
        ("PHB-2025-0342-02", "2", "aborted"),
    ]
    assert changed[0].priceOverride.value == Decimal("2400.00")


def _invoice(delivery: str, amount: str = "60.00") -> dict[str, Any]:
    return {
        "resourceType": "Invoice",
        "identifier": [{"system": DELIVERY, "value": delivery}],
        "status": "issued",
        "subject": {"reference": "Patient/patient-rc-100231"},
        "date": "2026-11-24",
        "account": {"reference": "Account/phb-rc-100231"},
        "participant": [{"role": {"text": "payee"}, "actor": {"display": "Riverside Wheelchairs"}}],
        "lineItem": [
            {
                "sequence": 1,
                "chargeItemCodeableConcept": {
                    "coding": [{"system": CATEGORY, "code": "equipment"}],
                    "text": "Wheelchair cushion",
                },
                "priceComponent": [
                    {
                        "type": "base",
                        "code": {"text": "Paid from the personal wheelchair budget"},
                        "amount": {"value": float(amount), "currency": "GBP"},
                    }
                ],
            }
        ],
    }


async def test_an_invoice_is_created_once_per_delivery_identifier(health: Agency) -> None:
    headers = {
        **await health.headers(),
        "content-type": "application/fhir+json",
        "if-none-exist": f"identifier={DELIVERY}|i-1",
    }
    first = await health.client.post("/fhir/Invoice", json=_invoice("i-1"), headers=headers)
    again = await health.client.post("/fhir/Invoice", json=_invoice("i-1"), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    stored = Invoice.model_validate_json(first.content)
    assert first.headers["location"].endswith(f"/fhir/Invoice/{stored.id}/_history/1")
    assert Invoice.model_validate_json(again.content).id == stored.id
    (found,) = await _every(health, "Invoice", identifier=f"{DELIVERY}|i-1")
    assert found.id == stored.id
    received = await health.received()
    assert [(r["delivery_id"], r["deliveries"]) for r in received] == [("i-1", 2)]
    line = received[0]["lines"][0]
    assert (line["category"], line["amount"], line["date"], line["payee"]) == (
        "equipment",
        6_000,
        "2026-11-24",
        "Riverside Wheelchairs",
    )
    assert line["reason"] == "Paid from the personal wheelchair budget"


async def test_an_invoice_it_cannot_use_is_refused_with_an_operation_outcome(
    health: Agency,
) -> None:
    headers = {**await health.headers(), "content-type": "application/fhir+json"}
    stranger = _invoice("i-2")
    stranger["subject"] = {"reference": "Patient/nobody"}
    no_id = _invoice("i-3")
    no_id["identifier"] = []
    not_fhir = {**_invoice("i-4"), "colour": "red"}
    for body, status in (
        (stranger, 422),
        (no_id, 400),
        (not_fhir, 400),
        (_invoice("i-5", "0.005"), 422),
    ):
        answer = await health.client.post("/fhir/Invoice", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
    other = {**headers, "if-none-exist": f"identifier={DELIVERY}|another"}
    mismatch = await health.client.post("/fhir/Invoice", json=_invoice("i-6"), headers=other)
    assert mismatch.status_code == 400
    assert await health.received() == []
