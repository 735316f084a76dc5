"""Verified tokens are remembered only until they expire."""

import time
import uuid

from service.auth.caller import Caller
from service.auth.dependencies import VerifiedTokens


def _caller(expires_at: float) -> Caller:
    return Caller(uuid.uuid4(), "ob_x", uuid.uuid4(), frozenset({"budgets:read"}), int(expires_at))


def test_a_remembered_token_is_used_until_it_expires() -> None:
    cache = VerifiedTokens()
    live, dead = _caller(time.time() + 60), _caller(time.time() - 1)
    cache.put("live", live)
    cache.put("dead", dead)
    assert cache.get("live") is live
    assert cache.get("dead") is None
    assert cache.get("never-seen") is None


def test_the_cache_never_grows_past_its_capacity_and_keeps_the_newest() -> None:
    cache = VerifiedTokens(capacity=3)
    callers = [_caller(time.time() + 60) for _ in range(10)]
    for n, caller in enumerate(callers):
        cache.put(str(n), caller)
    remembered = [n for n in range(10) if cache.get(str(n)) is not None]
    # Emptied when full, so it holds between one and `capacity` entries, always the last put.
    assert 1 <= len(remembered) <= 3
    assert cache.get("9") is callers[9]
