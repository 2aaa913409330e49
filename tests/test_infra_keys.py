"""Offline checks (pycep) of the named, scoped keys (OPTOUT_KEYS, docs/access.md) in infra/: an
optional azd variable, a Key Vault secret only when given, and the app setting a Key Vault
reference exactly like OPTOUT_ACCESS_KEYS's, or empty. The template's own expressions are
evaluated (main.parameters.json as azd fills it in, then main.bicep, keyvault.bicep and
function-app.bicep) and what the app would then see is read with the app's own settings code.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from shared.domain.access import parse_keyring
from shared.platform.settings import Settings
from tests.test_infra import (
    INFRA,
    MAIN,
    ROOT,
    accessor_path,
    app_settings_config,
    caller_value,
    decorator,
    parse,
    resolve,
    resources_of_type,
)

KEYVAULT = "keyvault.bicep"
FUNCTION_APP = "function-app.bicep"
SECRETS = "Microsoft.KeyVault/vaults/secrets"
AZD_VARIABLE = "AZURE_OPTOUT_KEYS"
SECRET_NAME = "optout-keys"
# What `keysSecret.properties.secretUriWithVersion` stands for once deployed.
SECRET_URI = f"https://kv-test.vault.azure.net/secrets/{SECRET_NAME}/0123456789abcdef"
_KV_REFERENCE = re.compile(r"@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)\}\)")


# --- A small evaluator of the template expressions this wiring uses ------------------------------


def evaluate(file: str, value: Any, names: dict[str, Any]) -> Any:
    """Evaluate a pycep expression of `file` with `names` (parameters and runtime values).
    Anything it does not know fails the test: a change of shape must be looked at."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if re.fullmatch(r"[A-Za-z_]\w*", value):
            if value in names:
                return names[value]
            variables = parse(file).get("variables", {})
            assert value in variables, f"{file}: unknown name {value}"
            return evaluate(file, variables[value]["value"], names)
        return re.sub(r"\$\{(\w+)\}", lambda m: str(evaluate(file, m.group(1), names)), value)
    path = accessor_path(value)
    if path is not None:
        dotted = ".".join(path)
        assert dotted in names, f"{file}: unknown value {dotted}"
        return names[dotted]
    if "operator" in value:
        op = value["operator"]
        operands = op["operands"]
        if op["type"] == "conditional":
            chosen = "true_value" if evaluate(file, operands["condition"], names) else "false_value"
            return evaluate(file, operands[chosen], names)  # ARM evaluates one branch only
        if op["type"] == "not":
            return not evaluate(file, operands["bool_value"], names)
    if "function" in value:
        fn = value["function"]
        args = [evaluate(file, a, names) for a in fn["parameters"].values()]
        if fn["type"] == "empty":
            return not args[0]
        if fn["type"] == "base64_to_string":
            return base64.b64decode(args[0], validate=True).decode("utf-8")
    raise AssertionError(f"{file}: cannot evaluate {json.dumps(value)[:200]}")


def azd_parameters(env: dict[str, str]) -> dict[str, Any]:
    """main.parameters.json as azd fills it in: plain-text substitution of `${NAME}` and
    `${NAME=default}`, then JSON parsing (azd's loadParameters)."""
    src = (INFRA / "main.parameters.json").read_text(encoding="utf-8")

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        return env.get(name) or (default or "")

    filled = re.sub(r"\$\{(\w+)(=([^}]*))?\}", sub, src)
    return {k: v["value"] for k, v in json.loads(filled)["parameters"].items()}


def deploy(optout_keys: str) -> dict[str, Any]:
    """What the keys wiring evaluates to for main's `optoutKeys`: the Key Vault module's
    inputs, whether the secret is created, its output, and the app setting."""
    main = {"optoutKeys": optout_keys}
    kv_params = {
        p: evaluate(MAIN, caller_value(KEYVAULT, p), main)
        for p in ("storeKeys", "keys", "keysSecretName")
    }
    secret = keys_secret()
    created = evaluate(KEYVAULT, secret["config"]["condition"], kv_params)
    runtime = {**kv_params, "keysSecret.properties.secretUriWithVersion": SECRET_URI}
    keys_uri = evaluate(KEYVAULT, parse(KEYVAULT)["outputs"]["keysUri"]["value"], runtime)
    assert accessor_path(caller_value(FUNCTION_APP, "keysSecretUri")) == (
        "keyVault",
        "outputs",
        "keysUri",
    )
    file, settings = app_settings_config()
    setting = evaluate(file, settings["OPTOUT_KEYS"], {"keysSecretUri": keys_uri})
    return {
        **kv_params,
        "created": created,
        "name": evaluate(KEYVAULT, secret["config"]["config"]["name"], kv_params),
        "value": evaluate(KEYVAULT, secret["config"]["config"]["properties"]["value"], kv_params),
        "keysUri": keys_uri,
        "setting": setting,
    }


def keys_secret() -> dict[str, Any]:
    found = [
        parse(file)["resources"][symbol]
        for file, symbol, _, cfg in resources_of_type(SECRETS)
        if resolve(file, cfg["name"]) == SECRET_NAME
    ]
    assert len(found) == 1, f"expected one secret {SECRET_NAME}"
    return found[0]


