"""What every answer carries, what can be switched off, and what the OpenAPI document says."""

from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.auth.caller import SCOPES
from service.config import Settings
from service.main import create_app
from tests.partners import PartnerFactory
from tests.world import make_world


async def test_every_answer_is_nosniff_and_v1_answers_are_not_stored(
    partners: PartnerFactory, client: httpx.AsyncClient
) -> None:
    world = await make_world(partners)
    for path in ("/healthz", "/openapi.json", "/docs", "/no-such-page"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "cache-control" not in response.headers, path
    for response in (
        await world.council.get(world.budget_path()),
        await world.council.get("/v1/budgets/not-a-uuid"),
        await client.get("/v1/budgets"),  # 401
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


async def test_docs_are_served_from_local_assets(client: httpx.AsyncClient) -> None:
    for page, assets in (
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["redoc.standalone.js"]),
    ):
        html = (await client.get(page)).text
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis" not in html
        for asset in assets:
            assert f"/docs-assets/{asset}" in html
            served = await client.get(f"/docs-assets/{asset}")
            assert served.status_code == 200 and len(served.content) > 10_000


@pytest.fixture
async def locked_down(data_dir: Path, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app as production should run it: no docs, metrics behind a token."""
    settings = Settings(
        data_dir=data_dir, docs=False, metrics_token="m-token", commitment_sweep_seconds=3600
    )
    app = create_app(settings, database_url=database_url, migrate=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_docs_can_be_off_and_metrics_behind_a_token(
    locked_down: httpx.AsyncClient,
) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
        assert (await locked_down.get(path)).status_code == 404, path
    assert (await locked_down.get("/metrics")).status_code == 401
    wrong = await locked_down.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await locked_down.get("/metrics", headers={"Authorization": "Bearer m-token"})
    assert right.status_code == 200 and "onebudget_http_requests_total" in right.text


async def test_metrics_can_be_off(data_dir: Path, database_url: str) -> None:
    settings = Settings(data_dir=data_dir, metrics=False, commitment_sweep_seconds=3600)
    app = create_app(settings, database_url=database_url, migrate=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 404
            assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


class TestOpenAPI:
    async def test_it_declares_oauth2_and_bearer_on_every_v1_operation(
        self, client: httpx.AsyncClient
    ) -> None:
        document = (await client.get("/openapi.json")).json()
        schemes = document["components"]["securitySchemes"]
        flow = schemes["oauth2"]["flows"]["clientCredentials"]
        assert flow["tokenUrl"] == "/oauth/token"
        assert set(flow["scopes"]) == set(SCOPES) and all(flow["scopes"].values())
        assert schemes["bearerJWT"] == {**schemes["bearerJWT"], "scheme": "bearer"}
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if path.startswith("/v1/"):
                    assert {"bearerJWT": []} in operation["security"], (method, path)
        spend = document["paths"]["/v1/budgets/{budget_id}/spends"]["post"]
        assert spend["security"][0] == {"oauth2": ["spends:write"]}

    async def test_version_key_and_summaries(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        assert document["info"]["version"] == version("onebudget")
        spend = document["paths"]["/v1/budgets/{budget_id}/spends"]["post"]
        key = next(p for p in spend["parameters"] if p["name"] == "Idempotency-Key")
        assert key["required"] is True
        person = document["paths"]["/v1/people"]["post"]
        optional = next(p for p in person["parameters"] if p["name"] == "Idempotency-Key")
        assert not optional.get("required", False)
        assert spend["summary"].startswith("Pay for something from the budget")
        assert not spend["summary"].endswith(".")
