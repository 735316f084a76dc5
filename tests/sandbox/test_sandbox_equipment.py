"""The equipment sandbox: Standard Webhooks pushed (and retried) when equipment is issued
or recalled, an event list for what was missed, and signed webhooks received."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.sandboxes import Agency, Receiver, eventually, serve

SECRET = "whsec_" + base64.b64encode(b"a partner's webhook secret 32by").decode()
EVENTS = "/v1/events"
INBOUND = "/v1/inbound-webhooks"


async def _subscribe(equipment: Agency, url: str, **more: Any) -> None:
    await equipment.control("POST", "/subscribe", {"url": url, "secret": SECRET, **more})


def _verified(request: tuple[dict[str, str], bytes]) -> Any:
    """The body of a received webhook, if its signature verifies (raises otherwise)."""
    headers, body = request
    return Webhook(SECRET).verify(body, headers)


async def _all_events(equipment: Agency) -> list[dict[str, Any]]:
    headers = await equipment.headers()
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (
            await equipment.client.get(EVENTS, params={"after": after, "limit": 5}, headers=headers)
        ).json()
        events += page["data"]
        after = page["next_after"]
        if not page["has_more"]:
            return events


async def test_a_recall_is_pushed_signed_and_listed(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    await _subscribe(equipment, url)
    await equipment.control("POST", "/awards/LN-2026-00031/withdraw")
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    webhook = _verified(receiver.requests[0])
    assert webhook["type"] == "equipment.collected"
    data = webhook["data"]
    assert (data["loan_ref"], data["person_ref"], data["version"]) == (
        "LN-2026-00031",
        "RC-100231",
        2,
    )
    assert data["unit_cost_pence"] == data["credit_amount_pence"] == 118_500
    assert data["net_cost_pence"] == 0
    listed = (await _all_events(equipment))[-1]
    assert listed["id"] == receiver.requests[0][0]["webhook-id"]
    assert {k: listed[k] for k in ("type", "timestamp", "data")} == webhook


async def test_a_subscription_with_replay_gets_every_event_there_is(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    events = await _all_events(equipment)
    assert len(events) == 23 and [e["sequence"] for e in events] == list(range(1, 24))
    await _subscribe(equipment, url, replay=True)
    await receiver.wait_for(lambda: len(receiver.requests) == 23)
    assert {h["webhook-id"] for h, _ in receiver.requests} == {e["id"] for e in events}
    types = {_verified(request)["type"] for request in receiver.requests}
    assert types == {
        "equipment.issued",
        "equipment.collected",
        "equipment.recycled",
        "equipment.written_off",
    }


async def test_a_failing_receiver_gets_the_same_webhook_again(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    receiver.statuses = [500, 503]
    await _subscribe(equipment, url)
    await equipment.control("POST", "/awards/LN-2026-00040/amend", {"amount": 142_000})
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    assert [_verified(r)["type"] for r in receiver.requests] == ["equipment.substituted"] * 3
    log = (await equipment.control("GET", "/deliveries"))["items"]
    assert [(a["attempt"], a["status"]) for a in log] == [(1, 500), (2, 503), (3, 204)]


async def test_a_bad_signature_fails_verification_and_is_sent_again(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    receiver.secret = SECRET
    await _subscribe(equipment, url)
    await equipment.set_faults(bad_signature=1.0)
    await equipment.control("POST", "/awards/LN-2026-00041/withdraw")
    await receiver.wait_for(lambda: len(receiver.requests) == 2)
    with pytest.raises(WebhookVerificationError):
        _verified(receiver.requests[0])
    await equipment.set_faults(bad_signature=0.0)
    count = len(receiver.requests)
    await receiver.wait_for(lambda: len(receiver.requests) == count + 1)
    assert _verified(receiver.requests[-1])["type"] == "equipment.collected"
    log = (await equipment.control("GET", "/deliveries"))["items"]
    assert [a["status"] for a in log] == [401] * count + [204]
    assert [a["bad_signature"] for a in log] == [True] * count + [False]


async def test_duplicate_and_held_webhooks(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    await _subscribe(equipment, url)
    await equipment.set_faults(duplicate=1.0, out_of_order=1.0)
    await equipment.control("POST", "/awards/LN-2026-00042/amend", {"amount": 45_000})  # held
    await equipment.set_faults(duplicate=0.0, out_of_order=0.0)
    await equipment.control("POST", "/awards/LN-2026-00042/withdraw")
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    versions = [_verified(r)["data"]["version"] for r in receiver.requests]
    assert versions == [3, 2, 2]  # the newer overtook the held one, which came twice
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert ids[1] == ids[2] != ids[0]


async def test_a_malformed_webhook_is_signed_but_unusable(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    await _subscribe(equipment, url)
    await equipment.set_faults(malformed=1.0)
    for loan in ("LN-2026-00043", "LN-2026-00045", "LN-2026-00046"):
        await equipment.control("POST", f"/awards/{loan}/withdraw")
    await receiver.wait_for(lambda: len(receiver.requests) == 3)
    for request in receiver.requests:
        data = _verified(request)["data"]
        assert (
            data is None or "person_ref" not in data or not isinstance(data["unit_cost_pence"], int)
        )


def _spend(delivery: str, secret: str, *, amount: int = 6_000) -> tuple[bytes, dict[str, str]]:
    """A spend.posted webhook signed as a partner would."""
    body = json.dumps(
        {
            "type": "spend.posted",
            "timestamp": "2026-11-24T10:00:00Z",
            "data": {
                "person_ref": "RC-100231",
                "lines": [
                    {
                        "category": "equipment",
                        "date": "2026-11-24",
                        "amount_pence": amount,
                        "reason": "Ring-fenced to equipment, so used first",
                        "description": "Grab rails",
                    }
                ],
            },
        }
    )
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(delivery, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


async def test_a_signed_spend_webhook_is_recorded_once_per_webhook_id(equipment: Agency) -> None:
    secret = equipment.sandbox.credentials["inbound_webhook_secret"]
    body, headers = _spend("msg_1", secret)
    first = await equipment.client.post(INBOUND, content=body, headers=headers)
    again = await equipment.client.post(INBOUND, content=body, headers=headers)
    assert first.json()["status"] == "accepted" and again.json()["status"] == "duplicate"
    forged, forged_headers = _spend("msg_2", SECRET)
    assert (
        await equipment.client.post(INBOUND, content=forged, headers=forged_headers)
    ).status_code == 401
    assert (await equipment.client.post(INBOUND, content=body)).status_code == 401  # unsigned
    received = await equipment.received()
    assert [(r["delivery_id"], r["deliveries"]) for r in received] == [("msg_1", 2)]
    assert received[0]["lines"][0]["amount"] == 6_000


async def test_the_event_list_needs_the_api_key(equipment: Agency) -> None:
    assert (await equipment.client.get(EVENTS)).status_code == 401


async def test_a_subscription_made_at_start_gets_every_event(
    webhooks: tuple[Receiver, str],
) -> None:
    receiver, url = webhooks
    async with serve("equipment", webhook_url=url, webhook_secret=SECRET) as equipment:
        await receiver.wait_for(lambda: len(receiver.requests) == 23)
        assert all(_verified(request) for request in receiver.requests)
        subscription = (await equipment.control("GET", "/deliveries"))["subscription"]
        assert subscription == {"url": url, "secret": SECRET}


async def test_a_receiver_that_answers_410_gets_no_more(
    equipment: Agency, webhooks: tuple[Receiver, str]
) -> None:
    receiver, url = webhooks
    receiver.statuses = [410]
    await _subscribe(equipment, url)
    await equipment.control("POST", "/awards/LN-2026-00047/withdraw")
    await receiver.wait_for(lambda: len(receiver.requests) == 1)
    await eventually(lambda: _unsubscribed(equipment))
    await equipment.control("POST", "/awards/LN-2026-00048/withdraw")
    assert len(receiver.requests) == 1
    assert len(await _all_events(equipment)) == 25  # both still listed


async def _unsubscribed(equipment: Agency) -> bool:
    return (await equipment.control("GET", "/deliveries"))["subscription"] is None
