"""Queue trigger: one message of ``indicator-jobs`` (a fan-out, or one tenant of an indicator job). Thin: all
work is ``shared.indicators.worker.IndicatorWorker.handle``.

What the host does with the outcome (host.json ``extensions.queues``, docs/microsoft-apis.md §Queue trigger):
returning deletes the message, including a tenant's final failure (recorded in the job's results) and a
throttle hand-back (the message was put back with Defender's ``Retry-After``); raising makes it visible
again after ``visibilityTimeout``, and at ``maxDequeueCount`` moves it to ``indicator-jobs-poison``: a
malformed message, a fan-out that failed halfway (its retry queues the rest), Defender or Entra ID
unavailable (the tenant's result says ``retrying`` meanwhile).
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import get_services
from shared.domain.errors import ValidationError
from shared.platform.storage import CONNECTION_SETTING, INDICATOR_JOBS_QUEUE

logger = logging.getLogger("defender_relay.triggers.indicators")

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions 1.26 leaves __init__ unannotated


@bp.function_name("indicator_job")
@bp.queue_trigger(arg_name="msg", queue_name=INDICATOR_JOBS_QUEUE, connection=CONNECTION_SETTING)
def indicator_job(msg: func.QueueMessage) -> None:
    try:
        get_services().indicator_worker.handle(msg.get_body())
    except ValidationError as exc:
        logger.error(
            "malformed indicator job message id=%s dequeue_count=%s (goes to %s-poison after the last retry): %s",
            msg.id, msg.dequeue_count, INDICATOR_JOBS_QUEUE, exc.message,
        )  # fmt: skip
        raise
