"""shared/openapi.json: a valid OpenAPI 3 document, whose ACS operations agree with the official
ACS files (committed copies in tests/fixtures/acs-openapi, see SOURCE.md there), that describes
every endpoint of the pipeline as it is declared; and the checker that holds test responses to
it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from devhost.inprocess import registered_http_functions
from shared.api import ENDPOINTS
from shared.api.delivery_reports import DELIVERY_REPORT_API_VERSIONS
from shared.api.openapi import DOCUMENT_PATH, document
from shared.api.programs import WIRE_NAMES
from shared.domain.model import Action, Language, Outcome, ReplyStatus, Source
from shared.platform.request_ids import CLIENT_REQUEST_ID_HEADER, REQUEST_ID_HEADER
from tests.openapi_check import check_response, close_objects, strict_openapi

OFFICIAL = Path(__file__).resolve().parent / "fixtures" / "acs-openapi"
VERSIONS = sorted(p.stem for p in OFFICIAL.glob("*.json"))
OPTOUT_PATHS = ["/sms/optouts:add", "/sms/optouts:remove", "/sms/optouts:check"]
URL = "http://127.0.0.1:7071"
RID = {REQUEST_ID_HEADER: "0f8fad5b-d9cb-469f-a165-70867728950e"}
JSON = {"content-type": "application/json", **RID}
# What ours says beyond the official schemas (each documented in the schema's description).
SUPERSET = {
    ("ErrorDetail", "innerError"): {"nullable": True},
    # ACS bounds the recipients with minLength/maxLength, which JSON Schema ignores on arrays.
    ("SendMessageRequest", "smsRecipients"): {"minItems": 1, "maxItems": 100},
}
# Differs between api-versions (apiKey + partner, then partner + partnerParams): ours holds every
# version's properties and requires what all of them require.
UNION = {"MessagingConnectOptions", "SmsSendOptions"}  # messagingConnect: 2025-05-29-preview on
UNION.add("DeliveryReport")  # messagingConnectPartnerMessageId: 2026-01-23
COMPARED = ("type", "format", "minLength", "maxLength", "minItems", "maxItems", "$ref")


def official(version: str) -> dict[str, Any]:
    return dict(json.loads((OFFICIAL / f"{version}.json").read_text(encoding="utf-8")))


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def ref_name(node: dict[str, Any]) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


def test_the_document_is_valid_openapi_3() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.0.")
    validate(doc)
    validate(close_objects(doc))  # the strict variant the tests check responses with


def test_the_document_is_a_file_that_deploys_with_the_app() -> None:
    assert DOCUMENT_PATH.parent.name == "shared"
    ignored = (DOCUMENT_PATH.parents[1] / ".funcignore").read_text(encoding="utf-8").split()
    assert not {"shared/", "shared", "*.json", "shared/openapi.json"} & set(ignored)


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method.upper()): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }


def test_every_endpoint_is_described_and_nothing_else() -> None:
    """A new endpoint fails here until the document has its path and methods."""
    declared = {("/" + e.route, m) for e in ENDPOINTS for m in e.methods}
    registered = {("/" + route, method) for route, method in registered_http_functions()}
    assert declared == registered
    assert set(operations(document())) == declared


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_security_and_api_versions_are_as_the_endpoint_declares(endpoint: Any) -> None:
    doc = document()
    assert doc["security"] == [{"AcsHmac": []}]
    assert doc["components"]["securitySchemes"]["AcsHmac"]["name"] == "Authorization"
    for method in endpoint.methods:
        op = operations(doc)[("/" + endpoint.route, method)]
        assert (op.get("security", doc["security"]) == []) is (not endpoint.auth)
        params = {p["name"]: p for p in (resolve(doc, p) for p in op.get("parameters", []))}
        if endpoint.api_versions is None:
            assert "api-version" not in params
        else:
            assert set(params["api-version"]["schema"]["enum"]) == endpoint.api_versions
        # What the pipeline refuses is described (a handler may refuse more, itself).
        assert ("401" in op["responses"]) is endpoint.auth
        # A permission (or a sender scope) can refuse: 403 (docs/access.md).
        assert ("403" in op["responses"]) is (endpoint.permission_for(method) is not None)
        assert "413" in op["responses"] or not endpoint.limit_body
        assert "415" in op["responses"] or method not in endpoint.json_methods


def test_every_response_declares_the_request_ids() -> None:
    doc = document()
    for (path, method), op in operations(doc).items():
        item_params = [resolve(doc, p)["name"] for p in doc["paths"][path].get("parameters", [])]
        assert CLIENT_REQUEST_ID_HEADER in item_params, path
        for status, response in op["responses"].items():
            headers = resolve(doc, response)["headers"]
            assert resolve(doc, headers[REQUEST_ID_HEADER])["required"], (path, method, status)
            assert CLIENT_REQUEST_ID_HEADER in headers, (path, method, status)


# --- agreement with the official ACS files ----------------------------------------------------


def acs_paths(version: str) -> list[str]:
    """The official file's paths that this service serves too."""
    return sorted(set(official(version)["paths"]) & set(document()["paths"]))


