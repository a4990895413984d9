"""``LeaseKeeper``: the heartbeat of a job's (tenant, feed) lease, and the one writer of it while the job runs.

The lease is short (``RELAY_LEASE_SECONDS``, 60 s by default) so that a worker that died is noticed
within a minute: another job can take the feed over as soon as the lease lapses. A live job must then
never let it lapse, however long one page takes (Defender's short throttling waits happen in place, a
webhook may answer slowly): a daemon thread renews the lease every third of its duration, so one
missed beat (a slow Table write) is survived.

Each conditional write on the checkpoint entity needs the ETag the previous write returned, so the
heartbeat and the job's own writes (a page's progress, the final release) take turns under one lock
and always use the latest claim. The heartbeat stops renewing after ``max_hold`` (the Functions
``functionTimeout``: the host kills an invocation that runs longer), so a hung job cannot keep a feed
from everyone else; page saves still extend the lease of a job that is making progress.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from shared.domain.checkpoint import Checkpoint, Claim
from shared.domain.errors import LeaseHeldError
from shared.ingest.checkpoint_table import CheckpointStore

logger = logging.getLogger("defender_relay.ingest.lease")

MAX_HOLD = timedelta(minutes=10)  # host.json functionTimeout


class LeaseKeeper:
    def __init__(
        self,
        store: CheckpointStore,
        claim: Claim,
        *,
        duration: timedelta,
        interval: timedelta | None = None,
        max_hold: timedelta = MAX_HOLD,
    ) -> None:
        self._store = store
        self._claim = claim
        self._duration = duration
        self._interval = (interval or duration / 3).total_seconds()
        self._max_hold = max_hold.total_seconds()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{claim.feed}", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    @property
    def claim(self) -> Claim:
        with self._lock:
            return self._claim

    def save(self, checkpoint: Checkpoint) -> Claim:
        """Persist a page's progress (extending the lease); ``LeaseHeldError`` if it was taken over."""
        with self._lock:
            self._claim = self._store.save(self._claim, checkpoint, duration=self._duration)
            return self._claim

    def release(self, checkpoint: Checkpoint | None = None) -> None:
        """Stop the heartbeat, then free the lease (saving ``checkpoint`` in the same write, if given)."""
        self.stop()
        with self._lock:
            self._store.release(self._claim, checkpoint)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)  # at most one renewal in flight, bounded by the client's timeouts

    def _beat(self) -> None:
        give_up = time.monotonic() + self._max_hold
        while not self._stopped.wait(self._interval):
            if time.monotonic() >= give_up:
                logger.warning(
                    "lease on %s/%s no longer renewed: the job ran past %d s", *self._where(), self._max_hold
                )
                return
            with self._lock:
                if self._stopped.is_set():
                    return  # released meanwhile: renewing now would take the lease again
                try:
                    self._claim = self._store.renew(self._claim, duration=self._duration)
                except LeaseHeldError:
                    # Taken over (this job stalled past its lease): its next save fails on the ETag, so it
                    # cannot move the cursor; nothing more to keep alive.
                    logger.warning("lease on %s/%s was taken over while the job ran", *self._where())
                    return
                except Exception as exc:  # a Storage hiccup: the next beat tries again, within the lease
                    logger.warning("lease on %s/%s not renewed: %s", *self._where(), type(exc).__name__)

    def _where(self) -> tuple[str, str]:
        return self._claim.tenant_id, self._claim.feed
