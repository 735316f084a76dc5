"""Partner webhooks: endpoints an agency registers, and the events of its budgets sent to them.

`events` builds what is told; `outbox` writes it in the transaction of the change;
`delivery` (a job of `onebudget worker`) sends it, signed and in order per budget;
`addresses` keeps the calls off private networks; `service` and `endpoints` are the API.
"""
