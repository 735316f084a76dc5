"""Faults: each one observable in every sandbox that has it, switchable at start and at
run time, and decided by seeded dice so a run can be repeated."""

import csv
import io
import time
from typing import Any

import httpx
import pytest
from defusedxml.ElementTree import fromstring
from fhir.resources.R4B.chargeitem import ChargeItem
from pydantic import ValidationError

from adapters.sandbox.faults import FaultError, parse_fault
from adapters.sandbox.runner import KINDS, make_sandboxes
from tests.sandboxes import FAST, Agency, serve

READS = {
    "council": "/v1/service-agreements?limit=500",
    "housing": "/exports/dfg-cases.csv?limit=1000",
    "employment": "/api/v1/awards?count=200",
    "equipment": "/v1/events?limit=500",
    "health": "/fhir/ChargeItem?_count=100",
}
NS = "{urn:onebudget:sandbox:access-to-work:1}"


@pytest.fixture(params=KINDS)
def agency(request: pytest.FixtureRequest) -> Agency:
    """Each sandbox in turn, reset."""
    found: Agency = request.getfixturevalue(request.param)
    return found


async def _read(agency: Agency, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    """The sandbox's main read (headers fetched before any fault: the council's token)."""
    return await agency.client.get(READS[agency.sandbox.kind], headers=headers, **kwargs)


def _records(kind: str, answer: httpx.Response) -> list[tuple[str, int]]:
    """(reference, version) of each record served, in the order served."""
    if kind == "council":
        return [(a["id"], a["version"]) for a in answer.json()["data"]]
    if kind == "housing":
        return [(row[1], int(row[2])) for row in list(csv.reader(io.StringIO(answer.text)))[1:]]
    if kind == "employment":
        root = fromstring(answer.content)
        return [(a.get("reference"), int(a.get("version"))) for a in root.iter(f"{NS}Award")]
    if kind == "equipment":
        return [(e["data"]["loan_ref"], e["data"]["version"]) for e in answer.json()["data"]]
    entries = answer.json()["entry"]
    return [
        (e["resource"]["identifier"][0]["value"], int(e["resource"]["meta"]["versionId"]))
        for e in entries
    ]


def _broken(kind: str, answer: httpx.Response) -> list[bool]:
    """For each record served, whether it fails to read the way an adapter reads it."""
    if kind == "council":
        return [
            a.get("line_items") is None
            or "person_ref" not in a
            or not a["total_net_cost"].replace(".", "").isdigit()
            or a["start"][4] != "-"
            for a in answer.json()["data"]
        ]
    if kind == "housing":
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        return [
            None in row.values()
            or row["grant_amount"] == "TBC"
            or row["approval_date"] == "31/02/2026"
            for row in rows
        ]
    if kind == "employment":
        root = fromstring(answer.content)
        return [
            a.find(f"{NS}Customer") is None
            or not a.findtext(f"{NS}TotalAward", "").replace(".", "").isdigit()
            or a.find(f"{NS}Period").get("start") == "2026-13-01"  # type: ignore[union-attr]
            for a in root.iter(f"{NS}Award")
        ]
    if kind == "equipment":
        return [
            e["data"] is None
            or "person_ref" not in e["data"]
            or isinstance(e["data"]["unit_cost_pence"], str)
            for e in answer.json()["data"]
        ]
    broken = []
    for entry in answer.json()["entry"]:
        try:
            ChargeItem.model_validate(entry["resource"])
            broken.append(False)
        except ValidationError:
            broken.append(True)
    return broken


async def test_latency_delays_the_answer(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(latency=1.0)
    started = time.monotonic()
    assert (await _read(agency, headers)).status_code == 200
    assert time.monotonic() - started >= FAST.latency_seconds
    started = time.monotonic()
    await agency.control("GET", "/awards")  # the controls are never faulted
    assert time.monotonic() - started < FAST.latency_seconds


async def test_server_error_and_rate_limit_answer_in_the_agency_style(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(server_error=1.0)
    failed = await _read(agency, headers)
    assert failed.status_code == 500
    await agency.set_faults(server_error=0.0, rate_limit=1.0)
    limited = await _read(agency, headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    styles = {
        "council": "application/json",
        "housing": "text/plain; charset=utf-8",
        "employment": "application/xml",
        "equipment": "application/json",
        "health": "application/fhir+json",
    }
    assert (
        failed.headers["content-type"]
        == limited.headers["content-type"]
        == styles[agency.sandbox.kind]
    )


async def test_a_dropped_connection_cuts_the_answer_short(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(drop_connection=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await _read(agency, headers)
    await agency.set_faults(drop_connection=0.0)
    assert (await _read(agency, headers)).status_code == 200


async def test_a_timeout_hangs_longer_than_the_client_waits(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(timeout=1.0)
    with pytest.raises(httpx.ReadTimeout):
        await _read(agency, headers, timeout=0.2)


async def test_duplicates_serve_a_record_twice(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(duplicate=1.0)
    served = _records(agency.sandbox.kind, await _read(agency, headers))
    assert served[0::2] == served[1::2]  # each record, then its copy


async def test_out_of_order_shuffles_and_serves_an_old_version_after_the_new(
    agency: Agency,
) -> None:
    headers = await agency.headers()
    first = next(iter(await agency.awards()))
    await agency.control("POST", f"/awards/{first}/withdraw")
    in_order = _records(agency.sandbox.kind, await _read(agency, headers))
    await agency.set_faults(out_of_order=1.0)
    served = _records(agency.sandbox.kind, await _read(agency, headers))
    assert served != in_order and sorted(served[: len(in_order)]) == sorted(in_order)
    newest = max(version for ref, version in in_order if ref == first)
    stale = served[len(in_order) :]
    assert (first, newest - 1) in stale
    assert all((ref, version + 1) in in_order for ref, version in stale)


async def test_malformed_records_break_alone(agency: Agency) -> None:
    headers = await agency.headers()
    await agency.set_faults(malformed=1.0)
    answer = await _read(agency, headers)
    assert answer.status_code == 200  # the document itself still reads
    broken = _broken(agency.sandbox.kind, answer)
    assert broken and all(broken)
    await agency.set_faults(malformed=0.0)
    assert not any(_broken(agency.sandbox.kind, await _read(agency, headers)))


async def test_a_report_whose_answer_was_lost_counted_once(council: Agency) -> None:
    body = {
        "delivery_id": "d-1",
        "person_ref": "RC-100231",
        "lines": [
            {"category": "respite", "date": "2026-08-10", "amount": "960.00", "reason": "Respite"}
        ],
    }
    headers = await council.headers()
    await council.set_faults(drop_connection=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await council.client.post("/v1/direct-payment-returns", json=body, headers=headers)
    await council.set_faults(drop_connection=0.0, server_error=1.0)
    assert (
        await council.client.post("/v1/direct-payment-returns", json=body, headers=headers)
    ).status_code == 500
    await council.set_faults(server_error=0.0)
    retried = await council.client.post("/v1/direct-payment-returns", json=body, headers=headers)
    assert retried.json()["status"] == "duplicate"
    assert [r["deliveries"] for r in await council.received()] == [2]  # the 500 never counted


async def test_the_same_seed_meets_the_same_faults(council: Agency) -> None:
    async def statuses(seed: int) -> list[int]:
        await council.control("POST", "/reset", {"seed": seed})
        await council.set_faults(server_error=0.5)
        return [(await council.client.get(READS["council"])).status_code for _ in range(20)]

    first = await statuses(7)
    assert first == await statuses(7)
    assert first != await statuses(8)
    assert {500, 401} == set(first)  # 401: no token, when the dice let it through


async def test_the_fault_controls(council: Agency, housing: Agency, equipment: Agency) -> None:
    assert set(await council.control("GET", "/faults")) == {
        "latency",
        "timeout",
        "server_error",
        "rate_limit",
        "drop_connection",
        "duplicate",
        "out_of_order",
        "malformed",
        "expired_token",
    }
    assert "bad_signature" in await equipment.control("GET", "/faults")
    assert "expired_token" not in await housing.control("GET", "/faults")
    for rates in ({"expired_token": 0.5}, {"latency": 2}, {"latency": -0.1}):
        answer = await housing.client.post("/_sandbox/faults", json=rates)
        assert answer.status_code == 422
    assert set((await housing.control("GET", "/faults")).values()) == {0.0}
    assert (await housing.control("POST", "/faults", {"latency": 0.25}))["latency"] == 0.25


async def test_faults_set_at_start() -> None:
    async with serve("council", faults={"council:server_error": 1.0, "latency": 0.0}) as council:
        assert (await council.control("GET", "/faults"))["server_error"] == 1.0
        assert (await council.client.get(READS["council"])).status_code == 500
    with pytest.raises(FaultError, match="housing sandbox has no fault 'expired_token'"):
        make_sandboxes(faults={"housing:expired_token": 1.0}, kinds=KINDS, options=FAST)
    with pytest.raises(FaultError, match="no sandbox running here has the fault 'bad_signature'"):
        make_sandboxes(faults={"bad_signature": 1.0}, kinds=["council"], options=FAST)


def test_fault_settings_are_kind_name_and_rate() -> None:
    assert parse_fault("latency=0.2") == ("latency", 0.2)
    assert parse_fault("council:expired_token=1") == ("council:expired_token", 1.0)
    for bad in ("latency", "latency=fast", "latency=1.5", "gremlins=0.1", "council:gremlins=0.1"):
        with pytest.raises(FaultError):
            parse_fault(bad)


async def test_kept_alive_answers_do_not_wait_for_a_delayed_ack(council: Agency) -> None:
    # Without TCP_NODELAY each answer on a reused connection waits ~40 ms (Nagle and the
    # client's delayed ACK): a sync of 10,000 awards in pages would crawl.
    await council.control("GET", "/awards")
    started = time.monotonic()
    for _ in range(10):
        await council.control("GET", "/awards")
    assert time.monotonic() - started < 0.3
