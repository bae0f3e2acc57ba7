"""In-process memory of judgements, so a repeated call costs little and asks nothing.

The store is the truth; this only saves work, and is safe because what it keeps cannot
change behind its back in one process:

* a judgement's id and start never change once recorded (a DELETE forgets them here too);
* a PASS or FAIL is final (the verdict is sticky);
* the rendered queries of a (template, scopes, arguments) are a pure function of them;
* the result of look *k* of a judgement is a function of the data up to look *k*, so
  when Prometheus answers are cached (``cache.ttl``), a second call within the same
  interval gets the same result from here for that long, without recomputing.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from auspice.storage import JudgementKey, JudgementRecord

__all__ = ["Answer", "JudgementMemo", "Lru"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def drop_where(self, test: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if test(k)]:
            del self._items[key]


@dataclass(frozen=True)
class Answer:
    """A serialized answer to one exact request body, valid for one look (or for ever if
    final). ``prefix`` is the JSON object without its closing brace, so the current
    time can be appended."""

    identifier: str
    start: float
    interval: float
    look: int
    final: bool
    expires: float
    verdict: str
    prefix: bytes


class JudgementMemo:
    """Records by key, final results, prepared analyses and recent look results."""

    def __init__(self, *, size: int = 4096,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.records: Lru[JudgementKey, JudgementRecord] = Lru(size)
        self.finals: Lru[str, Mapping[str, Any]] = Lru(size)
        self.prepared: Lru[Hashable, Any] = Lru(size)
        self.looks: Lru[tuple[str, int], tuple[float, Mapping[str, Any]]] = Lru(size)
        self.answers: Lru[bytes, Answer] = Lru(size)
        self._monotonic = monotonic

    def answer(self, raw: bytes, *, now: float) -> Answer | None:
        """The remembered answer to the request body ``raw`` if it still holds at ``now``."""
        answer = self.answers.get(raw)
        if answer is None or answer.final:
            return answer
        if answer.expires <= self._monotonic():
            return None
        look = max(0, math.floor((now - answer.start) / answer.interval + 1e-9))
        return answer if look == answer.look else None

    def remember_answer(self, raw: bytes, answer: Answer) -> None:
        self.answers.put(raw, answer)

    def expiry(self, ttl: float) -> float:
        return self._monotonic() + ttl

    def look(self, identifier: str, look: int) -> Mapping[str, Any] | None:
        entry = self.looks.get((identifier, look))
        if entry is None or entry[0] <= self._monotonic():
            return None
        return entry[1]

    def remember_look(self, identifier: str, look: int, result: Mapping[str, Any], *,
                      ttl: float) -> None:
        self.looks.put((identifier, look), (self._monotonic() + ttl, result))

    def forget(self, identifier: str) -> None:
        """A judgement was deleted: drop everything known about it."""
        self.records.drop_where(lambda key: self._id_of(key) == identifier)
        self.finals.pop(identifier)
        self.looks.drop_where(lambda key: key[0] == identifier)
        self.answers.drop_where(lambda raw: self._answer_id(raw) == identifier)

    def _answer_id(self, raw: bytes) -> str | None:
        answer = self.answers._items.get(raw)
        return answer.identifier if answer is not None else None

    def _id_of(self, key: JudgementKey) -> str | None:
        record = self.records._items.get(key)
        return record.id if record is not None else None
