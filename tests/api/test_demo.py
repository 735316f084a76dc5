"""The demo world: loaded once, and everything in it reads back through the API as promised."""

import asyncio
import json
import stat
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.demo import CLIENTS_FILE, COUNCIL, PEOPLE, load_demo


async def _bearer(client: httpx.AsyncClient, credentials: dict[str, str]) -> dict[str, str]:
    """Headers with a token from /oauth/token for one demo client (client_secret_basic)."""
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _items(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Any]:
    """Every item of a cursor list."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


class TestLoadDemo:
    async def test_loads_a_world_that_adds_up_and_only_once(
        self,
        settings: Settings,
        database_url: str,
        client: httpx.AsyncClient,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        path = settings.data_dir / CLIENTS_FILE
        try:
            await asyncio.to_thread(load_demo, settings, database_url)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            clients = json.loads(path.read_text())
            assert {c["kind"] for c in clients} == {"council", "housing", "employment", "equipment"}
            council = next(c for c in clients if c["agency"] == COUNCIL)
            printed = capsys.readouterr()
            assert council["client_secret"] in printed.out
            assert "/oauth/token" in printed.out
            assert "demo: person 3/3" in printed.err

            headers = await _bearer(client, council)
            agencies = await _items(client, "/v1/agencies", headers)
            assert len(agencies) == 4
            budgets = await _items(client, "/v1/budgets", headers)
            assert len(budgets) >= 3
            for budget in budgets:
                for entry in [budget["totals"], *budget["streams"]]:
                    parts = (
                        entry["available"] + entry["pending"] + entry["spent"] + entry["returned"]
                    )
                    assert entry["allocated"] == parts
                assert budget["totals"]["spent"] > 0
                assert budget["totals"]["pending"] > 0
            assert any(budget["totals"]["indicative"] > 0 for budget in budgets)
            # Distinct creation times, so "the first budget" is the same one in every load.
            assert len({budget["created_at"] for budget in budgets}) == len(budgets)
            holders = [
                (await client.get(f"/v1/people/{budget['person_id']}", headers=headers)).json()
                for budget in budgets
            ]
            assert [holder["name"] for holder in holders] == [person.name for person in PEOPLE]

            held: set[str] = set()
            for budget in budgets:
                transfers = await _items(client, f"/v1/budgets/{budget['id']}/transfers", headers)
                held |= {t["reference_id"] for t in transfers if t["kind"] == "pending"}
            statuses = []
            for reference_id in held:
                spend = await client.get(f"/v1/spends/{reference_id}", headers=headers)
                if spend.status_code == 200:  # the other holds are commitments
                    statuses.append(spend.json()["status"])
            assert "pending_approval" in statuses

            for credentials in clients:  # every agency's client gets a token
                await _bearer(client, credentials)

            await asyncio.to_thread(load_demo, settings, database_url)
            assert council["client_secret"] in capsys.readouterr().out
            assert len(await _items(client, "/v1/agencies", headers)) == 4
            assert len(await _items(client, "/v1/budgets", headers)) == len(budgets)
        finally:
            path.unlink(missing_ok=True)
