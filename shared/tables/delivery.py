"""The DeliveryReports table: DeliveryReports on Azure Table Storage.

Read by outgoing message id only (`GET /deliveryReports/{id}` has nothing else), so unlike the
other tables it is partitioned by message: PartitionKey = the message id (hashed when it holds a
character keys forbid, or is long), RowKey = `report` (the newest report ACS sent for it) or
`dry-run` (a message a dry run answered). Every access is a point read or a point write.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.domain.delivery import DeliveryAttempt, DeliveryReport, DrySend, ReportStatus
from shared.domain.model import AlreadyRecorded, ConcurrencyConflict
from shared.tables.base import Entity, TableAdapter, if_unchanged, utc, without_none

REPORT_ROW = "report"
DRY_RUN_ROW = "dry-run"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.:=+-]{1,200}")
MAX_CONFLICT_RETRIES = 5


def message_key(message_id: str) -> str:
    """The PartitionKey of a message id: the id itself when keys allow it, else a hash."""
    if _PLAIN_KEY.fullmatch(message_id):
        return message_id
    return "sha256-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def report_to_entity(report: DeliveryReport) -> Entity:
    attempts = [
        [a.timestamp.astimezone(UTC).isoformat(), a.segments_succeeded, a.segments_failed]
        for a in report.attempts
    ]
    return without_none(
        {
            "PartitionKey": message_key(report.message_id),
            "RowKey": REPORT_ROW,
            "MessageId": report.message_id,
            "Sender": report.sender,
            "Recipient": report.recipient,
            "DeliveryStatus": str(report.status),
            "Details": report.details,
            "ReceivedAt": report.received_at,
            "Attempts": json.dumps(attempts),
            "Tag": report.tag,
            "PartnerMessageId": report.partner_message_id or None,
        }
    )


def report_from_entity(e: Any) -> DeliveryReport:
    attempts = tuple(
        DeliveryAttempt(datetime.fromisoformat(at), int(ok), int(failed))
        for at, ok, failed in json.loads(e.get("Attempts") or "[]")
    )
    return DeliveryReport(
        message_id=e["MessageId"],
        sender=e["Sender"],
        recipient=e["Recipient"],
        status=ReportStatus(e["DeliveryStatus"]),
        received_at=utc(e["ReceivedAt"]) or datetime.min.replace(tzinfo=UTC),
        details=e.get("Details", ""),
        attempts=attempts,
        tag=e.get("Tag", ""),
        partner_message_id=e.get("PartnerMessageId", ""),
    )


def dry_send_to_entity(send: DrySend) -> Entity:
    return {
        "PartitionKey": message_key(send.message_id),
        "RowKey": DRY_RUN_ROW,
        "MessageId": send.message_id,
        "Sender": send.sender,
        "Recipient": send.recipient,
        "SentAt": send.sent_at,
        "Tag": send.tag,
    }


def dry_send_from_entity(e: Any) -> DrySend:
    return DrySend(
        message_id=e["MessageId"],
        sender=e["Sender"],
        recipient=e["Recipient"],
        sent_at=utc(e["SentAt"]) or datetime.min.replace(tzinfo=UTC),
        tag=e.get("Tag", ""),
    )


class TableDeliveryReports(TableAdapter):
    def keep_report(self, report: DeliveryReport) -> bool:
        entity = report_to_entity(report)
        key = entity["PartitionKey"]
        for _ in range(MAX_CONFLICT_RETRIES):
            existing = self.get_or_none(key, REPORT_ROW)
            if existing is None:
                try:
                    self.call(lambda: self._table.create_entity(entity))
                    return True
                except AlreadyRecorded:
                    continue  # another delivery kept one first: compare with it
            kept = report_from_entity(existing)
            if kept.message_id != report.message_id or kept.received_at > report.received_at:
                return False
            condition = if_unchanged(existing.metadata["etag"])
            try:
                self.call(
                    lambda c=condition: self._table.update_entity(
                        entity, mode=UpdateMode.REPLACE, **c
                    )
                )
                return True
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict("delivery report changed concurrently; the host will retry")

    def get_report(self, message_id: str) -> DeliveryReport | None:
        e = self.get_or_none(message_key(message_id), REPORT_ROW)
        if e is None or e.get("MessageId") != message_id:
            return None
        return report_from_entity(e)

    def record_dry_sends(self, sends: Sequence[DrySend]) -> None:
        # One partition per message: a write each (a dry run is for trying the API).
        self.in_parallel(
            lambda s: self.call(lambda: self._table.upsert_entity(dry_send_to_entity(s))),
            list(sends),
        )

    def get_dry_send(self, message_id: str) -> DrySend | None:
        e = self.get_or_none(message_key(message_id), DRY_RUN_ROW)
        if e is None or e.get("MessageId") != message_id:
            return None
        return dry_send_from_entity(e)
