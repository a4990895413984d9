"""Azure Storage clients, built once per process (docs/contracts.md §3-§4).

The connection comes from ``AzureWebJobsStorage`` like the Functions host's own: a connection string,
or identity-based settings ``AzureWebJobsStorage__queueServiceUri`` / ``__tableServiceUri`` /
``__blobServiceUri`` (+ ``__credential=managedidentity`` and ``__clientId`` for a user-assigned
identity). Service clients are thread-safe and pool their connections, so one ``StorageClients``
serves every invocation of a worker process.

Queues carrying JSON for a Functions queue trigger use base64 (the host's default ``messageEncoding``;
azure-storage-queue's own default is no encoding, and a plain message would be moved to poison):
docs/microsoft-apis.md §Queue trigger.
"""

from __future__ import annotations

import contextlib
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import (
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from shared.domain.errors import ConfigError
from shared.platform.settings import StorageSettings

CONNECTION_SETTING: Final = "AzureWebJobsStorage"


JOBS_QUEUE: Final = "tenant-jobs"


INDICATOR_JOBS_QUEUE: Final = "indicator-jobs"  # indicator fan-outs and per-tenant runs (shared/indicators/jobs.py)


HUNT_JOBS_QUEUE: Final = "hunt-jobs"  # one message per (hunt, tenant): shared/hunting/job.py


EVENTS_QUEUE: Final = "defender-events"


PAYLOADS_CONTAINER: Final = "defender-payloads"


HUNT_RESULTS_CONTAINER: Final = "hunt-results"  # each tenant's rows of a hunt: shared/hunting/results.py


ARCHIVE_CONTAINER: Final = "defender-archive"


CHECKPOINTS_TABLE: Final = "checkpoints"


TENANTS_TABLE: Final = "tenants"


@dataclass(frozen=True)
class StorageClients:
    queues: QueueServiceClient
    tables: TableServiceClient
    blobs: BlobServiceClient

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageClients:
        transport = _shared_transport()
        return cls(
            queues=QueueServiceClient.from_connection_string(connection_string, **transport),
            tables=TableServiceClient.from_connection_string(connection_string, **transport),
            blobs=BlobServiceClient.from_connection_string(connection_string, **transport),
        )

    @classmethod
    def from_settings(cls, storage: StorageSettings) -> StorageClients:
        """Connection string, or identity-based service URIs, like the Functions host reads them."""
        if storage.connection_string:
            return cls.from_connection_string(storage.connection_string)
        uris = {
            "queue": storage.queue_service_uri,
            "table": storage.table_service_uri,
            "blob": storage.blob_service_uri,
        }
        missing = [f"{CONNECTION_SETTING}__{kind}ServiceUri" for kind, uri in uris.items() if not uri]
        if missing:
            problem = f"set a connection string, or identity-based settings ({', '.join(missing)} missing)"
            raise ConfigError([f"{CONNECTION_SETTING}: {problem}"])
        credential = _identity_credential(storage)
        transport = _shared_transport()
        return cls(
            queues=QueueServiceClient(str(uris["queue"]), credential=credential, **transport),
            tables=TableServiceClient(str(uris["table"]), credential=credential, **transport),
            blobs=BlobServiceClient(str(uris["blob"]), credential=credential, **transport),
        )

    def queue(self, name: str) -> QueueClient:
        """A queue whose messages are base64 text, readable by a Functions queue trigger."""
        return self.queues.get_queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )

    def table(self, name: str) -> TableClient:
        return self.tables.get_table_client(name)

    def container(self, name: str) -> ContainerClient:
        return self.blobs.get_container_client(name)

    def ensure(
        self, *, queues: tuple[str, ...] = (), tables: tuple[str, ...] = (), containers: tuple[str, ...] = ()
    ) -> None:
        """Create what is missing; existing resources are left alone (safe to call at every start)."""
        for name in queues:
            _ignore_exists(self.queues.get_queue_client(name).create_queue)
        for name in tables:
            _ignore_exists(self.tables.get_table_client(name).create_table)
        for name in containers:
            _ignore_exists(self.blobs.get_container_client(name).create_container)


def _ignore_exists(create: Any) -> None:
    with contextlib.suppress(ResourceExistsError):
        create()


def _shared_transport() -> dict[str, Any]:
    """One pooled HTTP transport for the three services, reading proxy settings once instead of per call.

    azure-core's default transport lets requests scan ``os.environ`` on every call (a measurable share
    of a job's CPU with a Functions app's hundred settings). With no proxy configured nothing is lost by
    resolving it once; with a proxy the SDK default is kept.
    """
    if urllib.request.getproxies():
        return {}
    from azure.core.pipeline.transport import RequestsTransport

    from shared.platform.sessions import TimeoutSession

    session = TimeoutSession(pool_size=64)
    return {"transport": RequestsTransport(session=session, session_owner=False, use_env_settings=False)}


def _identity_credential(storage: StorageSettings) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    client_id = storage.client_id or None
    if (storage.credential or "").lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)
