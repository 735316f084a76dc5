"""A database that does not answer: 503 with Retry-After, not a 500.

While PostgreSQL restarts, requests fail in ways that say nothing about the request: the
connection is refused or its socket is gone (OSError), the server is shutting down or
starting up (SQLSTATE 57P01-57P03) or reports a connection exception (class 08), the
server hung up in the middle of an exchange (asyncpg's protocol is left broken), or a
pooled connection turns out dead. SQLAlchemy marks that last one connection_invalidated
and drops the pool's other connections of that time with it, so the service finds the
database again by itself once it is back, with no restart. A write cut this way may have
committed or not (the COMMIT itself may be what failed), so the answer says to retry with
the same Idempotency-Key, which carries it out at most once.
"""

from sqlalchemy.exc import DBAPIError

from service.ops.retry import errors_in_chain
from service.sql import ConnectionLost, connection_gone


def is_database_unavailable(error: BaseException) -> bool:
    """True if the error, or any it came from, says the database could not be reached."""
    for current in errors_in_chain(error):
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, ConnectionLost):  # a prepared hot-path statement's (service.sql)
            return True
        if connection_gone(current):
            return True
    return False
