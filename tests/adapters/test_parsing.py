"""Records each adapter sets aside rather than apply: what the sandboxes' faults break,
and what is inconsistent in itself."""

import xml.etree.ElementTree as ET

from adapters import employment
from adapters.base import AwardRecord, ParseFailure
from tests.sandboxes import Agency


async def _first_award_xml(agency: Agency) -> ET.Element:
    """The first <Award> the employment sandbox serves."""
    response = await agency.client.get(
        "/api/v1/awards", headers={"X-API-Key": agency.sandbox.credentials["api_key"]}
    )
    award = ET.fromstring(response.content).find(employment._q("Award"))
    assert award is not None
    return award


async def test_instalments_that_do_not_add_up_to_the_award_are_set_aside(
    agencies: dict[str, Agency],
) -> None:
    award = await _first_award_xml(agencies["employment"])
    assert isinstance(employment.read(ET.tostring(award, encoding="unicode")), AwardRecord)
    instalment = award.find(f"{employment._q('Schedule')}/{employment._q('Instalment')}")
    assert instalment is not None
    instalment.set("amount", "1.00")
    broken = employment.read(ET.tostring(award, encoding="unicode"))
    assert isinstance(broken, ParseFailure)
    assert "instalments add up to" in broken.reason
    assert broken.reference == award.get("reference")


def test_xml_with_a_dtd_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    assert isinstance(employment.read(bomb), ParseFailure)
