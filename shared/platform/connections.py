"""Storage connection choice: a connection string (Azurite, local runs) or an identity-based
connection (Azure), decided in one place from the same settings the Functions host reads.

The host's rules (reference §5): `AzureWebJobsStorage` holds a connection string; otherwise
`AzureWebJobsStorage__accountName` or `AzureWebJobsStorage__tableServiceUri` name the account
and `AzureWebJobsStorage__credential=managedidentity` with `AzureWebJobsStorage__clientId`
select a (user-assigned) managed identity.

Each client's SDK (and azure-identity) is imported when a client is first made, not with this
module: a worker that only answers `check` never loads the blob SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.platform.settings import STORAGE_CONNECTION, SettingsError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient


@dataclass(frozen=True)
class StorageConnection:
    connection_string: str = ""
    table_service_uri: str = ""
    queue_service_uri: str = ""
    blob_service_uri: str = ""
    credential: str = ""
    client_id: str = ""

    @property
    def uses_identity(self) -> bool:
        return not self.connection_string


def _setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def storage_connection(
    env: Mapping[str, str] | None = None, name: str = STORAGE_CONNECTION
) -> StorageConnection:
    """The storage account named by a connection setting, resolved as the Functions host does:
    a connection string in `<name>` (or `AzureWebJobs<name>`), else an identity-based connection
    from `<name>__tableServiceUri` / `__queueServiceUri` (alias `__serviceUri`) /
    `__accountName`, with optional `__credential=managedidentity` and `__clientId`."""
    env = os.environ if env is None else env
    for setting in (name, f"AzureWebJobs{name}"):
        if conn := _setting(env, setting):
            return StorageConnection(connection_string=conn)
    prefix = name + "__"
    account = _setting(env, prefix + "accountName")
    uri = _setting(env, prefix + "tableServiceUri")
    queue_uri = _setting(env, prefix + "queueServiceUri") or _setting(env, prefix + "serviceUri")
    blob_uri = _setting(env, prefix + "blobServiceUri")
    if not uri and account:
        uri = f"https://{account}.table.core.windows.net"
    if not queue_uri and account:
        queue_uri = f"https://{account}.queue.core.windows.net"
    if not blob_uri and account:
        blob_uri = f"https://{account}.blob.core.windows.net"
    if not uri and not queue_uri:
        raise SettingsError(
            f"No storage connection: set {name} to a connection string, or "
            f"{prefix}accountName / {prefix}tableServiceUri for an identity-based connection"
        )
    return StorageConnection(
        table_service_uri=uri.rstrip("/"),
        queue_service_uri=queue_uri.rstrip("/"),
        blob_service_uri=blob_uri.rstrip("/"),
        credential=_setting(env, prefix + "credential"),
        client_id=_setting(env, prefix + "clientId"),
    )


def _token_credential(conn: StorageConnection) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if conn.credential.lower() == "managedidentity":
        if conn.client_id:
            return ManagedIdentityCredential(client_id=conn.client_id)
        return ManagedIdentityCredential()
    return DefaultAzureCredential()


def table_service_client(
    env: Mapping[str, str] | None = None, **client_kwargs: Any
) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    conn = storage_connection(env)
    if not conn.connection_string and not conn.table_service_uri:
        raise SettingsError(f"No table endpoint: set {STORAGE_CONNECTION}__tableServiceUri")
    if conn.connection_string:
        return TableServiceClient.from_connection_string(conn.connection_string, **client_kwargs)
    return TableServiceClient(
        endpoint=conn.table_service_uri, credential=_token_credential(conn), **client_kwargs
    )


# Azurite 3.35 (what `make run` and the tests use) serves queue and blob API versions up to this
# one; Azure serves it too. The SDKs' own defaults are newer than Azurite knows.
QUEUE_API_VERSION = "2025-11-05"
BLOB_API_VERSION = "2025-11-05"


def queue_service_client(
    env: Mapping[str, str] | None = None, name: str = STORAGE_CONNECTION, **client_kwargs: Any
) -> QueueServiceClient:
    from azure.storage.queue import QueueServiceClient

    conn = storage_connection(env, name)
    client_kwargs.setdefault("api_version", QUEUE_API_VERSION)
    if conn.connection_string:
        return QueueServiceClient.from_connection_string(conn.connection_string, **client_kwargs)
    if not conn.queue_service_uri:
        raise SettingsError(f"No queue endpoint: set {name}__queueServiceUri or __accountName")
    return QueueServiceClient(
        account_url=conn.queue_service_uri, credential=_token_credential(conn), **client_kwargs
    )


def blob_service_client(
    env: Mapping[str, str] | None = None, **client_kwargs: Any
) -> BlobServiceClient:
    """Blob service of the app's storage account (the Event Grid dead-letter container)."""
    from azure.storage.blob import BlobServiceClient

    conn = storage_connection(env)
    client_kwargs.setdefault("api_version", BLOB_API_VERSION)
    if conn.connection_string:
        return BlobServiceClient.from_connection_string(conn.connection_string, **client_kwargs)
    if not conn.blob_service_uri:
        raise SettingsError(
            f"No blob endpoint: set {STORAGE_CONNECTION}__blobServiceUri or __accountName"
        )
    return BlobServiceClient(
        account_url=conn.blob_service_uri, credential=_token_credential(conn), **client_kwargs
    )
