"""The council sandbox: JSON service agreements behind expiring OAuth tokens, cursor pages."""

import asyncio
from typing import Any

from tests.sandboxes import Agency, serve

AGREEMENTS = "/v1/service-agreements"
RETURNS = "/v1/direct-payment-returns"


async def _all_pages(council: Agency, *, cursor: str | None = None) -> tuple[list[Any], str]:
    """Every agreement from a cursor on, two a page; and the cursor to keep."""
    headers = await council.headers()
    seen: list[Any] = []
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await council.client.get(AGREEMENTS, params=params, headers=headers)).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen, page["next_cursor"]


def _return(delivery_id: str) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "person_ref": "RC-100231",
        "agreement_id": "SA-2026-000418",
        "lines": [
            {
                "category": "personal_assistant",
                "date": "2026-04-24",
                "amount": "1050.00",
                "reason": "Paid from the adult social care personal budget",
                "description": "PA wages, 4 weeks",
                "payee": "Jo Morgan",
            }
        ],
    }


async def test_a_token_from_client_credentials_opens_the_agreements(council: Agency) -> None:
    refused = await council.client.get(AGREEMENTS)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    wrong = await council.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("onebudget-sandbox", "no"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    answer = await council.client.get(AGREEMENTS, headers=await council.headers())
    assert answer.status_code == 200


async def test_agreements_carry_the_award_after_the_contribution(council: Agency) -> None:
    agreements, _ = await _all_pages(council)
    daniel = next(a for a in agreements if a["person_ref"] == "RC-100587")
    assert daniel["weekly_cost"] == "220.00" and daniel["weekly_contribution"] == "20.00"
    assert daniel["net_weekly_cost"] == "200.00" and daniel["total_net_cost"] == "10400.00"
    for agreement in agreements:
        lines = sum(float(item["weekly_cost"]) for item in agreement["line_items"])
        assert round(lines, 2) == float(agreement["weekly_cost"])
    assert {a["status"] for a in agreements} == {"active", "proposed"}
    one = await council.client.get(f"{AGREEMENTS}/SA-2026-000532", headers=await council.headers())
    assert one.json() == daniel
    missing = await council.client.get(f"{AGREEMENTS}/SA-0", headers=await council.headers())
    assert missing.status_code == 404
    assert any(a["nhs_number"] is None for a in agreements)  # as in real returns


async def test_cursor_pages_are_complete_and_a_kept_cursor_gets_only_changes(
    council: Agency,
) -> None:
    first, cursor = await _all_pages(council)
    assert len(first) == len({a["id"] for a in first}) == 5
    nothing, same = await _all_pages(council, cursor=cursor)
    assert nothing == [] and same == cursor
    await council.control("POST", "/awards/SA-2026-000532/amend", {"amount": 1_092_000})
    await council.control("POST", "/awards/SA-2026-000644/withdraw", {"reason": "Moved away"})
    changed, _ = await _all_pages(council, cursor=cursor)
    assert [(a["id"], a["version"]) for a in changed] == [
        ("SA-2026-000532", 2),
        ("SA-2026-000644", 2),
    ]
    amended, withdrawn = changed
    assert amended["total_net_cost"] == "10920.00"
    assert amended["line_items"][-1]["service_component"] == "Variation"
    assert amended["net_weekly_cost"] == "210.00"
    assert withdrawn["status"] == "cancelled"
    assert withdrawn["cancellation_reason"] == "Moved away"


async def test_a_record_changed_while_paging_comes_again_at_the_end(council: Agency) -> None:
    headers = await council.headers()
    page = (await council.client.get(AGREEMENTS, params={"limit": 2}, headers=headers)).json()
    await council.control("POST", "/awards/SA-2026-000418/amend", {"amount": 1_612_000})
    rest, _ = await _all_pages(council, cursor=page["next_cursor"])
    ids = [a["id"] for a in page["data"] + rest]
    assert ids.count("SA-2026-000418") == 2 and ids[-1] == "SA-2026-000418"
    assert len(set(ids)) == 5


async def test_a_token_expires_and_a_new_one_works() -> None:
    async with serve("council", token_lifetime_seconds=0.3) as council:
        headers = await council.headers()
        assert (await council.client.get(AGREEMENTS, headers=headers)).status_code == 200
        await asyncio.sleep(0.4)
        expired = await council.client.get(AGREEMENTS, headers=headers)
        assert expired.status_code == 401
        challenge = expired.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge and "expired" in challenge
        renewed = await council.client.get(AGREEMENTS, headers=await council.headers())
        assert renewed.status_code == 200


async def test_the_expired_token_fault_refuses_a_fresh_token(council: Agency) -> None:
    await council.set_faults(expired_token=1.0)
    answer = await council.client.get(AGREEMENTS, headers=await council.headers())
    assert answer.status_code == 401 and "expired" in answer.headers["www-authenticate"]
    await council.set_faults(expired_token=0)
    assert (await council.client.get(AGREEMENTS, headers=await council.headers())).is_success


async def test_a_return_is_recorded_once_per_delivery_id(council: Agency) -> None:
    headers = await council.headers()
    first = await council.client.post(RETURNS, json=_return("d-1"), headers=headers)
    again = await council.client.post(RETURNS, json=_return("d-1"), headers=headers)
    other = await council.client.post(RETURNS, json=_return("d-2"), headers=headers)
    changed = _return("d-2")
    changed["lines"][0]["amount"] = "1060.00"
    assert (await council.client.post(RETURNS, json=changed, headers=headers)).status_code == 200
    received = await council.received()
    assert (first.status_code, first.json()["status"]) == (201, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 201
    assert [(r["delivery_id"], r["deliveries"], r["differing_copies"]) for r in received] == [
        ("d-1", 2, 0),
        ("d-2", 2, 1),  # a sender that reuses a delivery id for other content is found out
    ]
    line = received[0]["lines"][0]
    assert (line["category"], line["date"], line["amount"]) == (
        "personal_assistant",
        "2026-04-24",
        105000,
    )


async def test_a_return_it_cannot_read_is_refused_and_not_recorded(council: Agency) -> None:
    headers = await council.headers()
    bad_money = _return("d-1")
    bad_money["lines"][0]["amount"] = "£1,050"
    bad_category = _return("d-2")
    bad_category["lines"][0]["category"] = "holidays"
    for body in (bad_money, bad_category, {"delivery_id": "d-3"}):
        answer = await council.client.post(RETURNS, json=body, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid_return"
    assert await council.received() == []
    refused = await council.client.post(RETURNS, json=_return("d-4"))
    assert refused.status_code == 401
