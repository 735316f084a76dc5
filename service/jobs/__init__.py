"""Background jobs: a PostgreSQL job queue (pgqueuer) that `onebudget worker` runs.

`kinds` lists every job kind and schedule; `enqueue` queues a job in the caller's
transaction; `worker` runs them.
"""
