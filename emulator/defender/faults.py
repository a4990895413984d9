"""Fault and latency injection, configured through ``PUT /_emulator/faults`` (docs/contracts.md §1.5).

Rules match a route name (``alerts``, ``incidents``, ``machines``, ``machineactions``, the Graph
``graph-alerts`` and ``graph-incidents``, ``token``, ``keyvault`` or ``*``) and optionally one tenant.
Each request that a rule matches rolls one seeded random number against the rule's probabilities, so a
given seed and request order give the same faults. The platform's token and Key Vault endpoints use the same injector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from emulator.world import Counters

FaultKind = Literal["429", "500", "503", "reset", "slow"]
ROUTES = (
    "alerts", "incidents", "machines", "machineactions", "files", "vulnerabilities", "software",
    "graph-alerts", "graph-incidents", "graph-hunting", "token", "keyvault", "*",
    "indicators", "indicators-import", "indicators-batchdelete",
)  # fmt: skip
_PROBABILITIES: tuple[tuple[str, FaultKind], ...] = (
    ("p429", "429"),
    ("p500", "500"),
    ("p503", "503"),
    ("preset", "reset"),
    ("pslow", "slow"),
)


class FaultConfigError(ValueError):
    """A fault rule is invalid; the message names the field."""


@dataclass(frozen=True)
class FaultDecision:
    kind: FaultKind
    retry_after: int = 1
    slow_seconds: float = 0.0


@dataclass
class FaultRule:
    route: str = "*"
    tenant_id: str | None = None
    p429: float = 0.0
    p500: float = 0.0
    p503: float = 0.0
    preset: float = 0.0
    pslow: float = 0.0
    slow_seconds: float = 2.0
    retry_after: int = 1
    retry_after_max: int | None = None  # "retry_after": [low, high] draws each 429's wait from the range
    count: int | None = None  # faults left to inject; None = unlimited

    @classmethod
    def from_json(cls, data: Any, index: int) -> FaultRule:
        where = f"rules[{index}]"
        if not isinstance(data, dict):
            raise FaultConfigError(f"{where} must be an object")
        unknown = set(data) - (set(cls.__dataclass_fields__) - {"retry_after_max"})
        if unknown:
            raise FaultConfigError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
        route = data.get("route", "*")
        if route not in ROUTES:
            raise FaultConfigError(f"{where}.route must be one of {', '.join(ROUTES)}, got {route!r}")
        rule = cls(route=route, tenant_id=_tenant(data.get("tenant_id"), where))
        for name, _ in _PROBABILITIES:
            setattr(rule, name, _number(data, name, where, default=0.0, low=0.0, high=1.0))
        if sum(getattr(rule, name) for name, _ in _PROBABILITIES) > 1.0:
            raise FaultConfigError(f"{where}: p429 + p500 + p503 + preset + pslow must not exceed 1")
        rule.slow_seconds = _number(data, "slow_seconds", where, default=2.0, low=0.0, high=300.0)
        rule.retry_after, rule.retry_after_max = _retry_after(data.get("retry_after", 1), where)
        if data.get("count") is not None:
            rule.count = int(_number(data, "count", where, default=0, low=0, high=10**9))
        return rule

    def matches(self, route: str, tenant_id: str | None) -> bool:
        if self.route not in ("*", route):
            return False
        return self.tenant_id is None or self.tenant_id == (tenant_id or "").lower()


def _retry_after(value: Any, where: str) -> tuple[int, int | None]:
    """``retry_after``: seconds, or ``[low, high]`` (whole seconds, 0-3600) for a wait drawn per fault."""
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise FaultConfigError(f"{where}.retry_after must be seconds or [low, high], got {value!r}")
        low, high = value
        if not 0 <= low <= high <= 3600:
            raise FaultConfigError(f"{where}.retry_after [low, high] needs 0 <= low <= high <= 3600, got {value!r}")
        return low, high
    return int(_number({"retry_after": value}, "retry_after", where, default=1, low=0, high=3600)), None


def _tenant(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultConfigError(f"{where}.tenant_id must be a tenant id string")
    return value.lower()


def _number(data: dict[str, Any], name: str, where: str, *, default: float, low: float, high: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultConfigError(f"{where}.{name} must be a number between {low} and {high}, got {value!r}")
    return float(value)


class FaultInjector:
    def __init__(self, counters: Counters | None = None, *, seed: int = 1) -> None:
        self._counters = counters or Counters()
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.latency_ms = 0.0
        self.jitter_ms = 0.0

    def configure(self, body: Any) -> None:
        """Replace the whole configuration (``PUT`` semantics); nothing changes if any field is bad."""
        if not isinstance(body, dict):
            raise FaultConfigError("the faults body must be a JSON object")
        raw_rules = body.get("rules", [])
        if not isinstance(raw_rules, list):
            raise FaultConfigError("rules must be a list")
        rules = [FaultRule.from_json(item, i) for i, item in enumerate(raw_rules)]
        latency = _number(body, "latency_ms", "faults", default=0.0, low=0.0, high=60_000.0)
        jitter = _number(body, "jitter_ms", "faults", default=0.0, low=0.0, high=60_000.0)
        seed = body.get("seed", 1)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise FaultConfigError(f"faults.seed must be an integer, got {seed!r}")
        self.rules, self.latency_ms, self.jitter_ms = rules, latency, jitter
        self._rng.seed(seed)

    def clear(self) -> None:
        self.rules = []
        self.latency_ms = self.jitter_ms = 0.0

    def for_route(self, route: str, tenant_id: str | None) -> FaultDecision | None:
        """Roll the dice for one request; count and return the fault to inject, if any."""
        if not self.rules:
            return None
        for rule in self.rules:
            if rule.count == 0 or not rule.matches(route, tenant_id):
                continue
            roll = self._rng.random()
            for name, kind in _PROBABILITIES:
                roll -= getattr(rule, name)
                if roll < 0:
                    if rule.count is not None:
                        rule.count -= 1
                    self._counters.faults[f"{kind}|{route}"] += 1
                    wait = rule.retry_after
                    if rule.retry_after_max is not None:
                        wait = self._rng.randint(rule.retry_after, rule.retry_after_max)
                    return FaultDecision(kind, wait, rule.slow_seconds)
        return None

    def latency_seconds(self) -> float:
        """The extra delay for one API request (fixed + uniform jitter), 0 when none is set."""
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        return (self.latency_ms + self._rng.uniform(0, self.jitter_ms)) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [_rule_json(rule) for rule in self.rules],
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
        }


def _rule_json(rule: FaultRule) -> dict[str, Any]:
    body = {name: value for name, value in rule.__dict__.items() if name != "retry_after_max"}
    if rule.retry_after_max is not None:
        body["retry_after"] = [rule.retry_after, rule.retry_after_max]
    return body
