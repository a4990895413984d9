"""The order-ignoring mode (docs/contracts.md §1.5 ``PUT /_emulator/ordering``): list routes answer in an
arbitrary order, whatever ``$orderby`` asks.

Neither the Graph security lists nor the XDR incidents list document ``$orderby``
(https://learn.microsoft.com/graph/api/security-list-alerts_v2,
https://learn.microsoft.com/defender-xdr/api-list-incidents), so a reader must be correct in any order. The
arbitrary order is a seeded hash of each item's id: stable from one page to the next (a reader that follows
``@odata.nextLink`` over unchanged data sees every item once), but unrelated to time, and new items land
anywhere in it, as they may in a service whose order is unspecified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class OrderMode:
    ignore_order: bool = False
    seed: int = 1

    def arrange(self, items: Sequence[T], key: Callable[[T], object]) -> list[T]:
        """``items`` in the seeded arbitrary order (only called when ``ignore_order`` is on)."""
        prefix = f"{self.seed}|".encode()

        def rank(item: T) -> bytes:
            return hashlib.blake2b(prefix + str(key(item)).encode(), digest_size=8).digest()

        return sorted(items, key=rank)

    def configure(self, body: dict[str, Any]) -> None:
        """``{"ignore_order": bool, "seed": int}``, both optional; nothing changes when one is bad."""
        ignore = body.get("ignore_order", self.ignore_order)
        seed = body.get("seed", self.seed)
        if not isinstance(ignore, bool):
            raise ValueError(f"ignore_order must be true or false, got {ignore!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        unknown = set(body) - {"ignore_order", "seed"}
        if unknown:
            raise ValueError(f"unknown ordering fields: {', '.join(sorted(unknown))}")
        self.ignore_order, self.seed = ignore, seed

    def to_json(self) -> dict[str, Any]:
        return {"ignore_order": self.ignore_order, "seed": self.seed}
