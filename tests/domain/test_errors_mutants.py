"""The domain refusals' sentences and fields, and the vocabulary's CHECK text, word for word.

The API tests see these only through HTTP; here the domain tests pin them, so `mutmut run`
(README, "Tests and quality") has a test for every line of service/domain.
"""

from uuid import UUID

from service.domain.errors import BadCursor, DomainError, ForbiddenRole, MissingScope, StaleVersion
from service.domain.vocabulary import SpendKind, sql_in


def test_a_domain_error_reads_as_its_detail() -> None:
    error = DomainError("No budget 7 is within your reach.")
    assert str(error) == error.detail == "No budget 7 is within your reach."


def test_a_missing_scope_names_the_scope_to_ask_for() -> None:
    error = MissingScope("budgets:write")
    assert error.scope == "budgets:write"
    assert str(error) == (
        "This operation needs the scope 'budgets:write'; ask for it when you get a token."
    )


def test_a_forbidden_role_keeps_its_words_and_the_roles_allowed() -> None:
    error = ForbiddenRole("Only the lead may.", allowed=["lead", "funder"])
    assert str(error) == error.detail == "Only the lead may."
    assert error.allowed == ("lead", "funder")


def test_a_stale_version_says_to_read_again_and_keeps_the_current_version() -> None:
    error = StaleVersion(object_id=UUID(int=5), current_version=3)
    assert str(error) == error.detail == "It changed since you read it: read it again and retry."
    assert (error.object_id, error.current_version) == (UUID(int=5), 3)


def test_a_bad_cursor_says_to_pass_the_cursor_back_unchanged() -> None:
    error = BadCursor()
    assert str(error) == "The cursor is not valid: pass next_cursor exactly as returned."


def test_a_check_constraint_allows_exactly_the_vocabulary_in_its_order() -> None:
    assert sql_in("kind", SpendKind) == "kind IN ('spend', 'commitment', 'reversal')"
