"""Offline checks (pycep) that no inbound event is dropped between ACS and the queue silently:
the Event Grid subscription dead-letters what it cannot deliver, with the topic's identity, into
the container the replay code reads; and operators get alerts for every stuck or lost path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.inbound.deadletter import DEADLETTER_CONTAINER
from tests.test_infra import (
    INBOUND_QUEUE,
    MAIN,
    TOPIC_IDENTITY,
    accessor_path,
    caller_value,
    decorator,
    module_calls,
    one_resource,
    parse,
    resolve,
    resources,
    resources_of_type,
    unwrap,
)

EVENT_GRID_API = "2025-02-15"  # the newest GA Microsoft.EventGrid API version
SUBSCRIPTION = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
CONTAINERS = "Microsoft.Storage/storageAccounts/blobServices/containers"


# Each event subscription and the dead-letter container it writes to.
SUBSCRIPTIONS = {
    "eventgrid-subscription.bicep": DEADLETTER_CONTAINER,
    "delivery-reports-subscription.bicep": "sms-delivery-reports-deadletter",
}


def subscription(file: str = "eventgrid-subscription.bicep") -> tuple[str, dict[str, Any]]:
    found = [cfg for f, _, _, cfg in resources_of_type(SUBSCRIPTION) if f == file]
    assert len(found) == 1, file
    return file, found[0]["properties"]


def main_module(path: str) -> dict[str, Any]:
    modules = parse(MAIN)["modules"]
    found = [m for m in modules.values() if Path(m["detail"]["path"]).name == path]
    assert len(found) == 1, path
    return found[0]


def symbol_of(path: str) -> str:
    modules = parse(MAIN)["modules"]
    return next(s for s, m in modules.items() if Path(m["detail"]["path"]).name == path)


def refers_to(file: str, value: Any, name: str, depth: int = 0) -> bool:
    """Whether expression `value` of `file` depends on the parameter or variable `name`."""
    assert depth < 20
    tree = parse(file)
    found = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", json.dumps(value)))
    if name in found:
        return True
    variables = tree.get("variables", {})
    return any(
        refers_to(file, variables[v]["value"], name, depth + 1) for v in found & set(variables)
    )


# --- Dead-lettering ------------------------------------------------------------------------------


def test_every_subscription_of_the_topic_is_checked_here() -> None:
    assert {f for f, _, _, _ in resources_of_type(SUBSCRIPTION)} == set(SUBSCRIPTIONS)


@pytest.mark.parametrize(("file", "container"), SUBSCRIPTIONS.items())
def test_undeliverable_events_are_dead_lettered_with_the_topic_identity(
    file: str, container: str
) -> None:
    file, props = subscription(file)
    assert "deadLetterDestination" not in props, "dead-letter with the topic identity, not a key"
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "SystemAssigned"
    destination = dead_letter["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    dest = destination["properties"]
    assert resolve(file, dest["blobContainerName"]) == container
    assert accessor_path(caller_value(file, dest["resourceId"])) == ("storage", "outputs", "id")
    names = {resolve(f, cfg["name"]) for f, _, _, cfg in resources_of_type(CONTAINERS)}
    assert container in names


def test_the_dead_letter_container_exists_where_the_replay_code_looks() -> None:
    names = {resolve(file, cfg["name"]) for file, _, _, cfg in resources_of_type(CONTAINERS)}
    assert DEADLETTER_CONTAINER in names
    file, _, _, _ = one_resource("Microsoft.Storage/storageAccounts")
    containers = [c for f, _, _, c in resources_of_type(CONTAINERS) if f == file]
    assert all(c["properties"]["publicAccess"] == "None" for c in containers)


def test_the_topic_identity_may_write_to_the_dead_letter_container_only() -> None:
    (file, _, _, role), *others = [
        r
        for r in resources_of_type("Microsoft.Authorization/roleAssignments")
        if r[0] == "deadletter-role.bicep"
    ]
    assert not others
    scope = parse(file)["resources"][accessor_path(role["scope"])[0]]
    assert scope["type"] == CONTAINERS and scope["existing"]
    assert resolve(file, unwrap(scope["config"])["name"]) == DEADLETTER_CONTAINER
    assert accessor_path(caller_value(file, role["properties"]["principalId"])) == TOPIC_IDENTITY


def test_the_subscription_waits_for_both_topic_roles() -> None:
    sub = unwrap(main_module("eventgrid-subscription.bicep")["config"])
    assert set(sub["dependsOn"]) >= {
        symbol_of("queue-sender-role.bicep"),
        symbol_of("deadletter-role.bicep"),
    }


@pytest.mark.parametrize("file", SUBSCRIPTIONS)
def test_retry_policy_is_explicit_and_within_event_grid_limits(file: str) -> None:
    file, props = subscription(file)
    policy = props["retryPolicy"]
    attempts = resolve(file, policy["maxDeliveryAttempts"])
    ttl = resolve(file, policy["eventTimeToLiveInMinutes"])
    assert 1 <= attempts <= 30 and 1 <= ttl <= 1440
    params = parse(file)["parameters"]
    for name, low, high in (("maxDeliveryAttempts", 1, 30), ("eventTimeToLiveInMinutes", 1, 1440)):
        assert decorator(params[name], "min_value") == low
        assert decorator(params[name], "max_value") == high


def test_event_grid_resources_use_the_current_api_version() -> None:
    found = [(f, r) for f, _, r, _ in resources() if r["type"].startswith("Microsoft.EventGrid/")]
    assert len(found) >= 3  # the topic, the existing topic, the subscription
    for file, res in found:
        assert res["api_version"] == EVENT_GRID_API, (file, res["type"], res["api_version"])


def test_subscription_name_is_unique_per_environment() -> None:
    name = caller_value("eventgrid-subscription.bicep", "name")
    assert refers_to(MAIN, name, "environmentName"), name
    assert refers_to(MAIN, name, "resourceToken"), name  # same token as the app's resources
    for file in SUBSCRIPTIONS:
        (sub,) = [cfg for f, _, _, cfg in resources_of_type(SUBSCRIPTION) if f == file]
        assert sub["name"] == "name"
    reports = caller_value("delivery-reports-subscription.bicep", "name")
    assert refers_to(MAIN, reports, "resourceToken") and reports != name
    assert {"EVENT_SUBSCRIPTION_NAME", "DELIVERY_REPORT_SUBSCRIPTION_NAME"} <= set(
        parse(MAIN)["outputs"]
    )


# --- Alerts --------------------------------------------------------------------------------------


def alerts_call() -> dict[str, Any]:
    (caller, cfg) = module_calls("alerts.bicep")[0]
    assert caller == MAIN
    return cfg


def test_alerts_are_deployed_only_when_an_email_is_given() -> None:
    module = main_module("alerts.bicep")
    condition = json.dumps(module["config"]["condition"])
    assert "alertEmail" in condition and "empty" in condition and "not" in condition
    param = parse(MAIN)["parameters"]["alertEmail"]
    assert param["default"] == ""
    doc = json.loads((Path(__file__).parent.parent / "infra" / "main.parameters.json").read_text())
    assert doc["parameters"]["alertEmail"]["value"] == "${ALERT_EMAIL=}"
    assert alerts_call()["params"]["alertEmail"] == "alertEmail"


def test_alert_emails_go_to_the_given_address() -> None:
    _, _, _, group = one_resource("Microsoft.Insights/actionGroups")
    props = group["properties"]
    assert props["enabled"] is True and len(props["groupShortName"]) <= 12
    assert [r["emailAddress"] for r in props["emailReceivers"]] == ["alertEmail"]


def metric_alerts() -> dict[str, dict[str, Any]]:
    found = {}
    for _, _, _, cfg in resources_of_type("Microsoft.Insights/metricAlerts"):
        props = cfg["properties"]
        (criterion,) = props["criteria"]["allOf"]
        assert props["enabled"] is True
        assert [a["actionGroupId"] for a in props["actions"]] == ["${actionGroup.id}"] or [
            accessor_path(a["actionGroupId"]) for a in props["actions"]
        ] == [("actionGroup", "id")]
        assert criterion["operator"] == "GreaterThan" and criterion["threshold"] == 0
        found[criterion["metricName"]] = {**criterion, "scopes": props["scopes"]}
    return found


def test_any_dead_lettered_or_dropped_event_alerts() -> None:
    alerts = metric_alerts()
    for metric in ("DeadLetteredCount", "DroppedEventCount"):
        alert = alerts[metric]
        assert alert["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
        assert alert["timeAggregation"] == "Total"
        assert alert["scopes"] == ["systemTopicId"]
        (dimension,) = resolve("alerts.bicep", alert["dimensions"])
        assert dimension["name"] == "EventSubscriptionName" and dimension["operator"] == "Include"
        # The subscription's own name, upper-cased as Event Grid reports it.
        values = json.dumps(dimension["values"])
        assert "to_upper" in values and "smsReceivedSubscription" in values, values
        assert "deliveryReportSubscription" in values, values  # delivery reports too
    cfg = alerts_call()["params"]
    assert accessor_path(cfg["systemTopicId"]) == ("acs", "outputs", "systemTopicId")
    assert accessor_path(cfg["eventSubscriptionName"]) == (
        "smsReceivedSubscription",
        "outputs",
        "name",
    )


def test_any_function_failure_alerts() -> None:
    alert = metric_alerts()["requests/failed"]
    assert alert["metricNamespace"].lower() == "microsoft.insights/components"
    assert alert["scopes"] == ["applicationInsightsId"]
    cfg = alerts_call()["params"]
    assert accessor_path(cfg["applicationInsightsId"]) == ("monitoring", "outputs", "id")


def test_a_message_moved_to_the_poison_queue_alerts() -> None:
    file, _, _, rule = one_resource("Microsoft.Insights/scheduledQueryRules")
    props = rule["properties"]
    assert rule["kind"] == "LogAlert" and props["enabled"] is True
    assert props["scopes"] == ["applicationInsightsId"]
    (criterion,) = props["criteria"]["allOf"]
    assert criterion["operator"] == "GreaterThan" and criterion["threshold"] == 0
    # The Functions host logs this warning for every message it moves to the poison queue.
    query = resolve(file, criterion["query"]).replace("\\'", "'")
    assert query.startswith("traces")
    assert "MaxDequeueCount" in query and f"'{INBOUND_QUEUE}-poison'" in query
    assert "'sms-delivery-reports-poison'" in query  # a delivery report given up on, too
    assert props["actions"]["actionGroups"] == ["${actionGroup.id}"] or [
        accessor_path(a) for a in props["actions"]["actionGroups"]
    ] == [("actionGroup", "id")]
