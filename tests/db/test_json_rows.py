"""json_rows (service.sql): rows sent as one JSON parameter arrive in PostgreSQL exactly."""

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from service.sql import Statement, json_rows

_READ_BACK = Statement.of(
    text(
        "SELECT r.* FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
        " AS r(id uuid, amount bigint, pending_id uuid, reason text)"
    )
)


async def test_ids_amounts_nulls_and_any_text_arrive_exactly(app: FastAPI) -> None:
    """Amounts past 2^53 keep every penny (JSON numbers are exact in PostgreSQL, not
    doubles), and text outside ASCII or with quotes arrives as it was sent."""
    rows = [
        {"id": uuid.uuid4(), "amount": 2**63 - 1, "pending_id": None, "reason": 'Ça "va" \\ ✓'},
        {
            "id": uuid.uuid4(),
            "amount": 9_007_199_254_740_993,
            "pending_id": uuid.uuid4(),
            "reason": "",
        },
    ]
    async with app.state.sessionmaker() as session:
        found = await _READ_BACK.fetch(session, {"rows": json_rows(rows)})
    assert [dict(row) for row in found] == rows


def test_a_value_it_does_not_know_how_to_send_is_refused() -> None:
    with pytest.raises(TypeError, match="set is not a row value"):
        json_rows([{"ids": {1, 2}}])
