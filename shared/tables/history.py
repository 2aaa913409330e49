"""The OptOutHistory table: History and HistoryReader on Azure Table Storage.

PartitionKey = sender, RowKey = `<recipient>|<event time>|<hash of the event id>`: one row per
applied or ignored event, what a business shows a regulator. The key is derived from the event,
so a redelivered event finds its row. Each row has a time-first copy, `~time|<event time>|
<recipient>|<hash>` (`shared/tables/time_index.py`), written in the same transaction by every
write here (`_write`), so that a time window (the compliance report) is a RowKey range.

Keyword events' row writes (the claim that creates a row, the reply status that follows) that
run at the same moment for one sender share their transactions (`shared.tables.group_commit`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TableErrorCode, TableServiceClient, TransactionOperation, UpdateMode

from shared.domain.model import (
    Action,
    AlreadyRecorded,
    ConcurrencyConflict,
    DeliveryStatus,
    HistoryRecord,
    InvalidPageToken,
    Language,
    Outcome,
    ReplyStatus,
    Source,
)
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.tables.base import (
    MAX_TRANSACTION_OPERATIONS,
    Entity,
    Operation,
    TableAdapter,
    chunks,
    if_unchanged,
    upsert,
    utc,
    without_none,
)
from shared.tables.group_commit import GroupCommit
from shared.tables.time_index import (
    HISTORY_TIME_END,
    HISTORY_TIME_PREFIX,
    copy_operation,
    history_time_key,
    key_time,
)

# Opt-outs and opt-ins that changed something, in an event-time window: a RowKey range of the
# time-first copies (`~time|<start>` to `~time|<end>`), so the service reads only the window.
WINDOW_FILTER = (
    "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    " and ( Action eq @optout or Action eq @optin ) and Outcome ne @unchanged"
)
HISTORY_ROWS_BELOW = "~"  # the rows' keys start with the recipient ("+..."); copies with "~"


def history_row_key(record: HistoryRecord) -> str:
    """Deterministic per event. Event ids may hold characters keys forbid, so the id is hashed."""
    digest = hashlib.sha256(record.event_id.encode("utf-8")).hexdigest()[:32]
    return f"{record.recipient}|{key_time(record.event_at)}|{digest}"


def with_time_copies(ops: Sequence[Operation]) -> list[Operation]:
    """Each write of a history row, and the same write of its time-first copy: the one place
    that keeps the copies equal to the rows (whatever properties the rows gain)."""
    out: list[Operation] = []
    for op in ops:
        out += [op, copy_operation(op, history_time_key(op[1]["RowKey"]))]
    return out


def to_entity(record: HistoryRecord, recorded_at: datetime) -> Entity:
    return without_none(
        {
            "PartitionKey": record.sender,
            "RowKey": history_row_key(record),
            "Sender": record.sender,
            "Recipient": record.recipient,
            "Action": str(record.action),
            "Source": str(record.source),
            "EventId": record.event_id,
            "MessageId": record.message_id,
            "EventTime": record.event_at,
            "RecordedAt": recorded_at,
            "Outcome": str(record.outcome),
            "Keyword": record.keyword,
            "Language": str(record.language) if record.language else None,
            "ReplyStatus": str(record.reply_status),
            "ReplyClaimedAt": record.reply_claimed_at,
            "ReplySentAt": record.reply_sent_at,
            "EffectiveAt": record.effective_at,
            "ReplyMessageId": record.reply_message_id or None,
            "DeliveryStatus": str(record.delivery_status) or None,
            "DeliveredAt": record.delivered_at,
            "DeliveryDetail": record.delivery_detail or None,
            "Actor": record.actor or None,
        }
    )


def from_entity(e: Any) -> HistoryRecord:
    return HistoryRecord(
        sender=e["Sender"],
        recipient=e["Recipient"],
        action=Action(e["Action"]),
        source=Source(e["Source"]),
        event_id=e["EventId"],
        event_at=utc(e["EventTime"]) or datetime.min.replace(tzinfo=UTC),
        outcome=Outcome(e["Outcome"]),
        message_id=e.get("MessageId", ""),
        keyword=e.get("Keyword", ""),
        language=Language(e["Language"]) if e.get("Language") else None,
        reply_status=ReplyStatus(e.get("ReplyStatus", ReplyStatus.NONE)),
        reply_claimed_at=utc(e.get("ReplyClaimedAt")),
        recorded_at=utc(e.get("RecordedAt")),
        reply_sent_at=utc(e.get("ReplySentAt")),
        effective_at=utc(e.get("EffectiveAt")),
        reply_message_id=e.get("ReplyMessageId", ""),
        delivery_status=DeliveryStatus(e.get("DeliveryStatus", "")),
        delivered_at=utc(e.get("DeliveredAt")),
        delivery_detail=e.get("DeliveryDetail", ""),
        actor=e.get("Actor", ""),
        etag=e.metadata["etag"],
    )


def decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        continuation = json.loads(base64.urlsafe_b64decode(token))
    except ValueError as exc:  # binascii.Error, JSONDecodeError and UnicodeDecodeError are
        raise InvalidPageToken("invalid page token") from exc
    # The SDK's continuation: {"PartitionKey": ..., "RowKey": ...}; anything else would fail
    # inside the SDK (a 500), so it is refused here.
    if not (
        isinstance(continuation, dict)
        and set(continuation) <= {"PartitionKey", "RowKey"}
        and all(v is None or isinstance(v, str) for v in continuation.values())
    ):
        raise InvalidPageToken("invalid page token")
    return continuation


def encode_token(continuation: Any) -> str | None:
    return (
        base64.urlsafe_b64encode(json.dumps(continuation).encode()).decode()
        if continuation
        else None
    )


class TableHistory(TableAdapter):
    def __init__(
        self,
        service: TableServiceClient,
        table_name: str,
        pool: ThreadPoolExecutor,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(service, table_name, pool)
        self._clock = clock
        self._group = GroupCommit(self.submit)

    def _key(self, record: HistoryRecord) -> Entity:
        return {"PartitionKey": record.sender, "RowKey": history_row_key(record)}

    def _write(self, partition: str, ops: Sequence[Operation]) -> list[dict[str, Any]]:
        """Every write of history rows goes here: with their copies, in one transaction, shared
        with concurrent writers of the partition (`GroupCommit`)."""
        both = with_time_copies(ops)
        return self._group.write(partition, both, lambda: self.submit(both))

    def record_history(self, records: Sequence[HistoryRecord]) -> None:
        now = self._clock()
        by_sender: dict[str, dict[str, Entity]] = {}
        for rec in records:
            entity = to_entity(rec, now)
            by_sender.setdefault(rec.sender, {})[entity["RowKey"]] = entity
        for entities in by_sender.values():
            ops = with_time_copies([upsert(e) for e in entities.values()])
            # a row and its copy in the same transaction: 50 rows per transaction
            self.in_parallel(self.submit, chunks(ops, MAX_TRANSACTION_OPERATIONS))

    def create_history(self, record: HistoryRecord) -> None:
        create = (TransactionOperation.CREATE, to_entity(record, self._clock()))
        try:
            self._write(record.sender, [create])
        except ConcurrencyConflict as exc:  # the transaction's 409: the row exists
            if TableErrorCode.ENTITY_ALREADY_EXISTS.value in str(exc):
                raise AlreadyRecorded(str(exc)) from exc
            raise

    def get_history(self, record: HistoryRecord) -> HistoryRecord | None:
        e = self.get_or_none(record.sender, history_row_key(record))
        return None if e is None else from_entity(e)

    def set_reply_status(
        self, record: HistoryRecord, status: ReplyStatus, message_id: str = ""
    ) -> None:
        entity = {**self._key(record), "ReplyStatus": str(status)}
        if status.done:  # when the confirmation went: in the same write as its status
            entity["ReplySentAt"] = self._clock()
        if message_id:  # its delivery report finds the row by it (`confirmation`)
            entity["ReplyMessageId"] = message_id
        self._write(
            record.sender, [(TransactionOperation.UPDATE, entity, {"mode": UpdateMode.MERGE})]
        )

    def confirmation(
        self, sender: SenderId, recipient: PhoneNumber, message_id: str
    ) -> HistoryRecord | None:
        # The pair's rows only (a RowKey range: `|` < `}` right after the recipient).
        params = {
            "pk": sender.key,
            "lo": recipient.e164 + "|",
            "hi": recipient.e164 + "}",
            "id": message_id,
        }
        query = "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi and ReplyMessageId eq @id"

        def read() -> HistoryRecord | None:
            found = self._table.query_entities(query, parameters=params, results_per_page=10)
            return next((from_entity(e) for e in found), None)

        return self.call(read)

    def set_delivery(
        self,
        record: HistoryRecord,
        status: DeliveryStatus,
        delivered_at: datetime | None,
        detail: str,
    ) -> None:
        entity: Entity = {
            **self._key(record),
            "DeliveryStatus": str(status),
            "DeliveryDetail": detail,
        }
        if delivered_at is not None:
            entity["DeliveredAt"] = delivered_at
        # With the row's time-first copy, in one transaction (`_write`): the report reads
        # the copies, so a delivered confirmation shows there too.
        self._write(
            record.sender, [(TransactionOperation.UPDATE, entity, {"mode": UpdateMode.MERGE})]
        )

    def claim_reply(self, record: HistoryRecord, at: datetime) -> None:
        entity = {
            **self._key(record),
            "ReplyStatus": str(ReplyStatus.SENDING),
            "ReplyClaimedAt": at,
        }
        condition = if_unchanged(record.etag or "*")
        update = (TransactionOperation.UPDATE, entity, {"mode": UpdateMode.MERGE, **condition})
        self.submit(with_time_copies([update]))

    def history_page(
        self,
        sender: SenderId,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        params = {"pk": sender.key, "end": HISTORY_ROWS_BELOW}
        query = "PartitionKey eq @pk and RowKey lt @end"  # not the time-first copies
        if recipient is not None:  # a RowKey range: `|` < `}` right after the recipient
            params.update(lo=recipient.e164 + "|", hi=recipient.e164 + "}")
            query += " and RowKey gt @lo and RowKey lt @hi"
        continuation = decode_token(token)

        def read() -> tuple[list[HistoryRecord], str | None]:
            pages = self._table.query_entities(
                query, parameters=params, results_per_page=page_size
            ).by_page(continuation_token=continuation)
            rows = [from_entity(e) for e in next(pages, [])]
            return rows, encode_token(pages.continuation_token)

        return self.call(read)

    def history_window(
        self,
        sender: SenderId,
        start: datetime,
        end: datetime,
        *,
        page_size: int = 1000,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        """One page of the sender's opt-outs and opt-ins that changed something, received in
        [start, end), in time order. One query request per page, over the RowKey range of the
        window's time-first copies: the cost follows the window, not the partition. A page may
        still come back short with a token (HELP rows in the range): keep going until the
        token is None."""
        params = {
            "pk": sender.key,
            "lo": HISTORY_TIME_PREFIX + key_time(start),
            "hi": HISTORY_TIME_PREFIX + key_time(end) if end.year < 9999 else HISTORY_TIME_END,
            "optout": str(Action.OPT_OUT),
            "optin": str(Action.OPT_IN),
            "unchanged": str(Outcome.UNCHANGED),
        }
        continuation = decode_token(token)

        def read() -> tuple[list[HistoryRecord], str | None]:
            pages = self._table.query_entities(
                WINDOW_FILTER, parameters=params, results_per_page=page_size
            ).by_page(continuation_token=continuation)
            # A copy made by a reply-status write before the backfill copied its row has only
            # those properties: left out until the backfill completes it.
            rows = [from_entity(e) for e in next(pages, []) if "EventId" in e]
            return rows, encode_token(pages.continuation_token)

        return self.call(read)
