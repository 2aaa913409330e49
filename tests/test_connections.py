"""The storage connection choice (shared/platform/connections.py): a connection string for Azurite
and local runs, an identity-based connection in Azure. No network: clients and credentials are only
constructed, never used.
"""

from __future__ import annotations

from typing import Any

import azure.identity
import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from devhost.testing import ACCOUNT, ACCOUNT_KEY
from shared.platform.connections import StorageConnection, storage_connection, table_service_client
from shared.platform.settings import STORAGE_CONNECTION, SettingsError

PREFIX = STORAGE_CONNECTION + "__"
CLIENT_ID = "00000000-1111-2222-3333-444444444444"
AZURITE = (
    "DefaultEndpointsProtocol=http;"
    f"AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
    f"TableEndpoint=http://127.0.0.1:10102/{ACCOUNT};"
)
# What the Bicep template sets in Azure (infra/function-app.bicep).
AZURE_SETTINGS = {
    PREFIX + "accountName": "stexample",
    PREFIX + "blobServiceUri": "https://stexample.blob.core.windows.net",
    PREFIX + "queueServiceUri": "https://stexample.queue.core.windows.net",
    PREFIX + "tableServiceUri": "https://stexample.table.core.windows.net",
    PREFIX + "credential": "managedidentity",
    PREFIX + "clientId": CLIENT_ID,
}