def new_entry(name: str, permissions: str, senders: str) -> dict[str, Any]:
    """An entry made by `optouts keys new`, as an operator would."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "optouts_cli", "keys", "new", "--name", name),
            *("--permissions", permissions, "--senders", senders),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- Tests ---------------------------------------------------------------------------------------


def test_the_parameter_is_secure_optional_and_read_from_its_own_azd_variable() -> None:
    param = parse(MAIN)["parameters"]["optoutKeys"]
    assert decorator(param, "secure")
    assert param["default"] == ""
    assert azd_parameters({})["optoutKeys"] == ""
    assert azd_parameters({AZD_VARIABLE: "abc="})["optoutKeys"] == "abc="
    # A developer's local OPTOUT_KEYS (the shell azd runs in) must not reach Azure.
    doc = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    assert "${OPTOUT_KEYS" not in doc
    assert azd_parameters({"OPTOUT_KEYS": "[]"})["optoutKeys"] == ""


def test_the_secret_lives_in_the_apps_vault_beside_the_access_keys() -> None:
    secret = keys_secret()
    assert secret["type"] == SECRETS and not secret["existing"]
    assert secret["config"]["config"]["parent"] == "vault"
    vault = parse(KEYVAULT)["resources"]["vault"]
    assert vault["type"] == "Microsoft.KeyVault/vaults"
    assert decorator(parse(KEYVAULT)["parameters"]["keys"], "secure")
    names = {resolve(f, cfg["name"]) for f, _, _, cfg in resources_of_type(SECRETS)}
    assert names == {"optout-access-keys", SECRET_NAME}


def test_a_default_deployment_stores_no_keys_and_sets_the_setting_empty() -> None:
    result = deploy(azd_parameters({})["optoutKeys"])
    assert result["storeKeys"] is False and result["created"] is False
    assert result["keysUri"] == "" and result["setting"] == ""
    # The app reads an empty OPTOUT_KEYS as none: the generated full key alone, nothing wrong.
    key = base64.b64encode(b"k" * 32).decode()
    settings = Settings.from_env({"OPTOUT_ACCESS_KEYS": key, "OPTOUT_KEYS": result["setting"]})
    assert settings.health == ()
    assert [k.name for k in parse_keyring(settings.keys_json, settings.access_keys).keys] == [
        "key1"
    ]


def test_given_keys_become_a_secret_and_a_key_vault_reference_the_app_can_use() -> None:
    entries = [
        new_entry("crm", "check", "*"),
        new_entry("support", "read,write", "+18005550100,group:brand1"),
    ]
    array = json.dumps(entries, indent=2)  # quotes and newlines: what base64 carries through
    encoded = base64.b64encode(array.encode()).decode()
    result = deploy(azd_parameters({AZD_VARIABLE: encoded})["optoutKeys"])
    assert result["storeKeys"] is True and result["created"] is True
    assert result["name"] == SECRET_NAME
    assert result["value"] == array  # the secret holds the JSON itself, as the app reads it
    assert result["keysUri"] == SECRET_URI
    assert result["setting"] == f"@Microsoft.KeyVault(SecretUri={SECRET_URI})"

    # Exactly like OPTOUT_ACCESS_KEYS: a reference to a versioned secret URI.
    _, settings = app_settings_config()
    access = _KV_REFERENCE.fullmatch(settings["OPTOUT_ACCESS_KEYS"])
    assert access and accessor_path(caller_value(FUNCTION_APP, access.group(1)))[-1] == (
        "accessKeysUri"
    )
    output = parse(KEYVAULT)["outputs"]["keysUri"]["value"]["operator"]["operands"]["true_value"]
    assert accessor_path(output) == ("keysSecret", "properties", "secretUriWithVersion")

    # The Functions host resolves the reference to the secret's value: the app sees the keys.
    env = {"OPTOUT_ACCESS_KEYS": base64.b64encode(b"k" * 32).decode(), "OPTOUT_KEYS": array}
    settings_seen = Settings.from_env(env)
    assert settings_seen.health == ()
    ring = parse_keyring(settings_seen.keys_json, settings_seen.access_keys)
    assert [k.name for k in ring.keys] == ["key1", "crm", "support"]
    # Before it is resolved (no secret, no role yet) the app says so instead of guessing.
    unresolved = Settings.from_env({**env, "OPTOUT_KEYS": result["setting"]})
    assert [p.setting for p in unresolved.health] == ["OPTOUT_KEYS"]


def test_a_raw_json_array_would_break_azds_parameters_file() -> None:
    """Why the azd variable carries base64: azd substitutes values as plain text."""
    array = json.dumps([new_entry("crm", "check", "*")])
    with pytest.raises(json.JSONDecodeError):
        azd_parameters({AZD_VARIABLE: array})
    encoded = base64.b64encode(array.encode()).decode()
    assert azd_parameters({AZD_VARIABLE: encoded})["optoutKeys"] == encoded
