"""The employment sandbox: Access to Work awards as XML, paid in arrears; claims in XML."""

from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from tests.sandboxes import Agency

AWARDS = "/api/v1/awards"
CLAIMS = "/api/v1/claims"
NS = {"atw": "urn:onebudget:sandbox:access-to-work:1"}


def _pence(text: str | None) -> int:
    assert text is not None
    return int(Decimal(text) * 100)


async def _page(employment: Agency, **params: object) -> Element:
    answer = await employment.client.get(AWARDS, params=params, headers=await employment.headers())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/xml"
    root: Element = fromstring(answer.content)
    return root


async def _all_awards(employment: Agency) -> list[Element]:
    """Every award, one a page."""
    awards: list[Element] = []
    after = "0"
    while True:
        root = await _page(employment, after=after, count=1)
        awards += root.findall("atw:Award", NS)
        after = root.get("nextAfter", "")
        if root.get("more") == "false":
            return awards


async def test_awards_need_the_api_key(employment: Agency) -> None:
    answer = await employment.client.get(AWARDS)
    assert answer.status_code == 401
    error = fromstring(answer.content)
    assert error.tag == "{urn:onebudget:sandbox:access-to-work:1}Error"


async def test_the_total_is_what_each_element_pays_and_what_the_instalments_add_to(
    employment: Agency,
) -> None:
    awards = await _all_awards(employment)
    assert [a.get("reference") for a in awards] == [
        "ATW-2026-003988",
        "ATW-2026-004417",
        "ATW-2026-005102",
    ]
    for award in awards:
        total = _pence(award.findtext("atw:TotalAward", namespaces=NS))
        paid_by_elements = sum(
            _pence(e.findtext("atw:AtwPays", namespaces=NS))
            for e in award.iterfind(".//atw:Element", NS)
        )
        instalments = award.findall("atw:Schedule/atw:Instalment", NS)
        assert total == paid_by_elements == sum(_pence(i.get("amount")) for i in instalments)
    daniel = awards[1]
    assert daniel.findtext("atw:Customer/atw:PersonRef", namespaces=NS) == "RC-100587"
    assert _pence(daniel.findtext("atw:TotalAward", namespaces=NS)) == 800_000
    assert awards[2].get("status") == "provisional"
    grace = awards[0]
    refused = grace.find("atw:Refused/atw:Item", NS)
    assert refused is not None and "reasonable adjustment" in refused.get("reason", "")


async def test_instalments_are_paid_in_arrears(employment: Agency) -> None:
    award = (await _all_awards(employment))[1]
    schedule = award.find("atw:Schedule", NS)
    assert schedule is not None and schedule.get("basis") == "arrears"
    start = date.fromisoformat(award.find("atw:Period", NS).get("start"))  # type: ignore[union-attr, arg-type]
    today = date.today()
    for number, instalment in enumerate(schedule.findall("atw:Instalment", NS)):
        due = date.fromisoformat(instalment.get("due", ""))
        months = start.month - 1 + number + 1  # the month after the one it pays for
        assert due >= date(start.year + months // 12, months % 12 + 1, 1)
        assert instalment.get("status") == ("paid" if due < today else "scheduled")


async def test_an_amendment_re_splits_only_what_is_not_yet_paid(employment: Agency) -> None:
    before = (await _all_awards(employment))[1]
    paid_before = [
        i.get("amount")
        for i in before.findall("atw:Schedule/atw:Instalment", NS)
        if i.get("status") == "paid"
    ]
    await employment.control("POST", "/awards/ATW-2026-004417/amend", {"amount": 900_000})
    root = await _page(employment, after=3)
    (after,) = root.findall("atw:Award", NS)
    assert after.get("version") == "2"
    instalments = after.findall("atw:Schedule/atw:Instalment", NS)
    assert [i.get("amount") for i in instalments if i.get("status") == "paid"] == paid_before
    assert sum(_pence(i.get("amount")) for i in instalments) == 900_000
    assert _pence(after.findtext("atw:TotalAward", namespaces=NS)) == 900_000


async def test_a_withdrawn_award_cancels_what_is_not_yet_paid(employment: Agency) -> None:
    await employment.control("POST", "/awards/ATW-2026-004417/withdraw")
    (paying,) = (await _page(employment, after=3)).findall("atw:Award", NS)
    statuses = [i.get("status") for i in paying.iterfind(".//atw:Instalment", NS)]
    assert "paid" in statuses and set(statuses) == {"paid", "cancelled"}
    # A provisional award paid nothing, so all its instalments are cancelled.
    await employment.control(
        "POST", "/awards/ATW-2026-005102/withdraw", {"reason": "Review: not needed"}
    )
    (award,) = (await _page(employment, after=4)).findall("atw:Award", NS)
    assert award.get("status") == "withdrawn"
    assert award.findtext("atw:WithdrawnReason", namespaces=NS) == "Review: not needed"
    assert {i.get("status") for i in award.iterfind(".//atw:Instalment", NS)} == {"cancelled"}
    again = await employment.client.post("/_sandbox/awards/ATW-2026-005102/withdraw")
    assert again.status_code == 409


CLAIM = """<?xml version="1.0" encoding="UTF-8"?>
<Claim xmlns="urn:onebudget:sandbox:access-to-work:1"
       deliveryId="{id}" awardReference="ATW-2026-004417">
  <PersonRef>RC-100587</PersonRef>
  <Line category="transport" date="2026-04-30" amount="{amount}">
    <Reason>Ring-fenced to employment support</Reason>
    <Description>Taxis to and from work, 4 weeks</Description>
    <Payee>Riverside Cabs</Payee>
  </Line>
</Claim>"""


async def test_a_claim_is_recorded_once_per_delivery_id(employment: Agency) -> None:
    headers = {**await employment.headers(), "content-type": "application/xml"}
    first = await employment.client.post(
        CLAIMS, content=CLAIM.format(id="c-1", amount="360.00"), headers=headers
    )
    again = await employment.client.post(
        CLAIMS, content=CLAIM.format(id="c-1", amount="360.00"), headers=headers
    )
    assert first.status_code == 201 and fromstring(first.content).get("status") == "accepted"
    assert again.status_code == 200 and fromstring(again.content).get("status") == "duplicate"
    received = await employment.received()
    assert len(received) == 1 and received[0]["deliveries"] == 2
    assert received[0]["lines"][0]["amount"] == 36_000
    assert received[0]["lines"][0]["payee"] == "Riverside Cabs"


async def test_a_claim_it_cannot_read_is_refused(employment: Agency) -> None:
    headers = {**await employment.headers(), "content-type": "application/xml"}
    bomb = (
        '<!DOCTYPE x [<!ENTITY a "aaaa">]>'
        '<Claim xmlns="urn:onebudget:sandbox:access-to-work:1">&a;</Claim>'
    )
    for body in (
        CLAIM.format(id="c-1", amount="three hundred"),
        CLAIM.format(id="c-2", amount="360.00")
        .replace("<Claim", "<Clam")
        .replace("</Claim", "</Clam"),
        "<Claim",
        bomb,
    ):
        answer = await employment.client.post(CLAIMS, content=body, headers=headers)
        assert answer.status_code == 400, body
    assert await employment.received() == []
