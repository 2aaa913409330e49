"""Checks on the Bicep templates in infra/, read offline with pycep-parser.

The templates are the deployment's contract with the code: these tests parse every `.bicep`
file and assert what must hold in Azure (shared keys off, only data roles plus the ACS role,
each on the one resource it is for, SMSReceived events to the `sms-inbound` queue, the app
settings the code reads). App settings are compared with names derived from the code, so a new
setting in the code fails here until the template provides it (or it is listed as optional).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from shared.platform import settings as app_settings

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = "main.bicep"
BICEP_FILES = sorted(p.name for p in INFRA.glob("*.bicep"))

# Built-in role definition ids (identical in every tenant; from Azure's built-in roles list).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_QUEUE_DATA_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# ACS authorizes Entra ID callers of its SMS API through this (resource-scoped) role; it has
# no narrower built-in role that can send SMS (see infra/README.md, "Why this ACS role").
COMMUNICATION_AND_EMAIL_SERVICE_OWNER = "09976791-48a7-449e-bb21-39d1a415f350"
EVENTGRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"

# role -> (type of the one resource it may be scoped to, who holds it)
APP_IDENTITY = ("identity", "outputs", "principalId")
TOPIC_IDENTITY = ("acs", "outputs", "systemTopicPrincipalId")
EXPECTED_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    STORAGE_BLOB_DATA_OWNER: ("Microsoft.Storage/storageAccounts", APP_IDENTITY),
    STORAGE_QUEUE_DATA_CONTRIBUTOR: ("Microsoft.Storage/storageAccounts", APP_IDENTITY),
    STORAGE_TABLE_DATA_CONTRIBUTOR: ("Microsoft.Storage/storageAccounts", APP_IDENTITY),
    MONITORING_METRICS_PUBLISHER: ("Microsoft.Insights/components", APP_IDENTITY),
    KEY_VAULT_SECRETS_USER: ("Microsoft.KeyVault/vaults", APP_IDENTITY),
    COMMUNICATION_AND_EMAIL_SERVICE_OWNER: (
        "Microsoft.Communication/communicationServices",
        APP_IDENTITY,
    ),
    STORAGE_QUEUE_DATA_MESSAGE_SENDER: (
        "Microsoft.Storage/storageAccounts/queueServices/queues",
        TOPIC_IDENTITY,
    ),
    # Event Grid dead-lettering with the topic identity: only on the dead-letter container.
    STORAGE_BLOB_DATA_CONTRIBUTOR: (
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        TOPIC_IDENTITY,
    ),
    EVENTGRID_DATA_SENDER: ("Microsoft.EventGrid/topics", APP_IDENTITY),
}
BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c4a72b9d": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}

INBOUND_QUEUE = "sms-inbound"
EVENTS_QUEUE = "sms-optout-events"
MIRROR_QUEUE = "optout-mirror"
SMS_RECEIVED = "Microsoft.Communication.SMSReceived"

# App settings. REQUIRED: the app cannot run in Azure without them, so the template must set
# them. OPTIONAL_NOT_PROVIDED: read by the code, deliberately left to their defaults (or, for
# AzureWebJobsStorage and ACS_CONNECTION_STRING, to local runs). PLATFORM: set by the template
# for the Functions host, Application Insights or azure-identity rather than for our code.
STORAGE = app_settings.STORAGE_CONNECTION
STORAGE_IDENTITY_SETTINGS = {
    f"{STORAGE}__accountName",
    f"{STORAGE}__blobServiceUri",
    f"{STORAGE}__queueServiceUri",
    f"{STORAGE}__tableServiceUri",
    f"{STORAGE}__credential",
    f"{STORAGE}__clientId",
}
REQUIRED = STORAGE_IDENTITY_SETTINGS | {"OPTOUT_ACCESS_KEYS", "ACS_ENDPOINT"}
OPTIONAL_NOT_PROVIDED = {
    STORAGE,
    f"{STORAGE}__serviceUri",  # the host's alias of __queueServiceUri (one resolver, shared)
    "ACS_CONNECTION_STRING",
    "OPTOUT_MAX_BODY_BYTES",
    "OPTOUT_CLOCK_SKEW_SECONDS",
    "PLAIN_LANGUAGE_OPTOUT",
    "REPLY_OPTOUT_TEXT",
    "REPLY_OPTIN_TEXT",
    "REPLY_HELP_TEXT",
    "SEND_DRY_RUN",  # never in Azure: a deployed app sends
    "SEND_CHECK_TIMEOUT_SECONDS",
    "SEND_CONNECT_TIMEOUT_SECONDS",
    "SEND_READ_TIMEOUT_SECONDS",
    "OPTOUT_EVENTS_QUEUE_NAME",
    "OPTOUT_EVENTS_SOURCE",
    "OPTOUT_EVENTS_TOPIC_NAME",
    "OPTOUT_EVENTS_TOPIC_KEY",
    "OPTOUT_EVENTS_SWEEP_GRACE_SECONDS",
}
PLATFORM = STORAGE_IDENTITY_SETTINGS | {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "PYTHON_THREADPOOL_THREAD_COUNT",  # read by the Python worker (local.settings.sample.json too)
}
# Microsoft's "Flex Consumption plan deprecations" (functions-app-settings.md): app settings that
# are replaced by functionAppConfig or not valid on Flex; plus the settings its Considerations
# list as unsupported (time zones, certificate loading); plus a storage connection string,
# which must never be used in Azure.
FLEX_DEPRECATED_SETTINGS = {
    "ENABLE_ORYX_BUILD",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_DNS_SERVER",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_VNET_ROUTE_ALL",
}
FLEX_UNSUPPORTED_SETTINGS = {"WEBSITE_TIME_ZONE", "TZ", "WEBSITE_LOAD_CERTIFICATES"}
FORBIDDEN_SETTINGS = FLEX_DEPRECATED_SETTINGS | FLEX_UNSUPPORTED_SETTINGS | {STORAGE}
# The same table's site properties (properties.* and properties.siteConfig.*).
FORBIDDEN_SITE_PROPERTIES = {
    "alwaysOn",
    "containerSize",
    "ftpsState",
    "isReserved",
    "isXenon",
    "javaVersion",
    "linuxFxVersion",
    "netFrameworkVersion",
    "powerShellVersion",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "use32BitWorkerProcess",
    "vnetBackupRestoreEnabled",
    "vnetContentShareEnabled",
    "vnetImagePullEnabled",
    "vnetRouteAllEnabled",
    "windowsFxVersion",
}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Reading the templates. pycep gives identifiers and string literals alike as Python strings;
# `resolve` treats a string that names a parameter or variable of its file as a reference,
# following a module parameter to the value main.bicep passes in.


@functools.cache
def parse(name: str) -> dict[str, Any]:
    tree = BicepParser().parse(file_path=INFRA / name)
    assert isinstance(tree, dict), f"{name} did not parse"
    return tree


def text(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


def unwrap(cfg: dict[str, Any]) -> dict[str, Any]:
    """The body of a declaration, under its `for` loop or `if` condition if it has one."""
    while "loop_type" in cfg or "condition" in cfg:
        cfg = cfg["config"]
    return cfg


def module_calls(name: str) -> list[tuple[str, dict[str, Any]]]:
    """(calling file, module config) for each module declaration that uses `name`."""
    calls = []
    for caller in BICEP_FILES:
        for module in parse(caller).get("modules", {}).values():
            if Path(module["detail"]["path"]).name == name:
                calls.append((caller, unwrap(module["config"])))
    return calls


def accessor_path(value: Any) -> tuple[str, ...] | None:
    """`a.b.c` (or `a::b::c`) as ("a", "b", "c"); None for anything else."""
    if isinstance(value, str):
        return (value,) if _IDENT.match(value) else None
    if not isinstance(value, dict) or "operator" not in value:
        return None
    op = value["operator"]
    if not isinstance(op, dict) or op.get("type") not in {
        "property_accessor",
        "nested_resource_accessor",
    }:
        return None
    head = op["operands"]["operand_1"]
    tail = accessor_path(op["operands"]["operand_2"])
    if not isinstance(head, str) or tail is None:
        return None
    return (head, *tail)


def resolve(name: str, value: Any, depth: int = 0) -> Any:
    """Best-effort constant folding of a pycep value in file `name`."""
    assert depth < 20, "reference cycle"
    tree = parse(name)
    if isinstance(value, str):
        if _IDENT.match(value):
            if value in tree.get("variables", {}):
                return resolve(name, tree["variables"][value]["value"], depth + 1)
            if value in tree.get("parameters", {}):
                return resolve_param(name, value, depth + 1)
            return value
        return _INTERP.sub(lambda m: str(resolve(name, m.group(1), depth + 1)), value)
    if isinstance(value, list):
        return [resolve(name, v, depth + 1) for v in value]
    path = accessor_path(value)
    if path is not None and len(path) > 1:
        base = resolve(name, path[0], depth + 1)
        for key in path[1:]:
            if not isinstance(base, dict) or key not in base:
                return value  # a resource or module output: not a constant
            base = resolve(name, base[key], depth + 1)
        return base
    if isinstance(value, dict):
        return {k: resolve(name, v, depth + 1) for k, v in value.items()}
    return value


def resolve_param(name: str, param: str, depth: int = 0) -> Any:
    calls = [(caller, cfg) for caller, cfg in module_calls(name) if param in cfg.get("params", {})]
    if len(calls) == 1:
        caller, cfg = calls[0]
        return resolve(caller, cfg["params"][param], depth + 1)
    default = parse(name)["parameters"][param].get("default")
    return param if default is None else resolve(name, default, depth + 1)


def caller_value(name: str, param: str) -> Any:
    """The raw expression main.bicep passes to parameter `param` of module file `name`."""
    calls = module_calls(name)
    assert len(calls) == 1, f"{name} should be used by exactly one module declaration"
    return calls[0][1]["params"][param]


def resources(name: str | None = None) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(file, symbolic name, resource, config) for every resource; loop bodies unwrapped."""
    for file in [name] if name else BICEP_FILES:
        for symbol, res in parse(file).get("resources", {}).items():
            yield file, symbol, res, unwrap(res["config"])