class RecordingManagedIdentityCredential(ManagedIdentityCredential):
    """A real ManagedIdentityCredential that remembers how it was made."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        super().__init__(**kwargs)


@pytest.fixture(autouse=True)
def _no_ambient_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep credential construction independent of the machine's environment.
    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(
        azure.identity, "ManagedIdentityCredential", RecordingManagedIdentityCredential
    )


# --- storage_connection: the decision -----------------------------------------------------------


def test_connection_string_is_used_when_set() -> None:
    conn = storage_connection({STORAGE_CONNECTION: AZURITE})
    assert conn == StorageConnection(connection_string=AZURITE)
    assert not conn.uses_identity


def test_connection_string_wins_over_identity_settings() -> None:
    conn = storage_connection({STORAGE_CONNECTION: AZURITE, **AZURE_SETTINGS})
    assert conn.connection_string == AZURITE
    assert conn.table_service_uri == ""
    assert not conn.uses_identity


def test_blank_connection_string_falls_back_to_identity() -> None:
    conn = storage_connection({STORAGE_CONNECTION: "  ", **AZURE_SETTINGS})
    assert conn.uses_identity
    assert conn.table_service_uri == "https://stexample.table.core.windows.net"


def test_account_name_gives_the_public_table_endpoint() -> None:
    conn = storage_connection({PREFIX + "accountName": "stexample"})
    assert conn.uses_identity
    assert conn.table_service_uri == "https://stexample.table.core.windows.net"
    assert conn.credential == ""
    assert conn.client_id == ""


def test_table_service_uri_wins_over_account_name() -> None:
    conn = storage_connection(
        {
            PREFIX + "accountName": "stexample",
            PREFIX + "tableServiceUri": "https://other.table.core.usgovcloudapi.net/",
        }
    )
    assert conn.table_service_uri == "https://other.table.core.usgovcloudapi.net"


def test_identity_settings_as_the_template_sets_them() -> None:
    conn = storage_connection(AZURE_SETTINGS)
    assert conn == StorageConnection(
        table_service_uri="https://stexample.table.core.windows.net",
        queue_service_uri="https://stexample.queue.core.windows.net",
        blob_service_uri="https://stexample.blob.core.windows.net",
        credential="managedidentity",
        client_id=CLIENT_ID,
    )


def test_neither_setting_is_a_clear_error() -> None:
    with pytest.raises(SettingsError) as err:
        storage_connection({PREFIX + "credential": "managedidentity"})
    message = str(err.value)
    assert STORAGE_CONNECTION in message
    assert PREFIX + "accountName" in message
    assert PREFIX + "tableServiceUri" in message


def test_other_connection_names_use_their_own_prefix() -> None:
    env = {"Other__accountName": "stother", PREFIX + "accountName": "stexample"}
    conn = storage_connection(env, name="Other")
    assert conn.table_service_uri == "https://stother.table.core.windows.net"


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_CONNECTION, raising=False)
    monkeypatch.delenv(PREFIX + "tableServiceUri", raising=False)
    monkeypatch.setenv(PREFIX + "accountName", "stfromenv")
    assert storage_connection().table_service_uri == "https://stfromenv.table.core.windows.net"


# --- table_service_client: the client it makes ---------------------------------------------------


def test_client_from_azurite_connection_string() -> None:
    client = table_service_client({STORAGE_CONNECTION: AZURITE})
    assert isinstance(client, TableServiceClient)
    assert client.url == f"http://127.0.0.1:10102/{ACCOUNT}"
    assert isinstance(client.credential, AzureNamedKeyCredential)
    assert client.credential.named_key.name == ACCOUNT


def test_client_from_use_development_storage_shortcut() -> None:
    # local.settings.sample.json uses the shortcut; azure-data-tables expands it to Azurite.
    client = table_service_client({STORAGE_CONNECTION: "UseDevelopmentStorage=true"})
    assert client.url == f"http://127.0.0.1:10002/{ACCOUNT}"
    assert client.account_name == ACCOUNT
    assert isinstance(client.credential, AzureNamedKeyCredential)


def test_client_with_user_assigned_managed_identity() -> None:
    client = table_service_client(AZURE_SETTINGS)
    assert client.url == "https://stexample.table.core.windows.net"
    assert client.account_name == "stexample"
    credential = client.credential
    assert isinstance(credential, ManagedIdentityCredential)
    assert isinstance(credential, RecordingManagedIdentityCredential)
    assert credential.kwargs == {"client_id": CLIENT_ID}


def test_managed_identity_credential_setting_is_case_insensitive() -> None:
    env = {**AZURE_SETTINGS, PREFIX + "credential": "ManagedIdentity"}
    credential = table_service_client(env).credential
    assert isinstance(credential, RecordingManagedIdentityCredential)
    assert credential.kwargs == {"client_id": CLIENT_ID}


def test_system_assigned_identity_without_client_id() -> None:
    env = {PREFIX + "accountName": "stexample", PREFIX + "credential": "managedidentity"}
    credential = table_service_client(env).credential
    assert isinstance(credential, RecordingManagedIdentityCredential)
    assert credential.kwargs == {}


def test_default_azure_credential_without_credential_setting() -> None:
    # E.g. a developer pointing at a real account with `az login`.
    credential = table_service_client({PREFIX + "accountName": "stexample"}).credential
    assert isinstance(credential, DefaultAzureCredential)


def test_client_kwargs_are_passed_through() -> None:
    client = table_service_client({STORAGE_CONNECTION: AZURITE}, api_version="2019-02-02")
    assert client.api_version == "2019-02-02"


# --- queue_service_client (poison replay) -------------------------------------------------------


def test_queue_client_from_connection_string() -> None:
    from shared.platform.connections import QUEUE_API_VERSION, queue_service_client

    conn = AZURITE + f"QueueEndpoint=http://127.0.0.1:10101/{ACCOUNT};"
    client = queue_service_client({STORAGE_CONNECTION: conn})
    assert client.url.startswith("http://127.0.0.1:10101/")
    assert client.api_version == QUEUE_API_VERSION


def test_queue_client_with_managed_identity() -> None:
    from shared.platform.connections import queue_service_client

    client = queue_service_client(dict(AZURE_SETTINGS))
    assert client.url.startswith("https://stexample.queue.core.windows.net")
    assert isinstance(client.credential, RecordingManagedIdentityCredential)
    assert client.credential.kwargs == {"client_id": CLIENT_ID}
    account_only = {PREFIX + "accountName": "stother", PREFIX + "credential": "managedidentity"}
    assert queue_service_client(account_only).url.startswith(
        "https://stother.queue.core.windows.net"
    )


# --- blob_service_client (dead-letter replay) ---------------------------------------------------


def test_blob_client_from_connection_string() -> None:
    from shared.platform.connections import BLOB_API_VERSION, blob_service_client

    conn = AZURITE + f"BlobEndpoint=http://127.0.0.1:10100/{ACCOUNT};"
    client = blob_service_client({STORAGE_CONNECTION: conn})
    assert client.url.startswith("http://127.0.0.1:10100/")
    assert client.api_version == BLOB_API_VERSION


def test_blob_client_with_managed_identity() -> None:
    from shared.platform.connections import blob_service_client

    client = blob_service_client(dict(AZURE_SETTINGS))
    assert client.url.startswith("https://stexample.blob.core.windows.net")
    assert isinstance(client.credential, RecordingManagedIdentityCredential)
    assert client.credential.kwargs == {"client_id": CLIENT_ID}
    account_only = {PREFIX + "accountName": "stother", PREFIX + "credential": "managedidentity"}
    assert blob_service_client(account_only).url.startswith("https://stother.blob.core.windows.net")
    table_only = {PREFIX + "tableServiceUri": "https://stx.table.core.windows.net"}
    with pytest.raises(SettingsError, match="blobServiceUri"):
        blob_service_client(table_only)
