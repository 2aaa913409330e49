"""Offline checks of deployment details against Microsoft's Flex Consumption templates: bounded
parameters, no basic publishing credentials, storage redundancy, what is uploaded, and the
`azd down` guard (run as azd runs it, through `sh`).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.test_infra import (
    MAIN,
    ROOT,
    caller_value,
    decorator,
    one_resource,
    parse,
    resolve,
    resources_of_type,
)

# The `location` list of Microsoft's Flex Consumption azd templates
# (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep).
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia",
    "centralus", "eastasia", "eastus", "eastus2", "eastus2euap", "francecentral",
    "germanywestcentral", "italynorth", "japaneast", "koreacentral", "northcentralus",
    "northeurope", "norwayeast", "southafricanorth", "southcentralus", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westus", "westus2", "westus3",
}  # fmt: skip
# Flex regions without zone-redundant storage for standard GPv2 accounts (Microsoft's
# "Azure regions that support zone-redundant storage"): these must default to LRS.
NO_ZRS = {
    "australiasoutheast", "eastus2euap", "northcentralus", "southindia", "ukwest",
    "westcentralus", "westus",
}  # fmt: skip
STORAGE_SKUS = {
    "Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_GZRS", "Standard_RAGRS",
    "Standard_RAGZRS",
}  # fmt: skip


def param(file: str, name: str) -> dict[str, Any]:
    return parse(file)["parameters"][name]


# --- Function App --------------------------------------------------------------------------------


def test_basic_publishing_credentials_are_off_for_ftp_and_scm() -> None:
    found = resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    _, app_symbol, _, _ = one_resource("Microsoft.Web/sites")
    policies = {cfg["name"]: cfg for _, _, _, cfg in found}
    assert set(policies) == {"ftp", "scm"}
    for cfg in policies.values():
        assert cfg["parent"] == app_symbol
        assert cfg["properties"] == {"allow": False}


@pytest.mark.parametrize("file", [MAIN, "function-app.bicep"])
def test_maximum_instance_count_is_bounded_as_flex_consumption_allows(file: str) -> None:
    p = param(file, "maximumInstanceCount")
    assert decorator(p, "min_value") == 40
    assert decorator(p, "max_value") == 1000
    assert 40 <= p["default"] <= 1000
    assert caller_value("function-app.bicep", "maximumInstanceCount") == "maximumInstanceCount"


def test_location_is_bounded_to_flex_consumption_regions() -> None:
    p = param(MAIN, "location")
    assert set(decorator(p, "allowed")) == FLEX_REGIONS
    assert decorator(p, "metadata")["azd"]["type"] == "location"


# --- Storage redundancy --------------------------------------------------------------------------


def test_storage_redundancy_is_a_parameter() -> None:
    file, _, _, account = one_resource("Microsoft.Storage/storageAccounts")
    assert account["sku"]["name"] == "skuName"
    assert set(decorator(param(file, "skuName"), "allowed")) == STORAGE_SKUS
    main_param = param(MAIN, "storageSkuName")
    assert set(decorator(main_param, "allowed")) == STORAGE_SKUS | {""}
    assert main_param["default"] == ""
    doc = json.loads((ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8"))
    assert doc["parameters"]["storageSkuName"]["value"] == "${AZURE_STORAGE_SKU=}"


def default_sku(location: str, chosen: str = "") -> str:
    """main.bicep's choice, evaluated: storageSku = empty(chosen) ? default : chosen."""
    variables = parse(MAIN)["variables"]
    assert caller_value("storage.bicep", "skuName") == "storageSku"
    storage_sku = json.dumps(variables["storageSku"]["value"])
    assert "storageSkuName" in storage_sku and "defaultStorageSku" in storage_sku
    default = variables["defaultStorageSku"]["value"]["operator"]["operands"]
    condition = json.dumps(default["condition"])
    assert "zoneRedundantStorageRegions" in condition and "location" in condition
    zrs = resolve(MAIN, "zoneRedundantStorageRegions")
    if chosen:
        return chosen
    return default["true_value"] if location in zrs else default["false_value"]


