"""The operator's commands print JSON and work on the same database as the service."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.partners import PartnerFactory


def _onebudget(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ONEBUDGET_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_agencies_and_clients_added_from_the_command_line_can_get_tokens(
    database_url: str, data_dir: Path, partners: PartnerFactory, client: httpx.AsyncClient
) -> None:
    added = _onebudget(
        database_url, data_dir, "agencies", "add", "--name", "Northshire ICB", "--kind", "health"
    )
    assert added.returncode == 0, added.stderr
    agency = json.loads(added.stdout)
    made = _onebudget(
        database_url,
        data_dir,
        "clients",
        "add",
        "--agency",
        agency["id"],
        "--name",
        "finance",
        "--scope",
        "budgets:read spends:read",
    )
    assert made.returncode == 0, made.stderr
    credentials = json.loads(made.stdout)
    assert set(credentials) >= {"client_id", "client_secret"}
    token = await partners.token(credentials["client_id"], credentials["client_secret"])
    listed = await client.get("/v1/agencies", headers={"Authorization": f"Bearer {token}"})
    assert "Northshire ICB" in [a["name"] for a in listed.json()["items"]]


def test_bad_operator_input_says_what_went_wrong(database_url: str, data_dir: Path) -> None:
    bad_scope = _onebudget(
        database_url,
        data_dir,
        "clients",
        "add",
        "--agency",
        "not-a-uuid",
        "--name",
        "x",
        "--scope",
        "a",
    )
    assert bad_scope.returncode == 2
    assert "--agency must be an agency id" in bad_scope.stderr
    unknown = _onebudget(
        database_url,
        data_dir,
        "clients",
        "add",
        "--agency",
        "00000000-0000-0000-0000-000000000000",
        "--name",
        "x",
        "--scope",
        "budgets:read",
    )
    assert unknown.returncode == 2 and "onebudget:" in unknown.stderr


def test_serve_with_workers_answers_and_stops_cleanly_on_sigterm(
    database_url: str, data_dir: Path
) -> None:
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        "ONEBUDGET_PORT": str(port),
        "ONEBUDGET_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--no-migrate", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready = False
        for _ in range(150):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                pass
            if ready:
                break
            time.sleep(0.1)
        assert ready, "the server did not become ready"
        metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server")
        assert metadata.json()["token_endpoint"].endswith("/oauth/token")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.returncode == 0, server.stderr.read().decode() if server.stderr else ""
