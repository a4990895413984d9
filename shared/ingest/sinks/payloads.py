"""``BlobPayloads``: the claim-check store for items too large for an envelope, one blob per item version in
``defender-payloads``."""

from __future__ import annotations

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

from shared.domain.envelope import EventItem, payload_path
from shared.domain.errors import DeliveryError


class BlobPayloads:
    """Claim-check store: one blob per oversize item version in ``defender-payloads``."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def __call__(self, item: EventItem, body: bytes) -> str:
        name = payload_path(item)
        try:
            self._container.upload_blob(name, body, overwrite=True)
        except AzureError as exc:
            raise DeliveryError(f"could not store payload of {item.kind} {item.id}: {type(exc).__name__}") from exc
        return f"{self._container.container_name}/{name}"
