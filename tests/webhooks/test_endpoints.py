"""/v1/webhook-endpoints: an agency's own endpoints, the secret shown once, URLs checked."""

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.partners import PartnerFactory
from tests.world import created

ENDPOINTS = "/v1/webhook-endpoints"
HOOK = "http://127.0.0.1:9/hooks"  # loopback: allowed by the test settings over http


async def test_registering_shows_the_secret_once_and_never_again(
    partners: PartnerFactory, app: FastAPI
) -> None:
    council = await partners()
    made = await created(await council.post(ENDPOINTS, {"url": HOOK, "events": ["spend.posted"]}))
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["url"] == HOOK and made["events"] == ["spend.posted"]
    assert made["disabled_at"] is None
    one = await council.get(f"{ENDPOINTS}/{made['id']}")
    listed = await council.get(ENDPOINTS)
    assert one.status_code == 200 and "secret" not in one.json()
    assert made["secret"] not in one.text + listed.text
    assert [e["id"] for e in listed.json()["items"]] == [made["id"]]
    assert {k: v for k, v in made.items() if k != "secret"} == one.json()


async def test_leaving_events_out_means_every_event_type(partners: PartnerFactory) -> None:
    council = await partners()
    made = await created(await council.post(ENDPOINTS, {"url": HOOK}))
    assert made["events"] is None


async def test_another_agencys_endpoint_is_not_found(partners: PartnerFactory) -> None:
    council, housing = await partners(), await partners(kind="housing")
    made = await created(await council.post(ENDPOINTS, {"url": HOOK}))
    path = f"{ENDPOINTS}/{made['id']}"
    for response in (
        await housing.get(path),
        await housing.get(f"{path}/deliveries"),
        await housing.delete(path),
    ):
        assert response.status_code == 404, response.text
    assert (await housing.get(ENDPOINTS)).json()["items"] == []
    assert (await council.get(path)).status_code == 200  # still there


async def test_deleting_answers_the_endpoint_then_it_is_gone(partners: PartnerFactory) -> None:
    council = await partners()
    made = await created(await council.post(ENDPOINTS, {"url": HOOK}))
    path = f"{ENDPOINTS}/{made['id']}"
    deleted = await council.delete(path)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["id"] == made["id"] and "secret" not in deleted.json()
    assert (await council.get(path)).status_code == 404
    assert (await council.delete(path)).status_code == 404


async def test_reading_needs_webhooks_read_and_writing_webhooks_write(
    partners: PartnerFactory,
) -> None:
    council = await partners()
    made = await created(await council.post(ENDPOINTS, {"url": HOOK}))
    reader = await partners.narrowed(council, scope="webhooks:read")
    assert (await reader.get(f"{ENDPOINTS}/{made['id']}")).status_code == 200
    refused = await reader.post(ENDPOINTS, {"url": HOOK})
    assert refused.status_code == 403 and refused.json()["required_scope"] == "webhooks:write"
    writer = await partners.narrowed(council, scope="webhooks:write")
    refused = await writer.get(ENDPOINTS)
    assert refused.status_code == 403 and refused.json()["required_scope"] == "webhooks:read"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.1.2.3/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::ffff:10.0.0.1]/hooks", "private"),
        ("https://192.168.0.10/hooks", "private"),
        ("https://0.0.0.0/hooks", "reserved"),
        ("http://8.8.8.8/hooks", "https"),
        ("ftp://127.0.0.1/hooks", "https"),
        ("https://user:pw@8.8.8.8/hooks", "password"),
        ("not a url", "https"),
    ],
)
async def test_urls_that_could_reach_inside_are_refused(
    partners: PartnerFactory, app: FastAPI, url: str, why: str
) -> None:
    council = await partners()
    refused = await council.post(ENDPOINTS, {"url": url})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/unsafe-webhook-url") and why in problem["detail"], problem
    assert (await council.get(ENDPOINTS)).json()["items"] == []


async def test_loopback_is_refused_unless_a_setting_allows_it(
    partners: PartnerFactory, app: FastAPI
) -> None:
    council = await partners()
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"webhook_allowed_networks": []})
    try:
        for url in ("https://127.0.0.1/hooks", "https://localhost/hooks", "https://[::1]/hooks"):
            refused = await council.post(ENDPOINTS, {"url": url})
            assert refused.status_code == 422 and "loopback" in refused.json()["detail"], url
    finally:
        app.state.settings = settings
    assert (await council.post(ENDPOINTS, {"url": "http://localhost:9/hooks"})).status_code == 201


async def test_a_name_that_does_not_resolve_yet_is_accepted_over_https(
    partners: PartnerFactory,
) -> None:
    council = await partners()
    url = f"https://{uuid.uuid4().hex}.invalid/hooks"
    assert (await council.post(ENDPOINTS, {"url": url})).status_code == 201
    refused = await council.post(ENDPOINTS, {"url": url.replace("https", "http")})
    assert refused.status_code == 422


async def test_an_event_type_named_twice_or_unknown_is_refused(partners: PartnerFactory) -> None:
    council = await partners()
    for events in (["spend.posted", "spend.posted"], ["spend.vanished"], []):
        refused = await council.post(ENDPOINTS, {"url": HOOK, "events": events})
        assert refused.status_code == 422, refused.text


async def test_the_secret_is_kept_to_sign_but_never_listed(
    partners: PartnerFactory, app: FastAPI
) -> None:
    council = await partners()
    made = await created(await council.post(ENDPOINTS, {"url": HOOK}))
    async with app.state.sessionmaker() as session:
        stored = await session.scalar(
            text("SELECT secret FROM webhook_endpoint WHERE id = :id"), {"id": made["id"]}
        )
    assert stored == made["secret"]


async def test_endpoints_come_in_pages(partners: PartnerFactory) -> None:
    council = await partners()
    ids = [(await created(await council.post(ENDPOINTS, {"url": HOOK})))["id"] for _ in range(3)]
    first = (await council.get(ENDPOINTS, params={"limit": 2})).json()
    rest = (await council.get(ENDPOINTS, params={"cursor": first["next_cursor"]})).json()
    paged = [e["id"] for e in first["items"] + rest["items"]]
    assert sorted(paged) == sorted(ids) and len(first["items"]) == 2
    assert rest["next_cursor"] is None
