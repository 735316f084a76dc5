"""NHS personal health budgets: a FHIR R4 REST API (JSON), read with fhir.resources.

The ICB keeps a personal health budget as base R4 resources: the Patient (NHS number, and
the council's person reference shared on the care record), an `Account` of type PHB
owned by the ICB, a `Coverage` saying which right funds it (CHC, CCC, S117 or PWB), the
personalised care and support plan as a `CarePlan`, and one `ChargeItem` per plan line:
the award. A line's `priceOverride` is its amount for the plan period; `planned` lines
are indicative, `billable` and `billed` ones confirmed, `aborted` ones withdrawn.
Searches answer `searchset` Bundles paged by `next` links. Spends come back as `Invoice`
resources, created once per identifier (FHIR conditional create, `If-None-Exist`).

fhir.resources has no plain R4 package any more; its R4B models are used, which match R4
for every resource here (R4B changed none of them).
"""

import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fhir.resources.R4B.account import Account
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.chargeitem import ChargeItem
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.invoice import Invoice
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from adapters.sandbox.base import Sandbox
from adapters.sandbox.inbox import Report, ReportLine
from adapters.sandbox.money import as_decimal, from_decimal
from adapters.sandbox.people import AMIRA, MARGARET, PETER, TOMASZ, Person, person
from adapters.sandbox.store import AwardStatus, NewAward, Versioned
from adapters.sandbox.wire import Refusal, after_from, cursor_for, page_size, utc_iso

FHIR_JSON = "application/fhir+json"
TOKEN = "phb-sandbox-token"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
PERSON_REF = "https://riverside-council.example/Id/person-ref"
PLAN_LINE = "https://riverside-icb.example/Id/phb-plan-line"
LINE_CODES = "https://riverside-icb.example/CodeSystem/phb-plan-line"
BUDGET_TYPES = "https://riverside-icb.example/CodeSystem/phb-type"
# Partners identify their Invoices (one per delivery) and spend categories with these.
DELIVERY = "https://onebudget.example/Id/delivery"
CATEGORY = "https://onebudget.example/CodeSystem/spend-category"
ICB_ID = "riverside-icb"
ICB_ODS = "QRX"
PERIOD = (date(2026, 4, 1), date(2027, 3, 31))
CONFIRMED_STATES = ("billable", "billed")
SEARCH_COMMON = ("_count", "_page", "_id")


@dataclass(frozen=True, slots=True)
class Budget:
    """A person's personal health budget: the right that funds it and how it is held."""

    budget_type: str  # CHC, CCC, S117 or PWB
    deployment: str  # notional, direct payment or third party
    plan_status: str  # CarePlan status: draft while eligibility is decided, else active


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One line of a personalised care and support plan: a ChargeItem, the award."""

    reference: str  # the identifier value (PLAN_LINE)
    person_ref: str
    code: str
    text: str
    amount: int  # pence for the plan period
    quantity: Decimal
    unit: str
    status: str  # planned, billable, billed, aborted


BUDGETS = {
    AMIRA.reference: Budget("PWB", "notional", "active"),
    MARGARET.reference: Budget("CHC", "notional", "draft"),
    PETER.reference: Budget("CHC", "direct payment", "active"),
    TOMASZ.reference: Budget("S117", "third party", "active"),
}
SEED = (
    PlanLine(
        "PHB-2026-0107-01",
        AMIRA.reference,
        "wheelchair",
        "Personal wheelchair budget: lightweight active-user wheelchair",
        215_000,
        Decimal(1),
        "item",
        "billable",
    ),
    # Eligibility still being decided: planned, so indicative.
    PlanLine(
        "PHB-2026-0188-01",
        MARGARET.reference,
        "therapy",
        "Community physiotherapy, 12 sessions",
        156_000,
        Decimal(12),
        "session",
        "planned",
    ),
    PlanLine(
        "PHB-2025-0342-01",
        PETER.reference,
        "personal-assistant",
        "Personal assistants, 30 hours a week at £18.00",
        2_808_000,
        Decimal(1560),
        "hour",
        "billable",
    ),
    PlanLine(
        "PHB-2025-0342-02",
        PETER.reference,
        "respite",
        "Respite, 4 weeks a year",
        520_000,
        Decimal(4),
        "week",
        "billable",
    ),
    PlanLine(
        "PHB-2025-0342-03",
        PETER.reference,
        "therapy",
        "Hydrotherapy, 20 sessions",
        104_000,
        Decimal(20),
        "session",
        "billed",
    ),
    PlanLine(
        "PHB-2026-0061-01",
        TOMASZ.reference,
        "peer-support",
        "Peer support worker, 6 hours a week at £19.00",
        592_800,
        Decimal(312),
        "hour",
        "billable",
    ),
)


def _slug(person_ref: str) -> str:
    """A person reference as part of a FHIR id."""
    return person_ref.lower()


def _json(model: FHIRAbstractModel) -> dict[str, Any]:
    """A resource model as JSON."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def _valid(model: type[FHIRAbstractModel], document: dict[str, Any]) -> dict[str, Any]:
    """The JSON of a resource, once fhir.resources has validated it as that R4 type.

    The document itself is served, not the model dumped again: dumping costs twice what
    validating does, and a plan may have thousands of lines."""
    document = {"resourceType": model.get_resource_type(), **document}
    model.model_validate(document)
    return document


