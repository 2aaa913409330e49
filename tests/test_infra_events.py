"""Offline checks (pycep) of the change feed's infrastructure: infra/events.bicep and its use."""

from __future__ import annotations

from shared.feed.settings import DEFAULT_EVENTS_QUEUE
from tests.test_infra import (
    EVENTGRID_DATA_SENDER,
    MAIN,
    accessor_path,
    app_settings_config,
    caller_value,
    parse,
    resolve,
)

EVENTS = "events.bicep"


def test_the_topic_is_behind_a_parameter_that_is_off_by_default() -> None:
    param = parse(MAIN)["parameters"]["enableEventGridTopic"]
    assert param["type"] == "bool" and param["default"] is False
    assert caller_value(EVENTS, "enableTopic") == "enableEventGridTopic"
    resources = parse(EVENTS)["resources"]
    for symbol in ("topic", "dataSender"):
        assert resources[symbol]["config"]["condition"] == "enableTopic", symbol
    assert "condition" not in resources["eventsQueue"]["config"]  # the queue always exists


def test_the_topic_takes_cloudevents_and_only_entra_id() -> None:
    topic = parse(EVENTS)["resources"]["topic"]
    assert topic["type"] == "Microsoft.EventGrid/topics"
    props = topic["config"]["config"]["properties"]
    assert props["inputSchema"] == "CloudEventSchemaV1_0"
    assert props["disableLocalAuth"] is True  # no keys in Azure: the managed identity only


def test_the_app_identity_may_send_to_that_topic_only() -> None:
    assignment = parse(EVENTS)["resources"]["dataSender"]["config"]["config"]
    assert assignment["scope"] == "topic"
    role = resolve(EVENTS, assignment["properties"]["roleDefinitionId"])
    assert EVENTGRID_DATA_SENDER in str(role)
    principal = caller_value(EVENTS, assignment["properties"]["principalId"])
    assert accessor_path(principal) == ("identity", "outputs", "principalId")


def test_the_app_gets_the_topic_endpoint_and_the_queue_matches_the_code() -> None:
    file, settings = app_settings_config()
    endpoint = caller_value(file, settings["OPTOUT_EVENTS_TOPIC_ENDPOINT"])
    assert accessor_path(endpoint) == ("events", "outputs", "topicEndpoint")
    output = parse(EVENTS)["outputs"]["topicEndpoint"]["value"]["operator"]
    assert output["type"] == "conditional" and output["operands"]["false_value"] == ""
    assert resolve(EVENTS, "queueName") == DEFAULT_EVENTS_QUEUE