def resources_of_type(rtype: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    return [r for r in resources() if r[2]["type"] == rtype and not r[2]["existing"]]


def one_resource(rtype: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    found = resources_of_type(rtype)
    assert len(found) == 1, f"expected one {rtype}, found {[(f, s) for f, s, _, _ in found]}"
    return found[0]


def decorator(param: dict[str, Any], kind: str) -> Any:
    for dec in param.get("decorators", []):
        if dec["type"] == kind:
            return dec.get("argument", True)
    return None


def app_settings_config() -> tuple[str, dict[str, Any]]:
    found = [
        (file, cfg["properties"])
        for file, _, res, cfg in resources_of_type("Microsoft.Web/sites/config")
        if cfg["name"] == "appsettings"
    ]
    assert len(found) == 1, "expected one appsettings resource"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Reading the code: which settings it reads.

APP_CODE = [ROOT / "function_app.py", *sorted((ROOT / "shared").rglob("*.py"))]
_ENV_READ = re.compile(
    r"""(?:\benv(?:iron)?\.get|\bos\.getenv|\bos\.environ\.get)\(\s*["']([A-Za-z_]\w*)["']"""
    r"""|\benv(?:iron)?\[\s*["']([A-Za-z_]\w*)["']\s*\]"""
    # shared/platform/settings.py's reader: `r.text("NAME", ...)`, `r.integer("NAME", ...)`, ...
    r"""|\br\.(?:raw|text|boolean|integer|seconds|access_keys|acs_connection_string)\(\s*["']([A-Za-z_]\w*)["']"""
)
_PREFIX_READ = re.compile(r"""\bprefix\s*\+\s*["'](\w+)["']""")
# The same reader given a module constant (`r.raw(KEYS)` with `KEYS = "OPTOUT_KEYS"`).
_CONST_READ = re.compile(
    r"""\br\.(?:raw|text|boolean|integer|seconds|access_keys)\(\s*([A-Z_][A-Z0-9_]*)\s*[,)]"""
)
_CONST = re.compile(r"""(?m)^([A-Z_][A-Z0-9_]*)\s*(?::\s*\w+\s*)?=\s*["']([A-Za-z_]\w*)["']""")


def settings_read_by_code() -> set[str]:
    names: set[str] = set()
    for path in APP_CODE:
        if not path.exists():
            continue
        src = path.read_text(encoding="utf-8")
        names.update(next(g for g in groups if g) for groups in _ENV_READ.findall(src))
        constants = dict(_CONST.findall(src))
        for const in _CONST_READ.findall(src):
            assert const in constants, f"{path.name}: setting name {const} is not a constant here"
            names.add(constants[const])
        # shared/platform/connections.py: `prefix = name + "__"` with name defaulting to
        # STORAGE_CONNECTION, then `env.get(name)` and `env.get(prefix + "<key>")`.
        suffixes = _PREFIX_READ.findall(src)
        if suffixes:
            names.add(STORAGE)
            names.update(f"{STORAGE}__{s}" for s in suffixes)
    return names


# ---------------------------------------------------------------------------------------------
# Tests


def test_infra_has_the_expected_files() -> None:
    assert MAIN in BICEP_FILES
    assert (INFRA / "main.parameters.json").is_file()
    assert (ROOT / "azure.yaml").is_file()


@pytest.mark.parametrize("name", BICEP_FILES)
def test_bicep_parses(name: str) -> None:
    tree = parse(name)
    assert tree.get("resources") or tree.get("modules"), f"{name} declares nothing"


@pytest.mark.parametrize("name", BICEP_FILES)
def test_parser_sees_every_declaration(name: str) -> None:
    """pycep 0.7 drops sibling *nested* resources; declare children with `parent:` instead."""
    src = text(name)
    tree = parse(name)
    for keyword, key in (("resource", "resources"), ("module", "modules"), ("param", "parameters")):
        declared = re.findall(rf"(?m)^[ \t]*{keyword}[ \t]+(\w+)[ \t]", src)
        assert len(declared) == len(tree.get(key, {})), (keyword, declared, list(tree.get(key, {})))
    assert not re.search(r"(?m)^[ \t]+resource[ \t]", src), f"{name}: nested resource declaration"


def test_modules_are_local_and_every_file_is_used() -> None:
    used = {MAIN}
    for name in BICEP_FILES:
        assert not re.search(r"""['"](?:br|ts)[:/]""", text(name)), f"{name}: registry module"
        for module in parse(name).get("modules", {}).values():
            assert module["type"] == "local", module["detail"]
            path = (INFRA / name).parent / module["detail"]["path"]
            assert path.is_file(), f"{name}: module {path} is missing"
            used.add(path.name)
    assert used == set(BICEP_FILES), f"unused Bicep files: {set(BICEP_FILES) - used}"


def test_main_deploys_to_a_subscription() -> None:
    assert parse(MAIN)["globals"]["scope"]["value"] == "subscription"


def test_storage_account_disallows_shared_keys_and_public_blobs() -> None:
    _, _, _, cfg = one_resource("Microsoft.Storage/storageAccounts")
    props = cfg["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True


def test_storage_has_the_queues_and_tables_the_app_uses() -> None:
    queues = {
        resolve(file, cfg["name"])
        for file, _, _, cfg in resources_of_type(
            "Microsoft.Storage/storageAccounts/queueServices/queues"
        )
    }
    assert queues == {
        INBOUND_QUEUE,
        f"{INBOUND_QUEUE}-poison",
        EVENTS_QUEUE,
        MIRROR_QUEUE,
        f"{MIRROR_QUEUE}-poison",
    }

    tables: set[str] = set()
    for file, _, res, cfg in resources_of_type(
        "Microsoft.Storage/storageAccounts/tableServices/tables"
    ):
        loop = res["config"].get("loop_type")
        if loop:
            tables.update(resolve(file, loop["detail"]["array_name"]))
        else:
            tables.add(resolve(file, cfg["name"]))
    assert tables == {
        app_settings.DEFAULT_OPTOUT_TABLE,
        app_settings.DEFAULT_HISTORY_TABLE,
        app_settings.DEFAULT_PROGRAMS_TABLE,
        app_settings.DEFAULT_GROUPS_TABLE,
        app_settings.DEFAULT_MIRROR_TABLE,
    }


def test_queue_trigger_in_code_uses_the_provisioned_queue() -> None:
    src = (ROOT / "function_app.py").read_text(encoding="utf-8")
    names = set(re.findall(r"""queue_name\s*=\s*["']([^"']+)["']""", src))
    assert names == {INBOUND_QUEUE, MIRROR_QUEUE}


def role_assignments() -> list[dict[str, Any]]:
    found = []
    for file, symbol, _, cfg in resources_of_type("Microsoft.Authorization/roleAssignments"):
        role_def = resolve(file, cfg["properties"]["roleDefinitionId"])
        guids = {g.lower() for g in _GUID.findall(json.dumps(role_def))}
        assert len(guids) == 1, f"{file}:{symbol}: cannot read the role id from {role_def}"
        scope = accessor_path(cfg.get("scope"))
        assert scope, f"{file}:{symbol}: no resource scope (it would cover the whole group)"
        scoped = parse(file)["resources"].get("__".join(scope))
        assert scoped, f"{file}:{symbol}: scope {scope} is not a resource of {file}"
        principal = cfg["properties"]["principalId"]
        assert principal in parse(file)["parameters"], f"{file}:{symbol}: principal {principal}"
        found.append(
            {
                "where": f"{file}:{symbol}",
                "role": guids.pop(),
                "scope_type": scoped["type"],
                "principal": accessor_path(caller_value(file, principal)),
                "principal_type": cfg["properties"].get("principalType"),
            }
        )
    return found


def test_role_assignments_are_exactly_the_data_roles_on_their_resources() -> None:
    assignments = role_assignments()
    assert sorted(a["role"] for a in assignments) == sorted(EXPECTED_ROLES)
    for a in assignments:
        scope_type, principal = EXPECTED_ROLES[a["role"]]
        assert a["scope_type"] == scope_type, a
        assert a["principal"] == principal, a
        assert a["principal_type"] == "ServicePrincipal", a


def test_no_broad_role_anywhere() -> None:
    for name in BICEP_FILES:
        found = {g.lower() for g in _GUID.findall(text(name))}
        broad = {BROAD_ROLES[g] for g in found & set(BROAD_ROLES)}
        assert not broad, f"{name} uses {broad}"


def test_event_grid_delivers_sms_received_to_the_inbound_queue_with_its_identity() -> None:
    file, _, _, topic = one_resource("Microsoft.EventGrid/systemTopics")
    assert topic["location"] == "global"
    assert topic["identity"]["type"] == "SystemAssigned"
    assert topic["properties"]["topicType"] == "Microsoft.Communication.CommunicationServices"
    source = accessor_path(topic["properties"]["source"])
    assert source and source[-1] == "id"
    acs = parse(file)["resources"][source[0]]
    assert acs["type"] == "Microsoft.Communication/communicationServices" and acs["existing"]

    file, _, _, sub = one_resource("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    props = sub["properties"]
    assert props["filter"]["includedEventTypes"] == [SMS_RECEIVED]
    assert "destination" not in props, "deliver with the topic identity, not a key"
    delivery = props["deliveryWithResourceIdentity"]
    assert delivery["identity"]["type"] == "SystemAssigned"
    assert delivery["destination"]["endpointType"] == "StorageQueue"
    dest = delivery["destination"]["properties"]
    assert resolve(file, dest["queueName"]) == INBOUND_QUEUE
    assert accessor_path(caller_value(file, dest["resourceId"])) == ("storage", "outputs", "id")


def test_event_subscription_waits_for_the_topic_queue_role() -> None:
    modules = parse(MAIN)["modules"]
    by_file = {Path(m["detail"]["path"]).name: symbol for symbol, m in modules.items()}
    sub = modules[by_file["eventgrid-subscription.bicep"]]["config"]
    assert by_file["queue-sender-role.bicep"] in sub.get("dependsOn", [])


def test_key_vault_uses_rbac_and_holds_the_access_keys() -> None:
    _, _, _, vault = one_resource("Microsoft.KeyVault/vaults")
    assert vault["properties"]["enableRbacAuthorization"] is True
    assert "accessPolicies" not in vault["properties"]
    secrets = {
        resolve(file, cfg["name"]): (file, res)
        for file, _, res, cfg in resources_of_type("Microsoft.KeyVault/vaults/secrets")
    }
    # OPTOUT_ACCESS_KEYS always; OPTOUT_KEYS only when given (tests/test_infra_keys.py).
    assert set(secrets) == {resolve(MAIN, "accessKeysSecretName"), resolve(MAIN, "keysSecretName")}
    assert {file for file, _ in secrets.values()} == {"keyvault.bicep"}
    assert "condition" not in secrets[resolve(MAIN, "accessKeysSecretName")][1]["config"]


def test_initial_access_key_is_generated_once_and_valid_for_the_app() -> None:
    params = parse(MAIN)["parameters"]
    keys = params["optoutAccessKeys"]
    assert decorator(keys, "secure") and keys["default"] == ""
    seed = params["optoutAccessKeySeed"]
    assert decorator(seed, "secure")
    # No newGuid() default: it would rotate the key on every deployment.
    assert seed["default"] is None
    generate = decorator(seed, "metadata")["azd"]
    assert generate["type"] == "generate"
    min_length = decorator(seed, "min_length")
    assert generate["config"]["length"] >= min_length >= 16
    # The secret gets base64(seed) unless keys are given: the shortest seed is a valid key.
    value = caller_value("keyvault.bicep", "accessKeys")
    assert "base64" in json.dumps(value) and "optoutAccessKeySeed" in json.dumps(value)
    shortest = base64.b64encode(b"A" * min_length).decode()
    assert app_settings.Settings.from_env({"OPTOUT_ACCESS_KEYS": shortest}).access_keys


def test_function_app_is_flex_consumption_python() -> None:
    file, _, _, plan = one_resource("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True

    file, _, _, app = one_resource("Microsoft.Web/sites")
    assert "functionapp" in app["kind"] and "linux" in app["kind"]
    assert app["identity"]["type"] == "UserAssigned"
    assert app["properties"]["httpsOnly"] is True
    assert app["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert "'azd-service-name'" in json.dumps(app["tags"])
    assert '"api"' in json.dumps(app["tags"])
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    version = resolve(file, config["runtime"]["version"])
    allowed = decorator(parse(MAIN)["parameters"]["pythonVersion"], "allowed")
    for v in [version, *allowed, *decorator(parse(file)["parameters"]["pythonVersion"], "allowed")]:
        assert tuple(int(p) for p in v.split(".")) >= (3, 11), v
    auth = config["deployment"]["storage"]["authentication"]
    assert auth["type"] == "UserAssignedIdentity"
    assert auth["userAssignedIdentityResourceId"] == "identityId"


def test_code_reads_the_settings_this_test_knows_of() -> None:
    """Guards the derivation: if these regexes stop finding settings, the checks mean nothing."""
    read = settings_read_by_code()
    assert {
        "OPTOUT_ACCESS_KEYS",
        "OPTOUT_KEYS",
        "ACS_ENDPOINT",
        f"{STORAGE}__tableServiceUri",
    } <= read
    assert read >= OPTIONAL_NOT_PROVIDED, "a setting listed as optional is no longer read"


def test_template_provides_every_setting_the_app_needs_and_nothing_unknown() -> None:
    _, provided_map = app_settings_config()
    provided = set(provided_map)
    read = settings_read_by_code()
    assert provided >= REQUIRED, f"missing: {REQUIRED - provided}"
    missing = read - provided - OPTIONAL_NOT_PROVIDED
    assert not missing, f"read by the code but neither provided nor listed optional: {missing}"
    unknown = provided - read - PLATFORM
    assert not unknown, f"provided but read by nothing: {unknown}"
    assert not provided & FORBIDDEN_SETTINGS, provided & FORBIDDEN_SETTINGS


def test_no_setting_or_site_property_that_flex_consumption_does_not_support() -> None:
    # Case-insensitive, as app setting names are; anywhere in any template, not only in the
    # appsettings resource (a siteConfig.appSettings list would be just as wrong).
    forbidden = {name.lower() for name in FORBIDDEN_SETTINGS - {STORAGE}}
    for name in BICEP_FILES:
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text(name))}
        assert not words & forbidden, f"{name} uses {words & forbidden}"
    _, _, _, app = one_resource("Microsoft.Web/sites")
    props = app["properties"]
    used = set(props) | set(props.get("siteConfig", {}))
    assert not used & FORBIDDEN_SITE_PROPERTIES, used & FORBIDDEN_SITE_PROPERTIES


def test_settings_use_identities_and_key_vault() -> None:
    file, settings = app_settings_config()
    assert settings[f"{STORAGE}__credential"] == "managedidentity"
    client_id = ("identity", "outputs", "clientId")
    for name in (f"{STORAGE}__clientId", "AZURE_CLIENT_ID"):
        assert accessor_path(caller_value(file, settings[name])) == client_id, name
    for service in ("blob", "queue", "table"):
        uri = settings[f"{STORAGE}__{service}ServiceUri"]
        assert re.fullmatch(rf"https://\$\{{\w+\}}\.{service}\.\$\{{\w+\}}", uri), uri
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]

    keys = settings["OPTOUT_ACCESS_KEYS"]
    match = re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)\}\)", keys)
    assert match, keys
    assert accessor_path(caller_value(file, match.group(1))) == (
        "keyVault",
        "outputs",
        "accessKeysUri",
    )
    secret_uri = accessor_path(parse("keyvault.bicep")["outputs"]["accessKeysUri"]["value"])
    assert secret_uri and secret_uri[-1] == "secretUriWithVersion"

    assert accessor_path(caller_value(file, settings["ACS_ENDPOINT"])) == (
        "acs",
        "outputs",
        "endpoint",
    )
    assert (
        parse("acs.bicep")["outputs"]["endpoint"]["value"] == "https://${acs.properties.hostName}"
    )

    tables = {
        "OPTOUT_TABLE_NAME": app_settings.DEFAULT_OPTOUT_TABLE,
        "OPTOUT_HISTORY_TABLE_NAME": app_settings.DEFAULT_HISTORY_TABLE,
        "SENDER_PROGRAMS_TABLE_NAME": app_settings.DEFAULT_PROGRAMS_TABLE,
        "GROUP_OPTOUTS_TABLE_NAME": app_settings.DEFAULT_GROUPS_TABLE,
        "OPTOUT_MIRROR_TABLE_NAME": app_settings.DEFAULT_MIRROR_TABLE,
    }
    for name, table in tables.items():
        assert resolve(file, settings[name]) == table, name


