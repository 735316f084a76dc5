"""What must hold in the ledger after every crash, checked in SQL on the service's database.

- every spend answered 201 (at the first try, or on a retry) is in the ledger once, with its
  amount, on its budget, posted, with lines whose transfers exist and sum to its amount;
- no spend exists that no answer named (a retry that spent twice would leave one);
- each spend's Idempotency-Key keeps one stored answer, naming that spend;
- no pot is below zero;
- debits equal credits over all the account counters, posted and pending;
- every account's counters are exactly what its transfers add up to (the transfers table,
  folded with the ledger rules of service/domain/ledger.py), and every spend transfer
  belongs to a spend.
"""

import uuid
from dataclasses import dataclass

import asyncpg

from bench.crash.spending import SpendLog
from service.spends.repository import SPEND_CODE

SPENDS = """
SELECT s.id::text AS id, s.budget_id::text AS budget_id, s.amount, s.status,
       (SELECT count(*) FROM spend_line l WHERE l.spend_id = s.id) AS lines,
       (SELECT coalesce(sum(l.amount), 0) FROM spend_line l WHERE l.spend_id = s.id) AS lined,
       (SELECT count(*) FROM spend_line l LEFT JOIN transfer t ON t.id = l.transfer_id
         WHERE l.spend_id = s.id AND t.id IS NULL) AS lines_without_transfer,
       (SELECT coalesce(sum(t.amount), 0) FROM transfer t
         WHERE t.reference_id = s.id AND t.kind = 'posted') AS transferred
FROM spend s
WHERE s.client_id = $1 AND s.kind = 'spend'
"""

STORED_ANSWERS = """
SELECT key, body::jsonb ->> 'id' AS spend_id FROM idempotency_record
WHERE client_id = $1 AND key = ANY($2::text[])
"""

TOTALS = """
SELECT coalesce(sum(debits_posted), 0) AS debits_posted,
       coalesce(sum(credits_posted), 0) AS credits_posted,
       coalesce(sum(debits_pending), 0) AS debits_pending,
       coalesce(sum(credits_pending), 0) AS credits_pending,
       count(*) FILTER (WHERE kind = 'pot'
                        AND credits_posted - debits_posted - debits_pending < 0) AS pots_below_zero
FROM account
"""

# Each transfer's effect on its two accounts (service.domain.ledger._effect): a post or a
# void of a pending transfer first releases what that pending transfer held.
COUNTERS_DISAGREEING_WITH_TRANSFERS = """
WITH effect AS (
    SELECT t.debit_account_id AS account_id, 'debit' AS side, t.kind, t.amount,
           coalesce(p.amount, 0) AS held
    FROM transfer t LEFT JOIN transfer p ON p.id = t.pending_id
    UNION ALL
    SELECT t.credit_account_id, 'credit', t.kind, t.amount, coalesce(p.amount, 0)
    FROM transfer t LEFT JOIN transfer p ON p.id = t.pending_id
), folded AS (
    SELECT account_id,
        sum(CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END)
            FILTER (WHERE side = 'debit') AS debits_posted,
        sum(CASE kind WHEN 'pending' THEN amount
                      WHEN 'posted' THEN 0 ELSE -held END)
            FILTER (WHERE side = 'debit') AS debits_pending,
        sum(CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END)
            FILTER (WHERE side = 'credit') AS credits_posted,
        sum(CASE kind WHEN 'pending' THEN amount
                      WHEN 'posted' THEN 0 ELSE -held END)
            FILTER (WHERE side = 'credit') AS credits_pending
    FROM effect GROUP BY account_id
)
SELECT a.id, a.kind, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending,
       f.debits_posted AS folded_debits_posted, f.credits_posted AS folded_credits_posted
FROM account a LEFT JOIN folded f ON f.account_id = a.id
WHERE (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
      IS DISTINCT FROM (coalesce(f.debits_posted, 0), coalesce(f.credits_posted, 0),
                        coalesce(f.debits_pending, 0), coalesce(f.credits_pending, 0))
"""

