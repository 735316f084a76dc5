"""schema/schema.graphql is the schema the code builds, and the command that writes it
touches no data dir or database, like `onebudget openapi`."""

import os
import subprocess
import sys
from pathlib import Path

from schema.app import sdl
from service.cli import SDL_PATH


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_checked_in_sdl_is_current() -> None:
    assert SDL_PATH.read_text() == sdl(), "run `onebudget graphql-schema` and commit the file"


def test_graphql_schema_writes_and_checks_without_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ONEBUDGET_DATA_DIR"] = str(data)
    output = tmp_path / "schema.graphql"
    stale = _run(env, "graphql-schema", "--check", "--output", str(output))
    assert stale.returncode == 2
    assert stale.stderr.strip().splitlines()[-1].startswith("hint: run `onebudget graphql-schema`")
    written = _run(env, "graphql-schema", "--output", str(output))
    assert written.returncode == 0, written.stderr
    assert output.read_text() == SDL_PATH.read_text()
    checked = _run(env, "graphql-schema", "--check", "--output", str(output))
    assert checked.returncode == 0, checked.stderr
    assert not data.exists()


def test_the_names_front_ends_rely_on_are_there() -> None:
    """The names issue 9 promised front-ends; renaming one breaks them."""
    text = sdl()
    for name in [
        "budget(id: ID!): Budget",
        "person(id: ID!): Person",
        "spend(id: ID!): Spend",
        "commitment(id: ID!): Commitment",
        "node(id: ID!): Node",
        "viewer: Viewer!",
        "union RecordSpendResult = Spend | InsufficientFunds | Refusal",
        "streams: [Stream!]!",
        "lastSync: SyncRun",
        "deadLetters(first: Int! = 50, after: String = null): DeadLetterConnection",
    ]:
        assert name in text, name
    for mutation in [
        "recordSpend",
        "makeCommitment",
        "postCommitment",
        "voidCommitment",
        "approveSpend",
        "rejectSpend",
        "reverseSpend",
        "allocate",
        "confirmAllocation",
        "createPerson",
        "createBudget",
        "addFunder",
        "replayDeadLetter",
    ]:
        assert f"  {mutation}(" in text, mutation


def test_the_docs_show_each_enum_mapping() -> None:
    """docs/graphql.md lists every enum's values as the schema has them (REST's, upper-cased)."""
    import re

    from schema.enums import SCHEMA_NAMES, VOCABULARIES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "graphql.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (`.*`) \|$", docs, re.MULTILINE))
    for vocabulary in VOCABULARIES:
        name = SCHEMA_NAMES.get(vocabulary, vocabulary.__name__)
        shown = re.findall(r"`(\w+)`", rows.get(name, ""))
        assert shown == [member.value.upper() for member in vocabulary], vocabulary.__name__
        assert shown == [member.name for member in vocabulary]
