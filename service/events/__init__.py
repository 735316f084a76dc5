"""Live budget updates: every change to a budget is announced on commit, to every process.

`publish` puts a PostgreSQL NOTIFY in the transaction that changes the budget (in the very
statement that moves the money, so a spend costs no extra round trip); `hub` listens on one
connection per process and tells in-process subscribers which budget changed.
"""
