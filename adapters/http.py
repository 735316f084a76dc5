"""Every call to an agency goes through here: a timeout on each, and one mapping from what
went wrong (transport errors, status codes) to retryable or final adapter errors, retried
with exponential backoff and jitter that honours Retry-After.

Retries use stamina: tenacity's engine with safe defaults (jittered exponential backoff,
bounded attempts and total time), typed, async-native, and a backoff hook that may return
the wait itself, which is how a 429's Retry-After is honoured without writing a wait
strategy by hand.
"""

import email.utils
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stamina

log = logging.getLogger(__name__)

# A refusal's reason is quoted in errors at most this long (it may hold personal data, so
# errors that are retried, and logged by stamina, never quote it).
_QUOTE = 200


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How long one call may take and how hard to try again (from Settings)."""

    timeout_seconds: float = 10.0  # connect, read, write and pool, each
    attempts: int = 6
    total_seconds: float = 60.0  # all attempts of one call together
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    retry_after_max: float = 30.0  # a longer Retry-After is capped to this


class AdapterError(Exception):
    """A call to an agency failed; `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Retryable(AdapterError):
    """A fault that passes: timeouts, dropped connections, 5xx, 429."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Refused(AdapterError):
    """The agency refused the request itself (4xx): trying again will not help."""


class Unauthorized(Refused):
    """The agency refused our credentials (401); an adapter with renewable tokens retries."""


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def classify(response: httpx.Response) -> AdapterError | None:
    """None for a success; else the error this answer is, retryable or not."""
    status = response.status_code
    if status < 400:
        return None
    message = f"{response.request.method} {response.request.url.path} answered {status}"
    if status in (400, 404, 409, 422):
        # What was refused and why, for the run's error (shown to the agency, never logged).
        message += f": {response.text[:_QUOTE].strip()}"
    if status == 429 or status == 503:
        wait = retry_after(response.headers.get("retry-after"))
        return Retryable(message, status=status, retry_after=wait)
    if status >= 500 or status == 408:
        return Retryable(message, status=status)
    if status == 401:
        return Unauthorized(message, status=status)
    return Refused(message, status=status)


def transport_error(exc: httpx.RequestError, method: str, path: str) -> Retryable:
    """A timeout, a refused or dropped connection, half or garbled an answer: all worth
    another try."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return Retryable(f"{method} {path} {kind}: {type(exc).__name__} {exc}".strip())


def _backoff(policy: CallPolicy) -> Callable[[Exception], bool | float]:
    """stamina's hook: retry Retryable errors, waiting as long as a Retry-After asks."""

    def hook(exc: Exception) -> bool | float:
        if not isinstance(exc, Retryable):
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, policy.retry_after_max)
        return True

    return hook


# Headers for one attempt (an adapter's auth: a fresh token when the last one expired).
HeaderSource = Callable[[], Awaitable[Mapping[str, str]]]


async def _no_headers() -> Mapping[str, str]:
    return {}


class AgencyHttp:
    """An httpx client for one agency: base URL, a timeout on every call, retries."""

    def __init__(
        self,
        base_url: str,
        *,
        policy: CallPolicy,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.policy = policy
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(policy.timeout_seconds),
            headers=dict(headers or {}),
            auth=auth,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self.client.aclose()

    async def once(
        self, method: str, path: str, *, accept: Collection[int] = (), **kwargs: Any
    ) -> httpx.Response:
        """One attempt: the answer (a status in `accept` included), or the AdapterError it is."""
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.RequestError as exc:
            raise transport_error(exc, method, path) from exc
        error = None if response.status_code in accept else classify(response)
        if error is not None:
            raise error
        return response

    async def call(
        self,
        method: str,
        path: str,
        *,
        auth_headers: HeaderSource = _no_headers,
        on_unauthorized: Callable[[], None] | None = None,
        accept: Collection[int] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Call with retries. `auth_headers` is asked before each attempt; with
        `on_unauthorized`, a 401 forgets the credentials it names and tries again.
        Statuses in `accept` are answers, not errors (e.g. 422 with a reason to keep)."""
        policy = self.policy
        fixed_headers = dict(kwargs.pop("headers", None) or {})
        attempts = stamina.retry_context(
            on=_backoff(policy),
            attempts=policy.attempts,
            timeout=policy.total_seconds,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        )
        async for attempt in attempts:
            with attempt:
                headers = {**fixed_headers, **(await auth_headers())}
                try:
                    return await self.once(method, path, accept=accept, headers=headers, **kwargs)
                except AdapterError as exc:
                    if isinstance(exc, Unauthorized) and on_unauthorized is not None:
                        on_unauthorized()
                        raise Retryable(str(exc), status=exc.status) from exc
                    if exc.retryable:
                        # Not the answer's text: an agency's error may quote personal data.
                        log.info(
                            "%s %s failed (%s); will retry", method, path, exc.status or "no answer"
                        )
                    raise
        raise AssertionError("stamina stops by raising")  # pragma: no cover
