"""How a run of sandboxes behaves: timings of faults and tokens, and where webhooks go."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """Settings shared by the sandboxes of one run (the defaults suit a person trying them)."""

    host: str = "127.0.0.1"
    seed: int = 0
    latency_seconds: float = 0.25  # fault latency: added before the answer
    hang_seconds: float = 30.0  # fault timeout: longer than a client should wait
    retry_after_seconds: int = 1  # fault rate_limit: the Retry-After it sends
    token_lifetime_seconds: float = 300.0  # council access tokens
    webhook_url: str | None = None  # equipment: where to push its webhooks from the start
    webhook_secret: str | None = None  # equipment: whsec_… to sign them with (made up if None)
    webhook_retry_seconds: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    webhook_timeout_seconds: float = 10.0
    webhook_hold_seconds: float = 0.5  # fault out_of_order: a held webhook goes this much later
