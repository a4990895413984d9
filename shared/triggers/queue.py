"""Queue trigger: one tenant job from ``tenant-jobs``. Thin: all work is ``shared.ingest.worker.handle_message``.

What the host does with the outcome (host.json ``extensions.queues``, docs/microsoft-apis.md §Queue trigger):

- returns normally: the message is deleted. This includes unknown or disabled tenants, consent / role /
  cloud problems (recorded in the tenant's health), throttling (the job was already put back on the
  queue with a delay equal to Defender's ``Retry-After``, so no dequeue is burnt and the wait is the one
  Defender asked for), and a lease held by another worker (the job was put back until that lease ends).
- raises: the host makes the message visible again after ``visibilityTimeout`` and, at
  ``maxDequeueCount``, moves it to ``tenant-jobs-poison``. That is what happens to a malformed message
  (logged with the field at fault) and to transient failures (Defender or Entra ID unavailable, a sink
  down): the checkpoint did not move past what was delivered, so the retry loses nothing.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.bootstrap import get_services
from shared.domain.errors import ValidationError
from shared.ingest.worker import handle_message
from shared.platform.storage import CONNECTION_SETTING, JOBS_QUEUE

logger = logging.getLogger("defender_relay.triggers.queue")

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions 1.26 leaves __init__ unannotated


@bp.function_name("ingest_tenant_job")
@bp.queue_trigger(arg_name="msg", queue_name=JOBS_QUEUE, connection=CONNECTION_SETTING)
def ingest_tenant_job(msg: func.QueueMessage) -> None:
    services = get_services()
    try:
        handle_message(msg.get_body(), deps=services.ingest_deps, requeue=services.requeue)
    except ValidationError as exc:
        logger.error(
            "malformed job message id=%s dequeue_count=%s (goes to %s-poison after the last retry): %s",
            msg.id,
            msg.dequeue_count,
            JOBS_QUEUE,
            exc.message,
        )
        raise
