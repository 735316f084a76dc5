"""schemathesis fuzzes the live server from its OpenAPI document with an authorised client.

It must find no server error and no response off the documented schema. The server runs
with uvicorn on a loopback port against this test's own database; the run is bounded.
"""

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import uvicorn

from service.agencies.service import create_agency
from service.auth.service import create_client
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.main import create_app
from tests.partners import ALL_SCOPES

MAX_EXAMPLES = os.environ.get("ONEBUDGET_FUZZ_EXAMPLES", "15")


async def _register(database_url: str) -> tuple[str, str]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            agency = await create_agency(session, name="Fuzzing council", kind="council")
            row, secret = await create_client(
                session, agency_id=agency.id, name="fuzzer", scope=ALL_SCOPES
            )
            return row.client_id, secret
    finally:
        await engine.dispose()


async def test_fuzzing_finds_no_server_error_and_no_off_schema_answer(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(data_dir=data_dir, commitment_sweep_seconds=3600)
    app = create_app(settings, database_url=database_url, migrate=False)
    # Port 0: the kernel picks a free port as the server binds, so no other process can take
    # it between our choosing and our binding.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started or not thread.is_alive():
            break
        await asyncio.sleep(0.05)
    assert server.started, "the server did not start"
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(100):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            client_id, secret = await _register(database_url)
            token = (
                await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                )
            ).json()["access_token"]
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,"
            "content_type_conformance",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "20261125",
            "--exclude-path-regex",
            "^/oauth/token$",
            "--request-timeout",
            "10",
        ]
        # schemathesis keeps its cache and crash files in .schemathesis/ under the working
        # directory: run it in a temp dir so a test run never writes into the repository.
        result = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=240, cwd=tmp_path
        )
        print(result.stdout[-3000:])
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
