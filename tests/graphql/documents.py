"""GraphQL documents the tests share (a front-end would keep the same in its code)."""

LINES = "lines { amount reason approval stream { id name } agency { id name } }"
SPEND = f"id status amount category description occurredOn payee createdAt {LINES}"
COMMITMENT = f"id status amount postedAmount category description expiresAt {LINES}"
REFUSAL = "... on Refusal { code message fields { field message } }"
FUNDS = (
    "... on InsufficientFunds { requestedAmount eligibleAmount message"
    " streams { available reason stream { id name } } }"
)
MONEY = "allocated available pending spent returned indicative"

BUDGET = f"""
query Budget($id: ID!) {{
  budget(id: $id) {{
    id startsOn endsOn currency deployment createdAt
    person {{ id reference name }}
    leadAgency {{ id name kind }}
    totals {{ {MONEY} }}
    streams {{ stream {{ id name kind agency {{ id }} }} {MONEY} }}
    allocations {{ id amount status stream {{ id }} }}
    spends(first: 50) {{
      edges {{ cursor node {{ {SPEND} }} }} pageInfo {{ hasNextPage endCursor }}
    }}
    commitments(first: 50) {{ edges {{ node {{ {COMMITMENT} }} }} }}
    awaitingApproval {{ __typename ... on Spend {{ id }} ... on Commitment {{ id }} }}
    transfers(first: 50) {{
      edges {{ node {{ id amount kind debitAccount creditAccount code stream {{ id }} }} }}
    }}
    statement {{ currency totals {{ {MONEY} }} }}
  }}
}}
"""

# A care manager's caseload screen: a page of budgets, each with its streams, its last 10
# spends and their lines (README's GraphQL tour shows a smaller one).
CASELOAD = f"""
query Caseload($first: Int = 50) {{
  budgets(first: $first) {{
    edges {{ cursor node {{
      id startsOn endsOn currency deployment
      person {{ id reference name }}
      totals {{ {MONEY} }}
      streams {{ stream {{ id name kind }} {MONEY} }}
      spends(first: 10) {{
        edges {{ node {{
          id status amount category description occurredOn
          lines {{ amount reason approval stream {{ id name }} agency {{ id name }} }}
        }} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""

# A budget holder's screen kept up to date: the budget now, then after every change.
BUDGET_UPDATED = f"""
subscription Live($id: ID!) {{
  budgetUpdated(budgetId: $id) {{
    id totals {{ {MONEY} }}
    streams {{ stream {{ id name }} available spent }}
    spends(first: 5) {{ edges {{ node {{ id amount description }} }} }}
  }}
}}
"""

RECORD_SPEND = f"""
mutation Spend($input: RecordSpendInput!, $key: String!) {{
  recordSpend(input: $input, idempotencyKey: $key) {{
    __typename
    ... on Spend {{ {SPEND} }}
    {FUNDS}
    {REFUSAL}
  }}
}}
"""

ALLOCATE = f"""
mutation Allocate($input: AllocateInput!, $key: String!) {{
  allocate(input: $input, idempotencyKey: $key) {{
    __typename
    ... on Allocation {{ id amount status budget {{ totals {{ {MONEY} }} }} }}
    {REFUSAL}
  }}
}}
"""


def spend_input(
    budget_id: str, amount: int, category: str = "PERSONAL_CARE", **extra: object
) -> dict[str, object]:
    """A valid RecordSpendInput (tests/world.py's spend_body, in GraphQL's names)."""
    return {
        "budgetId": budget_id,
        "amount": amount,
        "category": category,
        "description": "Support",
        "occurredOn": "2026-06-01",
        **extra,
    }
