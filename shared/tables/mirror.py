"""The OptOutMirror table: MirrorJournal on Azure Table Storage, and KnownRecipients (a
sender's recipients, read from the OptOuts and OptOutHistory tables) for reconcile.

PartitionKey = sender. Rows:
- `p|<changed at>|<recipient>|<version>`: a pending change (oldest first: the first row is the
  lag); written when the change is published, deleted once its pair's state reached ACS.
- `x|<recipient>|<changed at>|<version>`: a poisoned change (with `Reason`), kept for the status
  and for reconcile, which clears a recipient's once it has fixed that pair.
- `~state`: the drain's lease and its last outcome (conditional writes on its ETag).
Every query pins the partition and a RowKey range.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TransactionOperation, UpdateMode

from shared.domain.mirror import MirrorItem, MirrorState
from shared.domain.model import ConcurrencyConflict, InvalidPageToken
from shared.domain.sender import SenderId
from shared.tables.base import (
    MAX_TRANSACTION_OPERATIONS,
    Entity,
    TableAdapter,
    chunks,
    if_unchanged,
    upsert,
    utc,
    without_none,
)
from shared.tables.feed_rows import feed_key
from shared.tables.optouts import STATE_PREFIX

PENDING, PENDING_END = "p|", "p}"
POISONED, POISONED_END = "x|", "x}"
STATE_ROW = "~state"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def pending_key(item: MirrorItem) -> str:
    return f"{PENDING}{_when(item.changed_at)}|{item.recipient}|{item.version:020d}"


def poisoned_key(item: MirrorItem) -> str:
    return f"{POISONED}{item.recipient}|{_when(item.changed_at)}|{item.version:020d}"


def item_entity(sender: str, key: str, item: MirrorItem) -> Entity:
    return without_none(
        {
            "PartitionKey": sender,
            "RowKey": key,
            "Recipient": item.recipient,
            "ChangedAt": item.changed_at,
            "Version": item.version,
            "Reason": item.reason or None,
        }
    )


def item_from_entity(e: Any) -> MirrorItem:
    return MirrorItem(
        recipient=e["Recipient"],
        changed_at=utc(e["ChangedAt"]) or datetime.min.replace(tzinfo=UTC),
        version=int(e.get("Version") or 0),
        reason=e.get("Reason") or "",
        key=e["RowKey"],
    )


def state_entity(sender: str, state: MirrorState) -> Entity:
    return without_none(
        {
            "PartitionKey": sender,
            "RowKey": STATE_ROW,
            "LeaseUntil": state.lease_until,
            "Holder": state.holder,
            "Tries": state.tries,
            "LastError": state.last_error,
            "LastErrorAt": state.last_error_at,
            "LastMirroredAt": state.last_mirrored_at,
        }
    )


def state_from_entity(e: Any) -> MirrorState:
    return MirrorState(
        lease_until=utc(e.get("LeaseUntil")),
        holder=e.get("Holder") or "",
        tries=int(e.get("Tries") or 0),
        last_error=e.get("LastError") or "",
        last_error_at=utc(e.get("LastErrorAt")),
        last_mirrored_at=utc(e.get("LastMirroredAt")),
        etag=e.metadata["etag"],
    )


class TableMirrorJournal(TableAdapter):
    def note(self, sender: str, items: Sequence[MirrorItem]) -> None:
        rows = {pending_key(i): item_entity(sender, pending_key(i), i) for i in items}
        self.transact([upsert(e) for e in rows.values()])

    def _range(self, sender: str, lo: str, hi: str, limit: int) -> list[MirrorItem]:
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
        params = {"pk": sender, "lo": lo, "hi": hi}

        def read() -> list[MirrorItem]:
            pages = self._table.query_entities(
                query, parameters=params, results_per_page=min(limit, 1000)
            ).by_page()
            found: list[MirrorItem] = []
            for page in pages:
                found += [item_from_entity(e) for e in page]
                if len(found) >= limit:
                    break
            return found[:limit]

        return self.call(read)

    def pending(self, sender: str, limit: int) -> list[MirrorItem]:
        return self._range(sender, PENDING, PENDING_END, limit)

    def poisoned(self, sender: str, limit: int) -> list[MirrorItem]:
        return self._range(sender, POISONED, POISONED_END, limit)

    def _delete_all(self, sender: str, keys: Sequence[str]) -> None:
        for chunk in chunks(list(dict.fromkeys(keys)), MAX_TRANSACTION_OPERATIONS):
            ops = [
                (TransactionOperation.DELETE, {"PartitionKey": sender, "RowKey": k}) for k in chunk
            ]
            try:
                self.submit(ops)
            except ConcurrencyConflict:  # one was gone already: delete one by one
                for key in chunk:
                    self.delete(sender, key)

    def done(self, sender: str, items: Sequence[MirrorItem]) -> None:
        self._delete_all(sender, [i.key or pending_key(i) for i in items])

    def poison(self, sender: str, items: Sequence[MirrorItem], reason: str) -> None:
        # Poisoned rows first (an upsert), then the pending ones go: never neither.
        rows = [
            item_entity(sender, poisoned_key(i), MirrorItem(i.recipient, i.changed_at, i.version))
            | {"Reason": reason[:1000]}
            for i in items
        ]
        self.transact([upsert(e) for e in rows])
        self.done(sender, items)

    def clear_poisoned(self, sender: str, recipients: Sequence[str]) -> int:
        found = self._pool.map(
            lambda r: self._range(sender, f"{POISONED}{r}|", f"{POISONED}{r}}}", 1000),
            list(dict.fromkeys(recipients)),
        )
        keys = [item.key for items in found for item in items]
        self._delete_all(sender, keys)
        return len(keys)

    def state(self, sender: str) -> MirrorState:
        e = self.get_or_none(sender, STATE_ROW)
        return MirrorState() if e is None else state_from_entity(e)

    def save_state(self, sender: str, state: MirrorState) -> MirrorState:
        entity = state_entity(sender, state)
        if state.etag is None:
            op = (TransactionOperation.CREATE, entity)
        else:
            op = (
                TransactionOperation.UPDATE,
                entity,
                {"mode": UpdateMode.REPLACE, **if_unchanged(state.etag)},
            )
        [result] = self.submit([op])  # ConcurrencyConflict: someone else wrote it since
        return replace(state, etag=result.get("etag"))


# -- every recipient the service knows of a sender (reconcile) -----------------------------------

_PHASES = ("optouts", "history")


def _encode(phase: str, continuation: Any) -> str:
    raw = json.dumps({"phase": phase, "c": continuation}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str | None) -> tuple[str, Any]:
    if not token:
        return _PHASES[0], None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as exc:
        raise InvalidPageToken("invalid page token") from exc
    if not (
        isinstance(value, dict)
        and value.get("phase") in _PHASES
        and (
            value.get("c") is None
            or (
                isinstance(value["c"], dict)
                and set(value["c"]) <= {"PartitionKey", "RowKey"}
                and all(v is None or isinstance(v, str) for v in value["c"].values())
            )
        )
    ):
        raise InvalidPageToken("invalid page token")
    return value["phase"], value.get("c")


class TableKnownRecipients:
    """KnownRecipients: the sender's OptOuts partition (entries, keyword markers, change-feed
    rows: each carries `Recipient`), then its OptOutHistory partition, less the recipients the
    first part had (point reads of their rows). One query per page, only `Recipient` read."""

    def __init__(self, optouts: TableAdapter, history: TableAdapter) -> None:
        self._tables = {"optouts": optouts, "history": history}

    def known_recipients(
        self, sender: SenderId, *, token: str | None, size: int
    ) -> tuple[list[str], str | None]:
        phase, continuation = _decode(token)
        adapter = self._tables[phase]
        table = adapter._table

        def read() -> tuple[list[str], Any]:
            pages = table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": sender.key},
                select=["Recipient"],
                results_per_page=size,
            ).by_page(continuation_token=continuation)
            rows = [e.get("Recipient") for e in next(pages, [])]
            return [r for r in dict.fromkeys(rows) if r], pages.continuation_token

        recipients, after = adapter.call(read)
        if phase == "history" and recipients:  # those the first phase gave already: not again
            keys = [k for r in recipients for k in (r, STATE_PREFIX + r, feed_key(r))]
            seen = self._tables["optouts"].get_many(sender.key, keys)
            recipients = [
                r for r in recipients if not {r, STATE_PREFIX + r, feed_key(r)} & seen.keys()
            ]
        if after:
            return recipients, _encode(phase, after)
        following = _PHASES.index(phase) + 1
        return recipients, _encode(_PHASES[following], None) if following < len(_PHASES) else None
