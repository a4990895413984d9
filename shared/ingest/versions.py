"""Which versions of a page are new: the dedup step of the worker (docs/ingestion.md "The flow", step 4).

A version is ``(id, change time)`` exactly as the API wrote it. It is a repeat when the checkpoint's
``seen`` keys hold it (delivered inside the overlap window), or, right after ``migrate``, when the retired
predecessor feed delivered it: the handover keys are ``(provider id, change time to the microsecond)``,
the provider id being a Graph alert's ``providerAlertId`` (an MDE alert's own id) or a Graph incident's
``id`` (the XDR ``incidentId``), because the two APIs name an item differently; after ``migrate --rollback``
the same on the MDE/XDR side (an MDE alert's ``id``, an XDR incident's ``incidentId``: ``FeedSpec.provider_id_field``).

A Graph feed that has a predecessor also keeps ``provider_key`` (``"provider:" + provider id``, change time)
in ``seen`` for an item whose provider id is not its own id (a Graph alert's ``id`` is not documented to
equal its ``providerAlertId``), so that ``migrate --rollback`` can hand the MDE feed what Graph delivered
inside the overlap. The prefix keeps it from ever matching an item's own key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.domain.catalogue import FEED_SPECS, FeedSpec, predecessor
from shared.domain.checkpoint import SeenKey, handover_key, provider_key
from shared.domain.envelope import EventItem, event_item
from shared.domain.job import Job

logger = logging.getLogger("defender_relay.ingest")


def new_versions(
    job: Job, page: Iterable[dict[str, Any]], *, seen: set[SeenKey], handover: frozenset[SeenKey]
) -> tuple[list[EventItem], int]:
    """The page's versions not delivered yet (added to ``seen``), and how many repeats were dropped."""
    spec = FEED_SPECS[job.feed]
    keeps_provider = spec.provider_id_field != spec.id_field and predecessor(spec.name) is not None
    fresh: list[EventItem] = []
    repeats = 0
    for raw in page:
        item_id, version = raw.get(spec.id_field), raw.get(spec.time_field)
        if item_id is None or not isinstance(version, str):
            logger.warning(
                "tenant %s feed %s: item without %s/%s skipped", job.tenant_id, job.feed, spec.id_field, spec.time_field
            )
            continue
        key = (str(item_id), version)
        if key in seen or (handover and _handed_over(spec, raw, version, handover)):
            repeats += 1
            continue
        seen.add(key)
        provider = raw.get(spec.provider_id_field) if keeps_provider else None
        if provider is not None and str(provider) != key[0]:
            seen.add(provider_key(provider, version))  # what ``migrate --rollback`` hands the predecessor
        fresh.append(event_item(job.tenant_id, job.feed, raw, version))
    return fresh, repeats


def _handed_over(spec: FeedSpec, raw: dict[str, Any], version: str, handover: frozenset[SeenKey]) -> bool:
    """Did the feed this tenant was moved from deliver this version (same provider id and change time)?"""
    provider = raw.get(spec.provider_id_field)
    return provider is not None and handover_key(provider, version) in handover
