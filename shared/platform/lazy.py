"""One instance per worker process, built on first use, replaceable by tests.

The Functions Python worker runs sync functions on a thread pool, so the first calls can race: the
lock makes sure the instance is built once. ``use`` swaps it (tests, the CLI, benchmarks); ``use(None)``
drops it so the next call builds it from settings again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def use(self, value: T | None) -> None:
        with self._lock:
            self._value = value
