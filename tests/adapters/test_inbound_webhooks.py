"""The equipment service pushes signed webhooks to onebudget's inbound route over real HTTP:
each verified, taken once per webhook-id, applied in order of versions whatever the order
they arrive in; a bad signature is refused (the sender tries again); a broken event waits
in the dead letters until a replay reads it whole from the agency's event list."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from service.config import Settings
from service.main import create_app
from service.syncs.models import AgencyConnection, InboundMessage
from tests.adapters.checks import assert_ledger_is_the_awards, sync_until_done
from tests.adapters.world import SyncWorld, dead_letters, request_every_replay, write_credentials
from tests.sandboxes import Agency, eventually

SECRET = "whsec_" + "b25lYnVkZ2V0LWluYm91bmQtdGVzdC1zZWNyZXQ="


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The service on a free loopback port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _with_webhook_secret(world: SyncWorld, agency: Agency, folder: Path) -> None:
    """The equipment connection's credentials gain the secret the service signs with."""
    values = {**agency.sandbox.credentials, "webhook_secret": SECRET}
    path = write_credentials(folder, "equipment-hooks", values)
    async with world.sessionmaker() as session, session.begin():
        connection = await session.scalar(
            select(AgencyConnection).where(
                AgencyConnection.agency_id == world.agencies["equipment"]
            )
        )
        assert connection is not None
        connection.credentials_file = str(path)


async def test_pushed_webhooks_are_applied_once_in_version_order(
    world: SyncWorld,
    agencies: dict[str, Agency],
    sync_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    equipment = agencies["equipment"]
    await _with_webhook_secret(world, equipment, tmp_path)
    app = create_app(sync_settings, database_url=database_url, migrate=False)
    async with serving(app) as base:
        inbound = f"{base}/inbound/agencies/{world.agencies['equipment']}"
        await equipment.set_faults(
            bad_signature=0.3, duplicate=0.4, out_of_order=0.4, malformed=0.2
        )
        await equipment.control(
            "POST", "/subscribe", {"url": inbound, "secret": SECRET, "replay": True}
        )
        made = await equipment.control(
            "POST",
            "/awards",
            {"awards": [{"person_ref": "RC-100587", "amount": 20_000 + n} for n in range(6)]},
        )
        references = [award["reference"] for award in made["items"]]
        for reference in references[:3]:
            await equipment.control("POST", f"/awards/{reference}/amend", {"amount": 33_333})
        await equipment.control("POST", f"/awards/{references[3]}/withdraw", {})

        async def all_delivered() -> bool:
            deliveries = await equipment.control("GET", "/deliveries")
            return deliveries["pending"] == 0

        await eventually(all_delivered, seconds=30)
    attempts = (await equipment.control("GET", "/deliveries"))["items"]
    refused = [a for a in attempts if a["bad_signature"]]
    assert refused and all(a["status"] == 401 for a in refused)
    assert all(a["status"] == 200 for a in attempts if not a["bad_signature"])
    # Each webhook-id was taken once, however often it came.
    taken = await world.count(InboundMessage)
    assert taken == len({a["webhook_id"] for a in attempts if a["status"] == 200})

    # Broken events wait; once the fault is off a replay reads them whole from the event list.
    letters = await dead_letters(world, "equipment")
    assert any("No budget" not in letter.reason for letter in letters)
    await equipment.set_faults(bad_signature=0, duplicate=0, out_of_order=0, malformed=0)
    await request_every_replay(world, "equipment")
    await sync_until_done(world, sync_settings, "equipment")
    await assert_ledger_is_the_awards(world, equipment, "equipment")


async def test_a_webhook_with_a_bad_signature_or_for_no_such_agency_is_refused(
    world: SyncWorld,
    agencies: dict[str, Agency],
    sync_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    await _with_webhook_secret(world, agencies["equipment"], tmp_path)
    app = create_app(sync_settings, database_url=database_url, migrate=False)
    body = json.dumps(
        {"type": "equipment.issued", "timestamp": "2026-11-26T10:00:00Z", "data": None}
    )
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,bad"}
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        unsigned = await http.post(
            f"/inbound/agencies/{world.agencies['equipment']}", content=body, headers=headers
        )
        assert unsigned.status_code == 401
        council = await http.post(
            f"/inbound/agencies/{world.agencies['council']}", content=body, headers=headers
        )
        assert council.status_code == 404
    assert await world.count(InboundMessage) == 0


async def test_the_same_webhook_id_twice_is_taken_once(
    world: SyncWorld,
    agencies: dict[str, Agency],
    sync_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    await _with_webhook_secret(world, agencies["equipment"], tmp_path)
    app = create_app(sync_settings, database_url=database_url, migrate=False)
    event = {
        "type": "equipment.issued",
        "timestamp": "2026-11-26T10:00:00Z",
        "data": {
            "loan_ref": "LN-2026-09999",
            "version": 1,
            "person_ref": "RC-100231",
            "status": "on_loan",
            "unit_cost_pence": 12_345,
            "credit_amount_pence": 0,
            "net_cost_pence": 12_345,
            "issued_on": "2026-11-20",
        },
    }
    body = json.dumps(event)
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_test_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign("msg_test_1", now, body),
    }
    path = f"/inbound/agencies/{world.agencies['equipment']}"
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        first = await http.post(path, content=body, headers=headers)
        again = await http.post(path, content=body, headers=headers)
    assert first.json()["status"] == "applied", first.text
    assert again.json()["status"] == "duplicate"
    assert (await world.allocations("equipment"))["LN-2026-09999"][1:] == (12_345, "confirmed")
