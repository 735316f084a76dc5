"""Request schemas refuse what the database would choke on, before any SQL runs."""

from typing import Any

import pytest
from pydantic import ValidationError

from service.people.schemas import PersonPatch
from service.spends.schemas import CommitmentIn
from service.streams.schemas import StreamPatch

_COMMITMENT = {"amount": 100, "category": "respite", "description": "Respite week"}


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (PersonPatch, {"name": None}),
        (PersonPatch, {"reference": None}),
        (StreamPatch, {"name": None}),
    ],
)
def test_patch_refuses_null_for_a_field_that_cannot_be_null(schema: Any, body: Any) -> None:
    with pytest.raises(ValidationError):
        schema.model_validate(body)


def test_patch_null_still_clears_a_nullable_limit() -> None:
    patch = StreamPatch.model_validate({"cap_amount": None})
    assert patch.model_dump(exclude_unset=True) == {"cap_amount": None}


def test_patch_left_out_fields_are_not_sent_on() -> None:
    assert PersonPatch.model_validate({"name": "Ann"}).model_dump(exclude_unset=True) == {
        "name": "Ann"
    }


def test_commitment_expiry_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        CommitmentIn.model_validate({**_COMMITMENT, "expires_at": "2030-01-01T10:00:00"})
    CommitmentIn.model_validate({**_COMMITMENT, "expires_at": "2030-01-01T10:00:00Z"})


def test_shared_request_bodies_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        CommitmentIn.model_validate({**_COMMITMENT, "expires_at": "2030-01-01T10:00:00Z", "x": 1})
