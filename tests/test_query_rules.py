"""The tests' storage rules (devhost/query_rules.py): what the real Table service scans is
refused, whatever the code that sends it. The rules run on every query of the suite
(tests/conftest.py); here, each rule on its own, and the hook on a real request to Azurite."""

from __future__ import annotations

import pytest
from azure.data.tables import TableServiceClient

from devhost.query_rules import ALLOWED, filter_violation, request_violation
from devhost.testing import Azurite
from tests import conftest


@pytest.mark.parametrize(
    "flt",
    [
        "PartitionKey eq 'a' and RowKey eq 'b'",
        "PartitionKey eq '+18005550100' and RowKey ge '+' and RowKey lt ','",
        "PartitionKey eq 'a' and RowKey ge '~time|2026' and RowKey lt '~time|2027'"
        " and ( Action eq 'optout' or Action eq 'optin' )",
        "PartitionKey eq 'a''b'",
        # an internal partition may filter by time: it holds only work owed
        "PartitionKey eq '~owed' and OwedSince lt datetime'2026-01-01T00:00:00Z'",
        # the allow-list, one of each
        "RowKey eq 'program' and Group eq 'brand' and RevokeAll eq true",
    ],
)
def test_queries_that_keep_the_rules(flt: str) -> None:
    assert filter_violation(flt) is None


@pytest.mark.parametrize(
    ("flt", "problem"),
    [
        ("", "PartitionKey"),
        ("RowKey ge '~feed|' and RowKey lt '~feed}'", "PartitionKey"),
        ("Country eq 'US' and PartitionKey eq 'a'", "PartitionKey"),
        ("PartitionKey eq 'a' or PartitionKey eq 'b'", "PartitionKey"),
        ("PartitionKey eq 'a' and RowKey eq 'x' or RowKey eq 'y'", "RowKey"),
        (
            "PartitionKey eq 'a' and EventTime ge datetime'2026-01-01T00:00:00Z'",
            "time compared",
        ),
        (
            "PartitionKey eq 'a' and RowKey ge '+' and OptedOutAt ge datetime'2026-01-01T00:00Z'",
            "time compared",
        ),
    ],
)
def test_queries_that_scan_are_refused(flt: str, problem: str) -> None:
    assert problem in (filter_violation(flt) or "")


def test_only_entity_queries_are_held_to_them() -> None:
    base = "http://127.0.0.1:10002/devstoreaccount1"
    assert request_violation("GET", f"{base}/OptOuts()?$filter=Country%20eq%20'US'")
    assert request_violation("GET", f"{base}/OptOuts()") is not None  # no filter: the table
    assert request_violation("GET", f"{base}/OptOuts(PartitionKey='a',RowKey='b')") is None
    assert request_violation("GET", f"{base}/Tables") is None
    assert request_violation("POST", f"{base}/$batch") is None


def test_every_allowed_query_says_why() -> None:
    assert len(ALLOWED) <= 4
    assert all(len(reason) > 40 for _, reason in ALLOWED)


def test_the_hook_sees_any_client_in_the_test_process(azurite: Azurite) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table_if_not_exists("QueryRulesProbe")
    list(table.query_entities("RowKey eq 'x'"))
    list(table.query_entities("PartitionKey eq 'p' and RowKey eq 'x'"))
    problems = conftest.new_query_problems()
    assert len(problems) == 1
    assert "QueryRulesProbe: no `PartitionKey eq`" in problems[0]