def test_the_optout_paths_are_served() -> None:
    assert all(set(OPTOUT_PATHS) <= set(acs_paths(v)) for v in VERSIONS)


def test_the_delivery_report_path_is_served_where_acs_has_it() -> None:
    path = "/deliveryReports/{outgoingMessageId}"
    assert {v for v in VERSIONS if path in official(v)["paths"]} == DELIVERY_REPORT_API_VERSIONS
    assert all(path in acs_paths(v) for v in DELIVERY_REPORT_API_VERSIONS)


@pytest.mark.parametrize(
    ("version", "path"), [(v, p) for v in VERSIONS for p in acs_paths(v)], ids=str
)
def test_acs_operation_agrees_with_the_official_file(version: str, path: str) -> None:
    theirs_doc, ours_doc = official(version), document()
    methods = set(theirs_doc["paths"][path])
    assert set(ours_doc["paths"][path]) - {"parameters"} == methods
    superset = [resolve(ours_doc, p)["name"] for p in ours_doc["paths"][path]["parameters"]]
    assert superset == [CLIENT_REQUEST_ID_HEADER]  # documented: echoed, as Azure services do
    for method in methods:
        theirs, ours = theirs_doc["paths"][path][method], ours_doc["paths"][path][method]
        assert ours["operationId"] == theirs["operationId"]
        assert ours["tags"] == theirs["tags"]
        body = next((p for p in theirs["parameters"] if p["in"] == "body"), None)
        if body is None:
            assert "requestBody" not in ours
        else:
            assert body["required"] and ours["requestBody"]["required"]
            content = ours["requestBody"]["content"]
            assert set(content) == set(theirs["consumes"]) == {"application/json"}
            assert ref_name(content["application/json"]["schema"]) == ref_name(body["schema"])
        their_params = {
            (p["name"], p["in"], p["required"], p["type"])
            for p in theirs["parameters"]
            if p["in"] != "body"
        }
        our_params = [resolve(ours_doc, p) for p in ours["parameters"]]
        assert {
            (p["name"], p["in"], p["required"], p["schema"]["type"]) for p in our_params
        } == their_params
        versions = next(p for p in our_params if p["name"] == "api-version")["schema"]["enum"]
        assert version in versions
        for status, response in theirs["responses"].items():
            our_response = resolve(ours_doc, ours["responses"][status])
            assert set(our_response["content"]) == set(theirs["produces"])
            schema = our_response["content"]["application/json"]["schema"]
            assert ref_name(schema) == ref_name(response["schema"]), status


