"""Timer trigger: the sweep (``RELAY_SWEEP_SCHEDULE``, NCRONTAB, UTC). Thin: all work is ``Services.run_sweep``.

The timer is a singleton across instances (a blob lock in ``AzureWebJobsStorage``); ``use_monitor``
records schedule status so a run missed during a restart is made up once
(docs/microsoft-apis.md §Timer trigger). ``run_on_startup`` stays off: it would sweep on every scale-out
and restart.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import get_services

logger = logging.getLogger("defender_relay.triggers.timer")

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions 1.26 leaves __init__ unannotated


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule="%RELAY_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logger.warning("sweep timer is past due (a run was missed, e.g. during a restart); sweeping now")
    get_services().run_sweep()
