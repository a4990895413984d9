"""Timer trigger: the retention purge (``RELAY_PURGE_SCHEDULE``, NCRONTAB, UTC, hourly by default). Thin: all
work is ``Services.run_purge`` (``shared.actions.retention``).

Like the sweep it is a singleton across instances (the timer's blob lock) and ``use_monitor`` makes up a
run missed during a restart once. A run is bounded in rows and time; what it leaves is the next run's. A
failure is logged by the host and retried by the next run: expired rows do no harm while they wait.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import get_services

logger = logging.getLogger("defender_relay.triggers.retention")

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions 1.26 leaves __init__ unannotated


@bp.function_name("retention_purge")
@bp.timer_trigger(arg_name="timer", schedule="%RELAY_PURGE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def retention_purge(timer: func.TimerRequest) -> None:
    result = get_services().run_purge()
    if not result.complete:
        logger.warning("retention purge stopped at its bound after %d rows; the next run continues", result.deleted)