def _number(value: Decimal) -> int | float:
    """A decimal as a JSON number (FHIR decimals are JSON numbers)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _money(pence: int) -> dict[str, Any]:
    """FHIR Money in pounds."""
    return {"value": _number(as_decimal(pence)), "currency": "GBP"}


def _meta(version: int, updated: datetime) -> dict[str, str]:
    """Resource meta: its version and when it was made."""
    return {"versionId": str(version), "lastUpdated": utc_iso(updated)}


class HealthSandbox(Sandbox[PlanLine]):
    """NHS Riverside ICB's personal health budgets, as a FHIR server."""

    kind = "health"
    name = "NHS Riverside ICB personal health budgets (FHIR R4)"
    receipt_prefix = "INV"

    def reset(self) -> None:
        """Back to the seed: the seeded budgets only, no invoices."""
        self.started = datetime.now(UTC)
        self.budgets = dict(BUDGETS)
        self.invoices: list[dict[str, Any]] = []
        self._rendered: dict[int, dict[str, Any]] = {}  # ChargeItem JSON by change sequence
        super().reset()

    def seed(self) -> Iterable[PlanLine]:
        """Two demo people's budgets and two strangers'."""
        return SEED

    def summary(self, record: PlanLine) -> tuple[str, int, AwardStatus]:
        """planned is indicative, billable and billed confirmed, aborted withdrawn."""
        if record.status in CONFIRMED_STATES:
            status = AwardStatus.CONFIRMED
        elif record.status == "planned":
            status = AwardStatus.INDICATIVE
        else:
            status = AwardStatus.WITHDRAWN
        return record.person_ref, record.amount, status

    def amended(self, record: PlanLine, amount: int) -> PlanLine:
        """The plan line re-costed."""
        return replace(record, amount=amount)

    def withdrawn(self, record: PlanLine, reason: str) -> PlanLine:
        """The line aborted (the plan changed)."""
        return replace(record, status="aborted")

    def created(self, award: NewAward, serial: int) -> PlanLine:
        """A new plan line; a person new to the ICB gets a notional CHC budget first."""
        self.budgets.setdefault(award.person_ref, Budget("CHC", "notional", "active"))
        return PlanLine(
            f"PHB-2026-{9000 + serial:04d}-01",
            award.person_ref,
            "personal-assistant",
            "Personal assistants",
            award.amount,
            Decimal(1),
            "plan",
            "billable" if award.confirmed else "planned",
        )

    def credentials(self) -> dict[str, str]:
        """A Bearer token, and the FHIR base path."""
        return {"fhir_base": "/fhir", "bearer_token": TOKEN}

    def error_body(self, status: int, message: str) -> tuple[str, bytes]:
        """An OperationOutcome."""
        code = {400: "invalid", 401: "login", 404: "not-found", 422: "processing", 429: "throttled"}
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": code.get(status, "exception"), "diagnostics": message}
            ],
        }
        return FHIR_JSON, _dumps(outcome)

    # Resources

    def _patient(self, who: Person) -> dict[str, Any]:
        """A person as a Patient, by NHS number and person reference."""
        return _valid(
            Patient,
            {
                "id": f"patient-{_slug(who.reference)}",
                "meta": _meta(1, self.started),
                "identifier": [
                    {"system": NHS_NUMBER, "value": who.nhs_number},
                    {"system": PERSON_REF, "value": who.reference},
                ],
                "name": [{"text": who.name}],
                "birthDate": who.born.isoformat(),
            },
        )

    def _organization(self) -> dict[str, Any]:
        """The ICB."""
        return _valid(
            Organization,
            {
                "id": ICB_ID,
                "meta": _meta(1, self.started),
                "identifier": [{"system": ODS_CODE, "value": ICB_ODS}],
                "name": "NHS Riverside Integrated Care Board",
            },
        )

    def _account(self, person_ref: str, budget: Budget) -> dict[str, Any]:
        """A personal health budget as an Account owned by the ICB."""
        slug = _slug(person_ref)
        return _valid(
            Account,
            {
                "id": f"phb-{slug}",
                "meta": _meta(1, self.started),
                "status": "active",
                "type": {
                    "coding": [{"system": BUDGET_TYPES, "code": "PHB"}],
                    "text": "Personal health budget",
                },
                "name": f"Personal health budget ({budget.deployment})",
                "subject": [{"reference": f"Patient/patient-{slug}"}],
                "servicePeriod": {"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()},
                "coverage": [
                    {"coverage": {"reference": f"Coverage/coverage-{slug}"}, "priority": 1}
                ],
                "owner": {"reference": f"Organization/{ICB_ID}"},
                "description": budget.deployment,
            },
        )

    def _coverage(self, person_ref: str, budget: Budget) -> dict[str, Any]:
        """The right that funds a budget, as a Coverage paid by the ICB."""
        slug = _slug(person_ref)
        return _valid(
            Coverage,
            {
                "id": f"coverage-{slug}",
                "meta": _meta(1, self.started),
                "status": "active",
                "type": {"coding": [{"system": BUDGET_TYPES, "code": budget.budget_type}]},
                "beneficiary": {"reference": f"Patient/patient-{slug}"},
                "payor": [{"reference": f"Organization/{ICB_ID}"}],
                "period": {"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()},
            },
        )

    def _care_plan(self, person_ref: str, budget: Budget) -> dict[str, Any]:
        """The personalised care and support plan."""
        slug = _slug(person_ref)
        return _valid(
            CarePlan,
            {
                "id": f"careplan-{slug}",
                "meta": _meta(1, self.started),
                "status": budget.plan_status,
                "intent": "plan",
                "title": "Personalised care and support plan",
                "subject": {"reference": f"Patient/patient-{slug}"},
                "period": {"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()},
                "author": {"reference": f"Organization/{ICB_ID}"},
            },
        )

    def _charge_item(
        self, entry: Versioned[PlanLine], *, malformed: bool = False
    ) -> dict[str, Any]:
        """A plan line version as a ChargeItem (made once: validating one takes 0.7 ms)."""
        if entry.sequence not in self._rendered:
            self._rendered[entry.sequence] = self._validated_charge_item(entry)
        resource = self._rendered[entry.sequence]
        if malformed:
            resource = copy.deepcopy(resource)  # the cached one stays whole
            # Each breaks R4 validation; the Bundle and the other entries stay valid.
            corruption = self.faults.pick(3)
            if corruption == 0:
                resource["priceOverride"]["value"] = f"{resource['priceOverride']['value']:,}"
            elif corruption == 1:
                del resource["subject"]
            else:
                resource["occurrencePeriod"]["start"] = "2026-13-01"
        return resource

    def _validated_charge_item(self, entry: Versioned[PlanLine]) -> dict[str, Any]:
        """A plan line version as a ChargeItem, validated."""
        line = entry.record
        slug = _slug(line.person_ref)
        return _valid(
            ChargeItem,
            {
                "id": line.reference.lower(),
                "meta": _meta(entry.version, entry.updated_at),
                "identifier": [{"system": PLAN_LINE, "value": line.reference}],
                "status": line.status,
                "code": {
                    "coding": [{"system": LINE_CODES, "code": line.code}],
                    "text": line.text,
                },
                "subject": {"reference": f"Patient/patient-{slug}"},
                "occurrencePeriod": {
                    "start": PERIOD[0].isoformat(),
                    "end": PERIOD[1].isoformat(),
                },
                "quantity": {"value": _number(line.quantity), "unit": line.unit},
                "priceOverride": _money(line.amount),
                "account": [{"reference": f"Account/phb-{slug}"}],
                "supportingInformation": [{"reference": f"CarePlan/careplan-{slug}"}],
            },
        )

    # Search

    def _unversioned(self, resource_type: str) -> list[dict[str, Any]]:
        """The resources of a type other than ChargeItem, in a fixed order."""
        people = sorted(self.budgets)
        if resource_type == "Organization":
            return [self._organization()]
        if resource_type == "Invoice":
            return self.invoices
        if resource_type == "Patient":
            return [self._patient(person(ref)) for ref in people]
        make: Callable[[str, Budget], dict[str, Any]] = {
            "Account": self._account,
            "Coverage": self._coverage,
            "CarePlan": self._care_plan,
        }[resource_type]
        return [make(ref, self.budgets[ref]) for ref in people]

    def _charge_items(
        self,
        *,
        after: int,
        count: int,
        wanted: Callable[[dict[str, set[str]]], bool] | None,
        since: Callable[[datetime], bool] | None,
    ) -> tuple[list[dict[str, Any]], int, int, bool]:
        """A page of plan lines: (resources as served, total matches, last position, more)."""

        def matching(entry: Versioned[PlanLine]) -> bool:
            if since is not None and not since(entry.updated_at):
                return False
            return wanted is None or wanted(_line_keys(entry.record))

        page = self.store.page(after=after, limit=count, where=matching)
        total = sum(1 for entry in self.store.current() if matching(entry))
        served = self.faults.serve(page.entries, previous=self.store.previous)
        resources = [self._charge_item(s.item, malformed=s.malformed) for s in served]
        return resources, total, page.next_after, page.more

    def _unversioned_page(
        self,
        resource_type: str,
        *,
        after: int,
        count: int,
        wanted: Callable[[dict[str, set[str]]], bool],
    ) -> tuple[list[dict[str, Any]], int, int, bool]:
        """A page of another type: (resources, total matches, last position, more)."""
        matches = [
            (position, resource)
            for position, resource in enumerate(self._unversioned(resource_type), start=1)
            if wanted(_keys(resource))
        ]
        later = [(position, resource) for position, resource in matches if position > after]
        page = later[:count]
        last = page[-1][0] if page else after
        return [resource for _, resource in page], len(matches), last, len(later) > count

    def _search(self, request: Request, resource_type: str) -> dict[str, Any]:
        """A searchset Bundle of one page."""
        params = request.query_params
        allowed = SEARCH_COMMON + SEARCH_PARAMS[resource_type]
        unknown = [name for name in params if name not in allowed]
        if unknown:
            raise Refusal(
                400,
                f"{resource_type} has no search parameter {unknown[0]!r} here: "
                f"use {', '.join(allowed)}",
            )
        count = page_size(params.get("_count"), default=20, maximum=100)
        after = after_from(params.get("_page"))
        filters = [(n, params[n]) for n in params if not n.startswith("_") or n == "_id"]

        def wanted(keys: dict[str, set[str]]) -> bool:
            return all(_matches(keys, name, value) for name, value in filters)

        if resource_type == "ChargeItem":
            since = _last_updated(params.get("_lastUpdated"))
            resources, total, last, more = self._charge_items(
                after=after, count=count, wanted=wanted if filters else None, since=since
            )
        else:
            resources, total, last, more = self._unversioned_page(
                resource_type, after=after, count=count, wanted=wanted
            )
        base = str(request.base_url).rstrip("/") + "/fhir"
        query = [(k, v) for k, v in params.multi_items() if k != "_page"]
        links = [{"relation": "self", "url": str(request.url)}]
        if more:
            following = urlencode([*query, ("_page", cursor_for(last))])
            links.append({"relation": "next", "url": f"{base}/{resource_type}?{following}"})
        bundle = _json(Bundle.model_validate({"type": "searchset", "total": total, "link": links}))
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource_type}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ]
        return bundle

    def _authorise(self, request: Request) -> None:
        """Refusal 401 without the Bearer token."""
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            raise Refusal(401, "send the Bearer token", {"www-authenticate": "Bearer"})

    async def metadata(self, request: Request) -> Response:
        """The CapabilityStatement (no token needed)."""
        statement = CapabilityStatement.model_validate(
            {
                "status": "active",
                "date": self.started.date().isoformat(),
                "kind": "instance",
                "fhirVersion": "4.0.1",
                "format": ["json"],
                "implementation": {"description": self.name},
                "rest": [
                    {
                        "mode": "server",
                        "security": {"description": "Authorization: Bearer <token>"},
                        "resource": [
                            {
                                "type": resource_type,
                                "interaction": [{"code": "read"}, {"code": "search-type"}]
                                + ([{"code": "create"}] if resource_type == "Invoice" else []),
                                "searchParam": [
                                    {"name": name, "type": "token"}
                                    for name in SEARCH_PARAMS[resource_type]
                                ],
                            }
                            for resource_type in SEARCH_PARAMS
                        ],
                    }
                ],
            }
        )
        return _fhir(_json(statement))

    async def search(self, request: Request) -> Response:
        """GET [base]/[type]?params: a searchset Bundle."""
        self._authorise(request)
        resource_type = request.path_params["resource_type"]
        if resource_type not in SEARCH_PARAMS:
            raise Refusal(404, f"this server has no {resource_type} resources")
        return _fhir(self._search(request, resource_type))

    async def read(self, request: Request) -> Response:
        """GET [base]/[type]/[id]: the resource as it stands."""
        self._authorise(request)
        resource_type, resource_id = request.path_params["resource_type"], request.path_params["id"]
        if resource_type == "ChargeItem":
            for entry in self.store.current():
                if entry.record.reference.lower() == resource_id:
                    return _fhir(self._charge_item(entry))
        elif resource_type in SEARCH_PARAMS:
            for resource in self._unversioned(resource_type):
                if resource["id"] == resource_id:
                    return _fhir(resource)
        raise Refusal(404, f"{resource_type}/{resource_id} is not known here")

    def _report(self, invoice: Invoice, delivery_id: str) -> Report:
        """An Invoice as a report; ValueError saying what it lacks."""
        subject = invoice.subject.reference if invoice.subject else None
        patients = {f"Patient/patient-{_slug(ref)}": ref for ref in self.budgets}
        if subject not in patients:
            raise ValueError(f"subject must reference a Patient of this server, not {subject!r}")
        if invoice.date is None:
            raise ValueError("the Invoice needs a date: the day the money was spent")
        payee = next(
            (
                p.actor.display
                for p in invoice.participant or []
                if p.role and p.role.text == "payee"
            ),
            None,
        )
        lines = []
        for number, item in enumerate(invoice.lineItem or [], start=1):
            concept = item.chargeItemCodeableConcept
            codes = (
                [c.code for c in (concept.coding or []) if c.system == CATEGORY] if concept else []
            )
            prices = [
                p for p in item.priceComponent or [] if p.type == "base" and p.amount is not None
            ]
            if not codes or len(prices) != 1:
                raise ValueError(
                    f"lineItem {number} needs a {CATEGORY} code and one base "
                    "priceComponent with an amount"
                )
            price = prices[0]
            assert price.amount is not None and concept is not None
            if price.amount.currency != "GBP" or price.amount.value is None:
                raise ValueError(f"lineItem {number}: the amount must be in GBP")
            lines.append(
                ReportLine(
                    str(codes[0]),
                    invoice.date.date() if isinstance(invoice.date, datetime) else invoice.date,
                    from_decimal(Decimal(price.amount.value)),
                    (price.code.text if price.code else None) or "",
                    concept.text,
                    payee,
                )
            )
        account = invoice.account.reference if invoice.account else None
        return Report(delivery_id, patients[subject], tuple(lines), account)

    async def create_invoice(self, request: Request) -> Response:
        """POST [base]/Invoice: record a spend once per delivery identifier."""
        self._authorise(request)
        try:
            invoice = Invoice.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Refusal(
                400, f"not a valid R4 Invoice: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        ids = [i.value for i in invoice.identifier or [] if i.system == DELIVERY and i.value]
        if len(ids) != 1:
            raise Refusal(400, f"the Invoice needs one identifier with system {DELIVERY}")
        condition = request.headers.get("if-none-exist")
        if condition is not None and condition != f"identifier={DELIVERY}|{ids[0]}":
            raise Refusal(400, f"If-None-Exist must be identifier={DELIVERY}|{ids[0]}")
        try:
            received, new = self.inbox.accept(self._report(invoice, str(ids[0])))
        except ValueError as exc:
            raise Refusal(422, str(exc)) from None
        if new:
            stored = _json(invoice)
            stored.update(id=received.receipt.lower(), meta=_meta(1, received.received_at))
            self.invoices.append(stored)
        stored = next(i for i in self.invoices if i["id"] == received.receipt.lower())
        location = f"{str(request.base_url).rstrip('/')}/fhir/Invoice/{stored['id']}/_history/1"
        return _fhir(stored, 201 if new else 200, {"location": location})

    def routes(self, app: FastAPI) -> None:
        """The FHIR REST API under /fhir."""
        app.add_api_route("/fhir/metadata", self.metadata, methods=["GET"])
        app.add_api_route("/fhir/Invoice", self.create_invoice, methods=["POST"])
        app.add_api_route("/fhir/{resource_type}", self.search, methods=["GET"])
        app.add_api_route("/fhir/{resource_type}/{id}", self.read, methods=["GET"])


SEARCH_PARAMS: dict[str, tuple[str, ...]] = {
    "Patient": ("identifier",),
    "Organization": ("identifier",),
    "Account": ("patient", "subject"),
    "Coverage": ("patient", "beneficiary"),
    "CarePlan": ("patient", "subject"),
    "ChargeItem": ("patient", "subject", "account", "identifier", "_lastUpdated"),
    "Invoice": ("patient", "subject", "identifier"),
}


def _line_keys(line: PlanLine) -> dict[str, set[str]]:
    """The values each search parameter matches for a plan line (no resource needed)."""
    slug = _slug(line.person_ref)
    patient = {f"Patient/patient-{slug}", f"patient-{slug}"}
    return {
        "_id": {line.reference.lower()},
        "identifier": {line.reference, f"{PLAN_LINE}|{line.reference}"},
        "patient": patient,
        "subject": patient,
        "account": {f"Account/phb-{slug}", f"phb-{slug}"},
    }


def _references(value: Any) -> set[str]:
    """ "Type/id" and "id" of each Reference in a field (one Reference or a list)."""
    found: set[str] = set()
    for ref in value if isinstance(value, list) else [value]:
        if isinstance(ref, dict) and "reference" in ref:
            found |= {ref["reference"], ref["reference"].partition("/")[2]}
    return found


def _keys(resource: dict[str, Any]) -> dict[str, set[str]]:
    """The values each search parameter matches for a resource."""
    identifiers: set[str] = set()
    for identifier in resource.get("identifier", []):
        identifiers |= {
            identifier["value"],
            f"{identifier.get('system', '')}|{identifier['value']}",
        }
    subjects = _references(resource.get("subject")) | _references(resource.get("beneficiary"))
    accounts = _references(resource.get("account"))
    return {
        "_id": {resource.get("id", "")},
        "identifier": identifiers,
        "patient": subjects,
        "subject": subjects,
        "beneficiary": subjects,
        "account": accounts,
    }


def _matches(keys: dict[str, set[str]], name: str, value: str) -> bool:
    """Whether a resource matches one search parameter (a comma means "any of")."""
    return any(option in keys.get(name, set()) for option in value.split(","))


def _last_updated(value: str | None) -> Callable[[datetime], bool] | None:
    """A `_lastUpdated=gt…` (or ge, lt, le) filter; Refusal 400 if it cannot be read."""
    if value is None:
        return None
    prefix, moment = value[:2], value[2:]
    try:
        when = datetime.fromisoformat(moment)
    except ValueError:
        when = None
    if prefix not in ("gt", "ge", "lt", "le") or when is None:
        raise Refusal(400, f"_lastUpdated must be gt, ge, lt or le and an instant, not {value!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    tests: dict[str, Callable[[datetime], bool]] = {
        "gt": lambda t: t > when,
        "ge": lambda t: t >= when,
        "lt": lambda t: t < when,
        "le": lambda t: t <= when,
    }
    return tests[prefix]


def _dumps(document: dict[str, Any]) -> bytes:
    """FHIR JSON bytes."""
    return json.dumps(document, ensure_ascii=False).encode()


def _fhir(
    document: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON answer."""
    return Response(_dumps(document), status, headers, media_type=FHIR_JSON)
