"""Faults a sandbox can inject, how often, and the seeded dice that decide each time.

A rate is a probability from 0 to 1. Request faults are drawn once per request; record
faults once per record served (duplicate, malformed) or once per page (out_of_order).
Each sandbox rolls its own `random.Random`, seeded from the run's seed and its kind, so
the same requests against the same seed meet the same faults.
"""

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

LATENCY = "latency"  # the answer waits latency_seconds first
TIMEOUT = "timeout"  # the request is handled, then the answer waits hang_seconds
SERVER_ERROR = "server_error"  # 500, nothing done
RATE_LIMIT = "rate_limit"  # 429 with Retry-After, nothing done
DROP_CONNECTION = "drop_connection"  # handled, then the socket closes part-way through the answer
DUPLICATE = "duplicate"  # a record is served twice
OUT_OF_ORDER = "out_of_order"  # a page's records shuffled, older versions served after newer
MALFORMED = "malformed"  # a record is served broken (the rest of the document is intact)
EXPIRED_TOKEN = "expired_token"  # council: a valid access token is refused as expired
BAD_SIGNATURE = "bad_signature"  # equipment: a webhook is signed with the wrong secret

REQUEST_FAULTS = (LATENCY, TIMEOUT, SERVER_ERROR, RATE_LIMIT, DROP_CONNECTION)
RECORD_FAULTS = (DUPLICATE, OUT_OF_ORDER, MALFORMED)
COMMON_FAULTS = REQUEST_FAULTS + RECORD_FAULTS
ALL_FAULTS = COMMON_FAULTS + (EXPIRED_TOKEN, BAD_SIGNATURE)


class FaultError(ValueError):
    """A fault setting that names no fault of that sandbox, or a rate outside 0..1."""


def parse_fault(text: str) -> tuple[str, float]:
    """ "[KIND:]NAME=RATE" (e.g. "council:expired_token=0.5") as ("council:expired_token", 0.5)."""
    key, sep, rate_text = text.partition("=")
    try:
        rate = float(rate_text)
    except ValueError:
        rate = -1.0
    name = key.rpartition(":")[2]
    if not sep or name not in ALL_FAULTS:
        raise FaultError(
            f"{text!r} is not [KIND:]NAME=RATE with NAME one of {', '.join(ALL_FAULTS)}"
        )
    if not 0.0 <= rate <= 1.0:
        raise FaultError(f"{text!r}: the rate must be a number from 0 to 1")
    return key, rate


def faults_for(kind: str, names: Iterable[str], settings: Mapping[str, float]) -> dict[str, float]:
    """The rates that apply to one sandbox: "NAME" keys where it has NAME, and "KIND:NAME" keys."""
    names = set(names)
    rates: dict[str, float] = {}
    for key, rate in settings.items():
        target, _, name = key.rpartition(":")
        if target in ("", kind) and name in names:
            rates[name] = rate
        elif target == kind:
            raise FaultError(
                f"the {kind} sandbox has no fault {name!r}: it has {', '.join(sorted(names))}"
            )
    return rates


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    """A record as one answer serves it: maybe broken on purpose."""

    item: T
    malformed: bool = False


class Faults:
    """One sandbox's fault rates and the seeded dice that decide each one."""

    def __init__(self, *, names: Sequence[str], rng: random.Random) -> None:
        self.names = tuple(names)
        self.rates = dict.fromkeys(self.names, 0.0)
        self._rng = rng

    def set(self, rates: Mapping[str, float]) -> None:
        """Change some rates; FaultError (and no change) if any is unknown or out of range."""
        for name, rate in rates.items():
            if name not in self.rates:
                raise FaultError(
                    f"no fault {name!r} here: this sandbox has {', '.join(self.names)}"
                )
            if not 0.0 <= rate <= 1.0:
                raise FaultError(f"{name}: the rate must be from 0 to 1, not {rate}")
        self.rates.update(rates)

    def fires(self, name: str) -> bool:
        """Roll for one fault; a fault at rate 0 never rolls, so it never shifts the dice."""
        rate = self.rates.get(name, 0.0)
        return rate > 0 and self._rng.random() < rate

    def pick(self, count: int) -> int:
        """A seeded choice of 0..count-1."""
        return self._rng.randrange(count)

    def serve(self, items: Sequence[T], *, previous: Callable[[T], T | None]) -> list[Served[T]]:
        """A page's records as served under the record faults (in order if none fires)."""
        served: list[Served[T]] = []
        for item in items:
            served.append(Served(item, malformed=self.fires(MALFORMED)))
            if self.fires(DUPLICATE):
                served.append(Served(item))
        if items and self.fires(OUT_OF_ORDER):
            shuffled = served[:]
            self._rng.shuffle(shuffled)
            served = shuffled if shuffled != served else served[::-1]
            # Older versions of amended records arrive after the newer ones.
            served += [Served(old) for item in items if (old := previous(item)) is not None]
        return served