SPEND_TRANSFERS_WITHOUT_SPEND = """
SELECT count(*) FROM transfer t
WHERE t.code = $1 AND NOT EXISTS (SELECT 1 FROM spend s WHERE s.id = t.reference_id)
"""


@dataclass(frozen=True)
class LedgerCheck:
    """One pass of the checks: what was checked, and every violation found."""

    spends_checked: int
    spends_in_ledger: int
    violations: list[str]


async def check_ledger(url: str, client_id: str, log: SpendLog) -> LedgerCheck:
    """Check every invariant on a fresh connection (the old ones may have died with PG).

    `client_id` is the spending client's public id.
    """
    connection = await asyncpg.connect(url)
    try:
        client_pk = await connection.fetchval(
            "SELECT id FROM oauth_client WHERE client_id = $1", client_id
        )
        return await _check(connection, client_pk, log)
    finally:
        await connection.close(timeout=5)


async def _check(
    connection: asyncpg.Connection, client_pk: uuid.UUID, log: SpendLog
) -> LedgerCheck:
    violations: list[str] = []
    ledger = {row["id"]: row for row in await connection.fetch(SPENDS, client_pk)}
    answered = {answer.spend_id: key for key, answer in log.answers.items()}
    if len(answered) != len(log.answers):
        violations.append("two keys were answered with the same spend id")
    for spend_id, key in answered.items():
        intent, row = log.intents[key], ledger.get(spend_id)
        if row is None:
            violations.append(
                f"LOST: spend {spend_id} (key {key}) was answered 201 but is not in the ledger"
            )
            continue
        if (row["amount"], row["budget_id"], row["status"]) != (
            intent.amount,
            intent.budget_id,
            "posted",
        ):
            violations.append(
                f"spend {spend_id} (key {key}) is {row['amount']} on {row['budget_id']}"
                f" ({row['status']}); asked {intent.amount} on {intent.budget_id}"
            )
        if row["lines"] == 0 or row["lines_without_transfer"] or row["lined"] != row["amount"]:
            violations.append(
                f"spend {spend_id}: {row['lines']} lines summing to {row['lined']},"
                f" {row['lines_without_transfer']} without their transfer; amount {row['amount']}"
            )
        if row["transferred"] != row["amount"]:
            violations.append(
                f"spend {spend_id}: its transfers move {row['transferred']}, not {row['amount']}"
            )
    for spend_id in ledger.keys() - answered.keys():
        violations.append(f"DOUBLE: spend {spend_id} is in the ledger but no answer named it")

    stored = await connection.fetch(STORED_ANSWERS, client_pk, list(log.answers))
    stored_by_key = {row["key"]: row["spend_id"] for row in stored}
    for key, answer in log.answers.items():
        if stored_by_key.get(key) != answer.spend_id:
            violations.append(
                f"key {key}: stored answer names spend {stored_by_key.get(key)},"
                f" the client was answered {answer.spend_id}"
            )

    totals = await connection.fetchrow(TOTALS)
    if totals["pots_below_zero"]:
        violations.append(f"{totals['pots_below_zero']} pot(s) below zero")
    for state in ("posted", "pending"):
        debits, credits = totals[f"debits_{state}"], totals[f"credits_{state}"]
        if debits != credits:
            violations.append(f"{state} debits {debits} != {state} credits {credits}")
    for row in await connection.fetch(COUNTERS_DISAGREEING_WITH_TRANSFERS):
        violations.append(
            f"account {row['id']} ({row['kind']}): counters debits/credits posted"
            f" {row['debits_posted']}/{row['credits_posted']}, its transfers say"
            f" {row['folded_debits_posted']}/{row['folded_credits_posted']}"
        )
    orphans = await connection.fetchval(SPEND_TRANSFERS_WITHOUT_SPEND, SPEND_CODE)
    if orphans:
        violations.append(f"{orphans} spend transfer(s) belong to no spend")
    return LedgerCheck(len(answered), len(ledger), violations)