def _compared(schema: dict[str, Any]) -> dict[str, Any]:
    picked = {k: schema[k] for k in COMPARED if k in schema}
    if "$ref" in picked:
        picked["$ref"] = ref_name(picked)
    if "items" in schema:
        picked["items"] = _compared(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        picked["additionalProperties"] = _compared(schema["additionalProperties"])
    return picked


def _reachable(doc: dict[str, Any], roots: list[str], prefix: str) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = json.dumps(resolve(doc, {"$ref": f"{prefix}{name}"}))
        todo += [part.split('"')[0] for part in text.split(f'"{prefix}')[1:]]
    return seen


@pytest.mark.parametrize("version", VERSIONS)
def test_acs_schemas_agree_with_the_official_file(version: str) -> None:
    theirs_doc, ours_doc = official(version), document()
    roots = [
        ref_name(schema_holder["schema"])
        for path in acs_paths(version)
        for op in theirs_doc["paths"][path].values()
        for schema_holder in [
            *(p for p in op["parameters"] if p["in"] == "body"),
            *op["responses"].values(),
        ]
    ]
    names = _reachable(theirs_doc, roots, "#/definitions/")
    assert {"OptOutRequest", "OptOutRecipient", "OptOutResponse", "OptOutResponseItem"} <= names
    for name in names:
        theirs = theirs_doc["definitions"][name]
        ours = ours_doc["components"]["schemas"][name]
        assert ours.get("type") == theirs.get("type"), name
        if name in UNION:
            assert set(ours["required"]) <= set(theirs["required"]), name
            assert set(ours["properties"]) >= set(theirs["properties"]), name
        else:
            assert ours.get("required", []) == theirs.get("required", []), name
            assert set(ours["properties"]) == set(theirs["properties"]), name
        for prop, their_schema in theirs["properties"].items():
            our_schema = ours["properties"][prop]
            extra = {k: v for k, v in our_schema.items() if k not in their_schema}
            extra.pop("description", None)
            assert extra == SUPERSET.get((name, prop), {}), (name, prop)
            allowed = SUPERSET.get((name, prop), {})
            ours_only = {k: v for k, v in our_schema.items() if k not in allowed}
            assert _compared(ours_only) == _compared(their_schema), (name, prop)


@pytest.mark.parametrize("example", sorted((OFFICIAL / "examples").rglob("*.json")), ids=str)
def test_official_examples_match_the_document(example: Path) -> None:
    """Every response in ACS's own examples is one that this document describes."""
    data = json.loads(example.read_text(encoding="utf-8"))
    action = example.stem.removeprefix("OptOut").lower()
    version = data["parameters"]["api-version"]
    url = f"{URL}/sms/optouts:{action}?api-version={version}"
    for status, response in data["responses"].items():
        body = json.dumps(response["body"]).encode()
        check_response("POST", url, int(status), JSON, body)


# --- the checker itself: it must refuse what the document does not describe -----------------

ADD = f"{URL}/sms/optouts:add?api-version=2026-01-23"
ITEM = {"to": "+15555555551", "httpStatusCode": 200}


def _check(status: int, body: Any, headers: dict[str, str] | None = None, url: str = ADD) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    check_response("POST", url, status, headers if headers is not None else JSON, raw)


def test_checker_accepts_described_responses() -> None:
    _check(200, {"value": [ITEM, {**ITEM, "httpStatusCode": 400, "errorMessage": "x"}]})
    _check(
        503, {"error": {"code": "ServiceUnavailable", "message": "m"}}, {**JSON, "Retry-After": "5"}
    )
    _check(400, {"type": "t", "title": "t", "status": 400, "errors": {"From": ["m"]}})
    check_response("DELETE", f"{URL}/sms/senders/%2B18005550100/program", 204, RID, b"")


@pytest.mark.parametrize(
    ("status", "body", "headers", "url"),
    [
        (200, {"value": [{**ITEM, "extra": 1}]}, JSON, ADD),  # a property not described
        (200, {"value": [{"to": "+15555555551"}]}, JSON, ADD),  # a required one missing
        (200, {"value": [{**ITEM, "httpStatusCode": "200"}]}, JSON, ADD),  # wrong type
        (202, {"value": []}, JSON, ADD),  # a status not described
        (200, {"value": []}, {"content-type": "text/plain"}, ADD),  # another media type
        (503, {"error": {"code": "c", "message": "m"}}, JSON, ADD),  # no Retry-After
        (200, {"value": []}, {"content-type": "application/json"}, ADD),  # no request id
        (200, {"value": []}, JSON, f"{URL}/sms/optouts:delete"),  # an unknown path
    ],
)
def test_checker_refuses_what_is_not_described(
    status: int, body: Any, headers: dict[str, str], url: str
) -> None:
    with pytest.raises(AssertionError, match="does not describe"):
        _check(status, body, headers, url)


def test_strictness_is_only_in_the_tests() -> None:
    served = document()["components"]["schemas"]["OptOutResponseItem"]
    assert "additionalProperties" not in served  # clients may meet new properties, as in ACS
    strict = strict_openapi().spec / "components" / "schemas" / "OptOutResponseItem"
    assert strict["additionalProperties"] is False


def test_history_vocabulary_is_the_domain_models() -> None:
    """A new Action, Source or ReplyStatus fails here until the document lists it."""
    record = document()["components"]["schemas"]["HistoryRecord"]["properties"]
    assert set(record["action"]["enum"]) == {str(a) for a in Action}
    assert set(record["source"]["enum"]) == {str(s) for s in Source}
    assert set(record["replyStatus"]["enum"]) == {str(r) for r in ReplyStatus}
    recorded = {Outcome.APPLIED, Outcome.SUPERSEDED, Outcome.UNCHANGED, Outcome.HELP}  # stored
    assert set(record["outcome"]["enum"]) == {str(o) for o in recorded}
    assert set(record["language"]["enum"]) == {*(str(lang) for lang in Language), None}


def test_program_fields_are_the_handlers() -> None:
    """A new program field fails here until the document lists it (both ways)."""
    schemas = document()["components"]["schemas"]
    assert set(schemas["SenderProgram"]["properties"]) == {"sender", *WIRE_NAMES.values()}
    assert set(schemas["SenderProgramUpdate"]["properties"]) == set(WIRE_NAMES.values())
