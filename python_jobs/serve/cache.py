"""The answer cache: keys shaped `cohort:{id}:strategy:{name}:slice:{params_hash}`, a TTL, and the marts version.

A cached value is stored with the marts version it was computed under (queries.marts_version) and is
served only while the marts are still at that version, so an answer is never older than the marts; the
TTL bounds memory and age besides. `Cache` is the interface: `InProcessCache` (the default, an LRU
dict) implements it, and an external store implements the same three methods (get, set with a TTL in
seconds, clear) over serialised bytes, e.g. Redis GET / SET key value EX ttl / a SCAN + DEL of the prefix;
`Versioned` needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MAX_ENTRIES = 4096


def params_hash(params: Mapping[str, Any]) -> str:
    """A stable hash of the parameters: their JSON with sorted keys (None values included), sha256, 16 hex digits."""
    text = json.dumps(dict(sorted(params.items())), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slice_key(scope: str, scope_id: object, qualifier: str, name: str | None, params: Mapping[str, Any]) -> str:
    """`{scope}:{id}:{qualifier}:{name}:slice:{params_hash}`, e.g. cohort:everyone:strategy:bayesian:slice:…"""
    return f"{scope}:{scope_id}:{qualifier}:{name if name is not None else '-'}:slice:{params_hash(params)}"


def cohort_key(cohort_id: str, strategy: str | None, params: Mapping[str, Any]) -> str:
    """The seed's shape: cohort:{id}:strategy:{name}:slice:{params_hash} (strategy '-' where none applies)."""
    return slice_key("cohort", cohort_id, "strategy", strategy, params)


class Cache(Protocol):
    """What the front door needs of a cache; values are whatever the caller stores (an external cache pickles)."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def clear(self) -> None: ...


class InProcessCache:
    """A thread-safe LRU dict with a per-entry expiry; at most max_entries entries."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock = clock

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class NoCache:
    """A cache that keeps nothing (FILM_COHORTS_API_CACHE=off, benchmarks of the bare queries)."""

    def get(self, key: str) -> Any | None:
        return None

    def set(self, key: str, value: Any, ttl: float) -> None:
        return None

    def clear(self) -> None:
        return None


@dataclass(frozen=True)
class _Entry:
    version: str
    value: Any


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    bypasses: int = 0


class Versioned:
    """A Cache whose entries are valid for one marts version; `fetch` answers hit, miss or bypass."""

    def __init__(self, cache: Cache, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.cache = cache
        self.ttl = ttl
        self.stats = Stats()

    def fetch(self, key: str, version: str, compute: Callable[[], T], *, store: bool = True) -> tuple[T, str]:
        """(value, 'hit' | 'miss' | 'bypass'). store=False (a build is writing the marts) computes without storing."""
        entry = self.cache.get(key)
        if isinstance(entry, _Entry) and entry.version == version:
            self.stats.hits += 1
            return entry.value, "hit"
        value = compute()
        if store:
            self.cache.set(key, _Entry(version, value), self.ttl)
            self.stats.misses += 1
            return value, "miss"
        self.stats.bypasses += 1
        return value, "bypass"
