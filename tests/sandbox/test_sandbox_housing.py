"""The housing sandbox: a CSV export of Disabled Facilities Grant cases, and CSV imports."""

import csv
import io
import re
from typing import Any

from tests.sandboxes import Agency

EXPORT = "/exports/dfg-cases.csv"
IMPORT = "/imports/spend-lines"
CAP = 3_000_000
STATES = ("enquiry", "application_received", "approved", "works_started", "completed", "paid")


def _pence(text: str) -> int:
    """ "25,000.00" as pence (the export's money style)."""
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", text), text
    return int(text.replace(",", "").replace(".", ""))


async def _export(housing: Agency, **params: Any) -> tuple[list[dict[str, str]], Any]:
    answer = await housing.client.get(EXPORT, params=params, headers=await housing.headers())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(answer.text))), answer


async def _all_cases(housing: Agency) -> list[dict[str, str]]:
    """Every case, following the Link rel=next pages of two rows."""
    rows, answer = await _export(housing, limit=2)
    while "link" in answer.headers:
        following = re.fullmatch(r'<([^>]+)>; rel="next"', answer.headers["link"])
        assert following is not None
        answer = await housing.client.get(following[1], headers=await housing.headers())
        rows += list(csv.DictReader(io.StringIO(answer.text)))
    return rows


async def test_the_export_needs_the_export_account(housing: Agency) -> None:
    answer = await housing.client.get(EXPORT)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.headers["content-type"].startswith("text/plain")


async def test_grants_are_the_works_up_to_the_cap_less_the_contribution(housing: Agency) -> None:
    rows = await _all_cases(housing)
    assert len(rows) == 5 and {row["status"] for row in rows} <= set(STATES)
    priced = [row for row in rows if row["grant_amount"]]
    assert len(priced) == 4  # the enquiry has no grant yet
    for row in priced:
        works, contribution = _pence(row["works_cost"]), _pence(row["contribution"])
        assert _pence(row["grant_amount"]) == min(works, CAP) - contribution
        assert row["capped"] == ("Y" if works > CAP else "N")
    capped = next(row for row in rows if row["capped"] == "Y")
    assert (capped["works_cost"], capped["grant_amount"]) == ("42,500.00", "30,000.00")
    assert _pence(capped["interim_paid"]) + _pence(capped["final_paid"]) == CAP
    amira = next(row for row in rows if row["person_ref"] == "RC-100231")
    assert amira["grant_amount"] == "25,000.00" and amira["contribution"] == "5,000.00"
    assert amira["approval_date"] == "20/03/2026"


async def test_pages_follow_the_export_sequence_and_resume_after_it(housing: Agency) -> None:
    rows = await _all_cases(housing)
    sequences = [int(row["export_sequence"]) for row in rows]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5
    _, answer = await _export(housing)
    kept = answer.headers["x-next-after"]
    assert kept == str(sequences[-1]) and "link" not in answer.headers
    await housing.control("POST", "/awards/DFG-2026-0019/amend", {"amount": 900_000})
    await housing.control(
        "POST", "/awards/DFG-2026-0032/withdraw", {"reason": "Moved to a bungalow"}
    )
    changed, _ = await _export(housing, after=kept)
    assert [(row["case_ref"], row["version"]) for row in changed] == [
        ("DFG-2026-0019", "2"),
        ("DFG-2026-0032", "2"),
    ]
    amended, withdrawn = changed
    assert (amended["grant_amount"], amended["works_cost"]) == ("9,000.00", "10,240.00")
    assert (withdrawn["status"], withdrawn["withdrawn_reason"]) == (
        "withdrawn",
        "Moved to a bungalow",
    )


async def test_no_grant_above_the_cap(housing: Agency) -> None:
    over = await housing.client.post(
        "/_sandbox/awards/DFG-2025-0147/amend", json={"amount": 2_600_000}
    )
    assert over.status_code == 422 and "cap" in over.json()["detail"]
    made = await housing.client.post(
        "/_sandbox/awards", json={"awards": [{"person_ref": "RC-100231", "amount": 3_000_001}]}
    )
    assert made.status_code == 422
    assert (await housing.awards())["DFG-2025-0147"]["amount"] == 2_500_000


def _lines(*rows: tuple[str, str]) -> str:
    """An import file: (delivery id, amount) rows for Amira's grant."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "delivery_id",
            "case_ref",
            "person_ref",
            "category",
            "date",
            "amount",
            "reason",
            "description",
            "payee",
        ]
    )
    for delivery_id, amount in rows:
        writer.writerow(
            [
                delivery_id,
                "DFG-2025-0147",
                "RC-100231",
                "housing_adaptation",
                "29/07/2026",
                amount,
                "Ring-fenced to housing adaptation",
                "Level-access shower room",
                "Able Adaptations Ltd",
            ]
        )
    return out.getvalue()


async def test_imported_lines_are_recorded_once_per_delivery_id(housing: Agency) -> None:
    headers = {**await housing.headers(), "content-type": "text/csv"}
    first = await housing.client.post(
        IMPORT, content=_lines(("s-1", "8,500.00"), ("s-2", "120.00")), headers=headers
    )
    again = await housing.client.post(
        IMPORT, content=_lines(("s-2", "120.00"), ("s-3", "TBC")), headers=headers
    )
    assert first.json() == {"accepted": ["s-1", "s-2"], "duplicates": [], "rejected": []}
    answer = again.json()
    assert answer["accepted"] == [] and answer["duplicates"] == ["s-2"]
    assert [(r["line"], r["delivery_id"]) for r in answer["rejected"]] == [(3, "s-3")]
    received = await housing.received()
    assert [(r["delivery_id"], r["deliveries"]) for r in received] == [("s-1", 1), ("s-2", 2)]
    assert received[0]["lines"][0]["amount"] == 850_000
    assert received[0]["lines"][0]["date"] == "2026-07-29"
    assert received[0]["award_ref"] == "DFG-2025-0147"


async def test_an_import_without_its_columns_is_refused(housing: Agency) -> None:
    headers = {**await housing.headers(), "content-type": "text/csv"}
    answer = await housing.client.post(
        IMPORT, content="delivery_id,amount\r\ns-1,1.00\r\n", headers=headers
    )
    assert answer.status_code == 400 and "case_ref" in answer.text
    wrong_type = await housing.client.post(
        IMPORT, json={"delivery_id": "s-1"}, headers=await housing.headers()
    )
    assert wrong_type.status_code == 415
    assert await housing.received() == []
