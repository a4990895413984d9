"""Per (tenant, app, route) sliding windows: what a client hammering one tenant sees."""

from __future__ import annotations

from emulator.defender.ratelimit import Limits, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(**limits: int) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(Limits(**limits), now=clock), clock  # type: ignore[arg-type]


def test_the_101st_call_in_a_minute_is_refused_until_the_first_leaves_the_window() -> None:
    # GIVEN the documented 100 calls/min, spread over 25 seconds
    rate, clock = limiter()
    for _ in range(100):
        assert rate.check("t1", "app", "alerts") is None
        clock.now += 0.25
    # WHEN one more call comes
    refused = rate.check("t1", "app", "alerts")
    # THEN it is refused with the observed message and the wait until the oldest call is a minute old
    assert refused is not None
    assert refused.message == "API calls quota exceeded! maximum allowed 100 per 00:01:00"
    assert refused.retry_after == 35
    clock.now += 35
    assert rate.check("t1", "app", "alerts") is None


def test_refused_calls_do_not_extend_the_wait() -> None:
    rate, clock = limiter(per_minute=2)
    rate.check("t1", "app", "alerts")
    rate.check("t1", "app", "alerts")
    for _ in range(10):
        assert rate.check("t1", "app", "alerts") is not None
    clock.now += 60
    assert rate.check("t1", "app", "alerts") is None


def test_windows_are_per_tenant_app_and_route() -> None:
    rate, _ = limiter(per_minute=1)
    assert rate.check("t1", "app", "alerts") is None
    assert rate.check("t1", "app", "alerts") is not None
    assert rate.check("t2", "app", "alerts") is None
    assert rate.check("t1", "other-app", "alerts") is None
    assert rate.check("t1", "app", "machines") is None


def test_the_hour_window_caps_a_steady_client() -> None:
    # GIVEN 1,500 calls, each minute below the per-minute limit
    rate, clock = limiter(per_minute=100, per_hour=1500)
    for _ in range(1500):
        assert rate.check("t1", "app", "alerts") is None
        clock.now += 1.0
    # WHEN the 1,501st comes within the hour
    refused = rate.check("t1", "app", "alerts")
    # THEN the hour limit answers, with the wait until the first call is an hour old
    assert refused is not None
    assert refused.message == "API calls quota exceeded! maximum allowed 1500 per 01:00:00"
    assert refused.retry_after == 3600 - 1500


def test_incidents_list_has_its_lower_limit() -> None:
    rate, _ = limiter()
    for _ in range(50):
        assert rate.check("t1", "app", "incidents") is None
    refused = rate.check("t1", "app", "incidents")
    assert refused is not None
    assert "maximum allowed 50 per 00:01:00" in refused.message


def test_disabled_limits_never_refuse_and_reset_forgets() -> None:
    rate, _ = limiter(per_minute=1)
    rate.check("t1", "app", "alerts")
    rate.reset()
    assert rate.check("t1", "app", "alerts") is None
    rate.limits.enabled = False
    assert all(rate.check("t1", "app", "alerts") is None for _ in range(5))