def test_no_keys_or_connection_strings_in_templates() -> None:
    for name in BICEP_FILES:
        src = text(name)
        for bad in ("AccountKey=", "listKeys", "listkeys", "SharedAccessKey", "primaryKey"):
            assert bad not in src, f"{name} contains {bad}"
        for line in src.splitlines():
            # The only connection string is Application Insights' (no secret in it).
            if "connectionstring" in line.lower():
                assert "applicationinsights" in line.lower(), f"{name}: {line.strip()}"


def test_parameters_file_matches_main() -> None:
    doc = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    params = parse(MAIN)["parameters"]
    for name, entry in doc["parameters"].items():
        assert name in params, f"main.parameters.json sets unknown parameter {name}"
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", entry["value"]), (name, entry)
    for name, param in params.items():
        generated = (decorator(param, "metadata") or {}).get("azd", {}).get("type") == "generate"
        if param["default"] is None and not generated:
            assert name in doc["parameters"], f"{name} has no value and no default"
    # A key from a developer's shell (e.g. the local sample key) must not reach Azure.
    assert "${OPTOUT_ACCESS_KEYS" not in json.dumps(doc)


def test_azure_yaml_declares_the_function_service() -> None:
    src = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    match = re.search(r"(?m)^services:\n((?:[ ]+.*\n?)+)", src)
    assert match, "no services"
    block = match.group(1)
    assert re.search(r"(?m)^  api:\s*$", block)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"(?m)^    {re.escape(line)}\s*$", block), line


def test_funcignore_ships_only_the_app() -> None:
    """Everything tracked at the top level except the app itself is left out of the package
    (bench/, devhost/ and tests/ included), and so are the `*_env/` folders azd creates."""
    import fnmatch
    import subprocess

    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {path.split("/")[0] for path in tracked} | {"prod_env"}
    shipped = {t for t in top if not any(fnmatch.fnmatch(t, p) for p in patterns)}
    assert shipped == {"function_app.py", "host.json", "requirements.txt", "shared"}
