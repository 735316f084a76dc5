"""One listener per process: which budgets changed, told to the subscribers in this process.

`BudgetEvents` holds one dedicated asyncpg connection (never a pooled session) that
LISTENs on service.events.publish.CHANNEL while anyone in the process subscribes, and fans
each notification out to the subscriptions of its budget. A change committed by any worker
process, through REST or GraphQL, reaches the subscribers of every process on the same
database. A process with no subscriber does not LISTEN: every listening process is woken by
every money movement, which cost two listening workers about 3% of the spends per second
(README.md, "Benchmark").

The API a subscription resolver calls (the app keeps the hub in `app.state.budget_events`):

    async with events.subscribe(budget_id) as signals:  # subscribe first ...
        yield await read_the_budget()                     # ... then read: no change slips by
        async for signal in signals:                      # a BudgetSignal per wake-up
            yield await read_the_budget()

- Check the caller's reach before subscribing, and read through the service on every
  signal (reach is checked again; a signal says only "budget X changed", never what).
- A slow subscriber loses nothing that matters: it holds at most one pending signal, so
  any number of changes while it is busy wake it once, and it reads the latest state.
- `signal.gap` is True after the hub could not listen for a while (connection lost, or
  not yet made): changes may have gone unannounced then, so read again, as for any signal.
- The iteration ends when the hub stops (the app is shutting down).

The connection is watched: when it is lost (PostgreSQL restarted, the backend terminated, a
network cut found by the periodic ping) the hub connects again with a growing, jittered
delay, LISTENs again if anyone subscribes, and sends every subscriber a gap signal.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.events.publish import CHANNEL
from service.ops.background import backoff
from service.ops.boundary import log_unexpected
from service.sql import connection_gone

log = logging.getLogger(__name__)

# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "onebudget-events"


@dataclass(frozen=True, slots=True)
class BudgetSignal:
    """The budget changed since the subscriber last woke (or may have: `gap`)."""

    budget_id: uuid.UUID
    gap: bool = False  # the hub was not listening for a while: changes may have gone unseen


@dataclass(frozen=True, slots=True)
class Timing:
    """How the hub waits: between connection attempts, and between checks of its connection."""

    first_retry_seconds: float = 0.1
    max_retry_seconds: float = 5.0
    ping_seconds: float = 10.0  # a connection cut without a word is found within this
    ping_timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 10.0

    def retry_delay(self, failures: int) -> float:
        """The wait before the next attempt after `failures` in a row (doubling, capped)."""
        return backoff(failures, first=self.first_retry_seconds, cap=self.max_retry_seconds)


class Subscription:
    """One subscriber's wake-ups for one budget: an async iterator of BudgetSignal.

    At most one signal waits at a time (later ones merge into it), so a subscriber that
    does not keep up costs the same small memory however many changes it misses.
    """

    def __init__(self, budget_id: uuid.UUID) -> None:
        self.budget_id = budget_id
        self._pending: BudgetSignal | None = None
        self._wake = asyncio.Event()
        self._ended = False

    def offer(self, *, gap: bool) -> None:
        """Wake the subscriber, merging with a signal it has not taken yet."""
        gap = gap or (self._pending is not None and self._pending.gap)
        self._pending = BudgetSignal(self.budget_id, gap)
        self._wake.set()

    def end(self) -> None:
        """No more signals: the iteration stops once the pending one is taken."""
        self._ended = True
        self._wake.set()

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> BudgetSignal:
        while self._pending is None:
            if self._ended:
                raise StopAsyncIteration
            await self._wake.wait()
            self._wake.clear()
        signal, self._pending = self._pending, None
        return signal


class BudgetEvents:
    """The process's listener: `async with hub.running():` around the app's life."""

    def __init__(self, dsn: str, *, timing: Timing | None = None) -> None:
        self._dsn = dsn  # a plain postgresql:// URL (service.database.driver_dsn)
        self._timing = timing or Timing()
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = {}
        self._connection: asyncpg.Connection | None = None
        self._listening = False  # LISTEN in place on the connection
        # One exchange at a time on the connection (LISTEN, UNLISTEN, the ping).
        self._exchange = asyncio.Lock()
        self._unlistening: set[asyncio.Task[None]] = set()
        self._failures = 0  # attempts in a row that did not get to listen
        self._stopped = False

    @property
    def connected(self) -> bool:
        """True while the connection is up: a subscriber is told of every change committed
        after subscribe() returned."""
        return self._connection is not None

    @property
    def listening(self) -> bool:
        """True while the LISTEN is in place (someone in this process subscribes)."""
        return self._listening

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend of the listening connection, if there is one."""
        return None if self._connection is None else int(self._connection.get_server_pid())

    @contextlib.asynccontextmanager
    async def subscribe(self, budget_id: uuid.UUID) -> AsyncIterator[Subscription]:
        """Signals for one budget while inside (see the module docstring for how to use it)."""
        subscription = Subscription(budget_id)
        if self._stopped:
            subscription.end()
        self._subscriptions.setdefault(budget_id, set()).add(subscription)
        try:
            # LISTEN before the subscriber reads: nothing committed after this slips by. If
            # the connection is down, the reconnection LISTENs and sends this subscriber a gap.
            await self._follow_demand()
            yield subscription
        finally:
            subscribers = self._subscriptions.get(budget_id, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscriptions.pop(budget_id, None)
            if not self._subscriptions and not self._stopped:
                # In the background: a subscriber's way out need not wait for the database.
                task = asyncio.create_task(self._follow_demand(), name="budget-events-unlisten")
                self._unlistening.add(task)
                task.add_done_callback(self._unlistening.discard)

    async def _follow_demand(self) -> None:
        """LISTEN while anyone in this process subscribes; UNLISTEN when nobody does."""
        async with self._exchange:
            connection, wanted = self._connection, bool(self._subscriptions)
            if connection is None or wanted == self._listening:
                return
            try:
                if wanted:
                    await connection.add_listener(CHANNEL, self._on_notification)
                else:
                    await connection.remove_listener(CHANNEL, self._on_notification)
            except Exception as error:
                if connection.is_closed() or connection_gone(error):
                    return  # the watch finds the loss; the reconnection follows demand
                raise
            self._listening = wanted

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["BudgetEvents"]:
        """Listen (connecting in the background) while inside; on the way out, stop
        listening, close the connection and end every subscription."""
        self._stopped = False
        task = asyncio.create_task(self._listen_forever(), name="budget-events")
        try:
            yield self
        finally:
            self._stopped = True
            for pending in (task, *self._unlistening):
                pending.cancel()
            await asyncio.gather(task, *self._unlistening, return_exceptions=True)
            for subscribers in self._subscriptions.values():
                for subscription in subscribers:
                    subscription.end()

    def _fan_out(self, budget_id: uuid.UUID, *, gap: bool) -> None:
        for subscription in self._subscriptions.get(budget_id, ()):
            subscription.offer(gap=gap)

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            budget_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignored a budget notification whose payload is not a budget id")
            return
        self._fan_out(budget_id, gap=False)

    async def _listen_forever(self) -> None:
        """Connect, LISTEN, watch; after any loss, wait a while and do it all again.

        The wait grows with each attempt in a row that did not get to listen.
        """
        self._failures = 0
        while True:
            try:
                await self._listen_once()
            except Exception as error:
                if connection_gone(error) or isinstance(error, TimeoutError):
                    log.warning(
                        "budget events: cannot reach the database; trying again",
                        extra={"attempt": self._failures + 1},
                    )
                else:
                    log_unexpected("budget events: listening failed; trying again", error)
            self._failures += 1
            await asyncio.sleep(self._timing.retry_delay(self._failures))

    async def _listen_once(self) -> None:
        """One connection's life: returns when it is lost, raises if it could not be made."""
        connection = await asyncpg.connect(
            self._dsn,
            timeout=self._timing.connect_timeout_seconds,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost, gone = asyncio.Event(), False
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            self._connection, self._listening, self._failures = connection, False, 0
            await self._follow_demand()
            # Whatever committed while nobody listened was announced to no one.
            for budget_id in list(self._subscriptions):
                self._fan_out(budget_id, gap=True)
            await self._watch(connection, lost)
            gone = True
            log.warning("budget events: lost the listening connection; reconnecting")
        finally:
            self._connection, self._listening = None, False
            if gone:
                connection.terminate()  # nobody left to say goodbye to
            else:
                await _close(connection)

    async def _watch(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone: closed under us, or not answering a ping."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._timing.ping_seconds)
                return
            try:
                async with self._exchange:
                    await connection.fetchval("SELECT 1", timeout=self._timing.ping_timeout_seconds)
            except Exception as error:
                dead = connection.is_closed() or connection_gone(error)
                if not (dead or isinstance(error, TimeoutError)):
                    raise
                return


async def _close(connection: asyncpg.Connection) -> None:
    """Close politely if the connection still answers, else drop it."""
    if connection.is_closed():
        return
    try:
        await connection.close(timeout=2)
    except Exception:
        connection.terminate()
