"""`onebudget serve --demo --sandboxes`: the demo's agencies served by sandbox agencies.

The sandboxes run in a child process (`onebudget sandbox up`) for as long as the service
does. The demo allocates the sandboxes' own seeded awards (the same sums it would allocate
anyway), tagged with their references, so the first sync finds every award already there
and adds nothing; each demo agency is then connected to its sandbox, with credentials in
mode-0600 files in the data directory, and synced once, so spends flow back at once.
The equipment service pushes its webhooks to the service's inbound route.
"""

import asyncio
import atexit
import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import select

from adapters.console import print_summary
from adapters.sandbox.options import SandboxOptions
from adapters.sandbox.runner import SANDBOXES
from adapters.sync import SyncOutcome, sync_agency
from service.agencies.models import Agency
from service.config import Settings
from service.database import make_engine, make_sessionmaker
from service.demo import AGENCIES, Awards, SeededAward
from service.syncs.connections import connect

CREDENTIALS_DIR = "agency-credentials"


def sandbox_awards() -> Awards:
    """The awards each demo agency's sandbox is seeded with, by kind."""
    found: dict[str, list[SeededAward]] = {}
    for spec in AGENCIES:
        sandbox = SANDBOXES[spec.kind](options=SandboxOptions())
        found[spec.kind] = [
            SeededAward(a.reference, a.person_ref, a.amount, a.status.value)
            for a in sandbox.awards()
        ]
    return found


def write_secret(path: Path, values: dict[str, str]) -> None:
    """A credentials file only its owner reads."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        os.fchmod(file.fileno(), 0o600)
        json.dump(values, file)


def start_sandboxes(*, webhook_url: str, webhook_secret: str) -> dict[str, str]:
    """Serve the sandboxes in a child process that stops with this one; their URLs by kind."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "sandbox",
            "up",
            "--webhook-url",
            webhook_url,
            "--webhook-secret",
            webhook_secret,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    def stop() -> None:
        if child.poll() is None:
            child.terminate()
            child.wait(timeout=10)

    atexit.register(stop)
    assert child.stdout is not None
    urls: dict[str, str] = {}
    while len(urls) < len(SANDBOXES):
        line = child.stdout.readline()
        if not line:
            raise RuntimeError("the sandboxes stopped while starting (see the lines above)")
        announced = json.loads(line)
        urls[announced["kind"]] = announced["url"]
        print(f"sandbox: {announced['name']} at {announced['url']}", file=sys.stderr)
    return urls


async def agency_ids(url: str) -> dict[str, uuid.UUID]:
    """The demo agencies' ids by kind."""
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            names = {spec.name: spec.kind for spec in AGENCIES}
            rows = await session.execute(
                select(Agency.name, Agency.id).where(Agency.name.in_(list(names)))
            )
            return {names[name]: agency_id for name, agency_id in rows.all()}
    finally:
        await engine.dispose()


async def connect_and_sync(
    settings: Settings, url: str, agencies: dict[str, uuid.UUID], urls: dict[str, str], secret: str
) -> list[tuple[str, SyncOutcome]]:
    """Bind each demo agency to its sandbox, then sync each once."""
    engine = make_engine(url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    outcomes = []
    try:
        async with sessionmaker() as session, session.begin():
            for kind, agency_id in agencies.items():
                values = SANDBOXES[kind](options=SandboxOptions()).credentials()
                if kind == "equipment":
                    values = {**values, "webhook_secret": secret}
                path = settings.data_dir / CREDENTIALS_DIR / f"{kind}.json"
                write_secret(path, values)
                await connect(
                    session,
                    agency_id=agency_id,
                    adapter=kind,
                    url=urls[kind],
                    credentials_file=path,
                )
        for kind, agency_id in agencies.items():
            outcome = await sync_agency(sessionmaker, settings, agency_id=agency_id)
            outcomes.append((kind, outcome))
    finally:
        await engine.dispose()
    return outcomes


def serve_sandboxes(settings: Settings, url: str) -> None:
    """Start the sandboxes, connect the demo agencies to them and sync each once."""
    agencies = asyncio.run(agency_ids(url))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    inbound = f"http://{settings.host}:{settings.port}/inbound/agencies/{agencies['equipment']}"
    urls = start_sandboxes(webhook_url=inbound, webhook_secret=secret)
    outcomes = asyncio.run(connect_and_sync(settings, url, agencies, urls, secret))
    print_summary(outcomes, as_json=False, out=sys.stdout)
    print(
        "Run `onebudget sync` to sync again; add awards with the sandboxes' POST /_sandbox/awards."
    )