def test_storage_is_zone_redundant_by_default_where_the_region_allows() -> None:
    zrs = set(resolve(MAIN, "zoneRedundantStorageRegions"))
    assert zrs <= FLEX_REGIONS
    assert zrs == FLEX_REGIONS - NO_ZRS
    assert default_sku("eastus2") == "Standard_ZRS"
    assert default_sku("westus") == "Standard_LRS"
    assert default_sku("westus", chosen="Standard_GZRS") == "Standard_GZRS"


# --- What is uploaded ----------------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """gitignore-style: `dir/` matches a directory at any depth, other patterns a path part."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if any(fnmatch.fnmatch(p, pattern[:-1]) for p in parts[:-1]):
                return True
        elif any(fnmatch.fnmatch(p, pattern) for p in parts) or fnmatch.fnmatch(path, pattern):
            return True
    return False


def test_funcignore_keeps_development_files_out_of_the_package() -> None:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in (
        "bench/bench.py",
        "sms-optout_env/lib/python3.11/site-packages/x.py",  # the folder azd creates
        "tests/test_infra.py",
        "devhost/__main__.py",
        "infra/main.bicep",
        "node_modules/azurite/package.json",
        "local.settings.json",
    ):
        assert ignored(path, patterns), path
    for path in (
        "function_app.py",
        "shared/inbound/deadletter.py",
        "requirements.txt",
        "host.json",
    ):
        assert not ignored(path, patterns), path


# --- The `azd down` guard ------------------------------------------------------------------------

ACS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-acs/providers/"
    "Microsoft.Communication/communicationServices/acs-contoso"
)


def predown() -> ModuleType:
    spec = importlib.util.spec_from_file_location("predown", ROOT / "infra/hooks/predown.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hook(system: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    return dict(doc["hooks"]["predown"][system])


def test_azure_yaml_runs_the_guard_before_azd_down_and_stops_on_failure() -> None:
    for system, shell in (("posix", "sh"), ("windows", "pwsh")):
        h = hook(system)
        assert h["shell"] == shell
        assert "infra/hooks/predown.py" in h["run"]
        assert h.get("continueOnError", False) is False
    assert "exit $LASTEXITCODE" in hook("windows")["run"]  # pwsh passes python's code on


def run_hook(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The posix hook exactly as azd runs it: its `run` line through `sh`, from the project."""
    bin_dir = Path(sys.executable).parent  # `python3` on PATH, as on an operator's machine
    base = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["sh", "-c", hook("posix")["run"]],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_azd_down_is_refused_when_it_would_touch_the_acs_resource_group() -> None:
    result = run_hook({"ACS_RESOURCE_ID": ACS_ID, "AZURE_RESOURCE_GROUP": "rg-app"})
    assert result.returncode != 0
    assert "refusing" in result.stderr and "'rg-acs'" in result.stderr
    assert "infra/README.md" in result.stderr


def test_azd_down_goes_on_for_an_environment_never_connected_to_acs() -> None:
    result = run_hook({"AZURE_RESOURCE_GROUP": "rg-app"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "acs_id",
    [ACS_ID, ACS_ID.upper(), ACS_ID + "/", "not-an-id", "/subscriptions/x/resourceGroups/rg"],
)
def test_any_acs_resource_id_refuses_valid_or_not(acs_id: str) -> None:
    code, message = predown().check({"ACS_RESOURCE_ID": acs_id})
    assert code == 1 and "refusing" in message


def test_the_acs_resource_group_is_named_when_the_id_is_valid() -> None:
    guard = predown()
    assert guard.acs_resource_group(ACS_ID) == "00000000-0000-0000-0000-000000000000/rg-acs"
    assert guard.acs_resource_group(ACS_ID.lower() + "/") is not None
    for bad in ("", "not-an-id", ACS_ID.replace("Microsoft.Communication", "Microsoft.Web")):
        assert guard.acs_resource_group(bad) is None
    assert guard.check({"ACS_RESOURCE_ID": "  "})[0] == 0
