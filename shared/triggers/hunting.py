"""The hunting triggers: the ``hunt-jobs`` queue worker and the timer that starts saved hunts.

``hunt_tenant_job`` (queue trigger) runs one tenant's part of a hunt through ``shared.hunting.runner``. What the
host does with the outcome (host.json ``extensions.queues``): it returns normally for every outcome a tenant can
have (done, failed with its reason, skipped, throttled: the job was handed back with a delay) and raises only for
what a retry can heal (Graph or Entra ID unavailable, a storage failure) and for a malformed message, which the
host retries and then moves to ``hunt-jobs-poison``. The dequeue count is passed on, so the last attempt records
the tenant as failed instead of raising: every tenant of a hunt ends with an outcome.

``start_saved_hunts`` (timer, ``RELAY_HUNT_TIMER_SCHEDULE``) starts each saved hunt whose NCRONTAB has a slot
since its last run (shared/hunting/cron.py); a singleton across instances like every timer
(docs/microsoft-apis.md §Timer trigger).
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import get_services
from shared.domain.errors import ValidationError
from shared.hunting.runner import handle_hunt_message
from shared.platform.storage import CONNECTION_SETTING, HUNT_JOBS_QUEUE

logger = logging.getLogger("defender_relay.triggers.hunting")

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions 1.26 leaves __init__ unannotated


@bp.function_name("hunt_tenant_job")
@bp.queue_trigger(arg_name="msg", queue_name=HUNT_JOBS_QUEUE, connection=CONNECTION_SETTING)
def hunt_tenant_job(msg: func.QueueMessage) -> None:
    services = get_services()
    try:
        handle_hunt_message(msg.get_body(), deps=services.hunt_deps, dequeue_count=int(msg.dequeue_count or 1))
    except ValidationError as exc:
        logger.error(
            "malformed hunt job message id=%s dequeue_count=%s (goes to %s-poison after the last retry): %s",
            msg.id,
            msg.dequeue_count,
            HUNT_JOBS_QUEUE,
            exc.message,
        )
        raise


@bp.function_name("start_saved_hunts")
@bp.timer_trigger(arg_name="timer", schedule="%RELAY_HUNT_TIMER_SCHEDULE%", run_on_startup=False, use_monitor=True)
def start_saved_hunts(timer: func.TimerRequest) -> None:
    started = get_services().run_due_hunts()
    if started:
        logger.info("saved hunts started: %s", ", ".join(started))
