"""The opt-out store on Azure Table Storage: the only module that knows about Table entities.

Tables (names from settings), all partitioned by sender (the business number, E.164):

- OptOuts: RowKey = recipient (E.164) for each opted-out person, with Sender, Recipient,
  Country, OptedOutAt, Source (`api` | `keyword`) and MessageId. Opting in deletes the row, as
  ACS does. Beside them, RowKey `~state|<recipient>` rows keep the newest keyword event applied
  for that person (time and message id), so that a late, older event cannot undo a newer one.
  `~` sorts after `+`, so the opt-out rows are exactly the RowKeys below `~`. Each keyword change
  writes both rows in one entity group transaction, conditional on their ETags.
- OptOutHistory: one row per applied or ignored event, RowKey
  `<recipient>|<event time>|<event id>`: what a business shows a regulator.
- SenderPrograms: RowKey `program`, the per-sender reply texts and options.

Real-service limits are honoured here even where Azurite is lenient: at most 15 comparisons in a
`$filter`, at most 100 operations per transaction, each entity once per transaction.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from shared.phone import PhoneNumber

T = TypeVar("T")
R = TypeVar("R")

MAX_FILTER_COMPARISONS = 15
MAX_TRANSACTION_OPERATIONS = 100
# One comparison of each filter goes to PartitionKey; the rest to RowKeys.
ROWKEYS_PER_QUERY = MAX_FILTER_COMPARISONS - 1
STATE_PREFIX = "~state|"
PROGRAM_ROW = "program"


class StorageUnavailable(Exception):
    """Storage could not be reached or failed; the operation made no change or may be retried."""


class ConcurrencyConflict(Exception):
    """Another writer changed the rows between our read and our conditional write."""


class AlreadyRecorded(Exception):
    """The history row for this event already exists (a duplicate delivery)."""


@dataclass(frozen=True)
class KeywordState:
    """What the store knows about one sender/recipient pair, read for a keyword event."""

    opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: str | None
    last_event_at: datetime | None
    last_message_id: str | None
    entry_etag: str | None = field(default=None, compare=False)
    state_etag: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class HistoryRecord:
    sender: str
    recipient: str
    action: str  # optout | optin | help
    source: str  # api | keyword
    event_id: str
    event_at: datetime
    outcome: str  # applied | superseded | help
    message_id: str = ""
    keyword: str = ""
    reply_status: str = "none"  # none | sending | pending | sent | logged | failed
    # When the current reply attempt began (status `sending`): a lease, so that a concurrent
    # delivery of the same event does not send too, and a crashed attempt is taken over later.
    reply_claimed_at: datetime | None = None
    recorded_at: datetime | None = field(default=None, compare=False)
    etag: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SenderProgram:
    brand: str | None = None
    help_contact: str | None = None
    optout_text: str | None = None
    optin_text: str | None = None
    help_text: str | None = None
    plain_language_optout: bool | None = None


class OptOutRepository(Protocol):
    """The store as the service layer sees it (a fake implements it for fast tests)."""

    def add(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber], at: datetime) -> None: ...

    def remove(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> None: ...

    def opted_out(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> set[str]: ...

    def record_history(self, records: Sequence[HistoryRecord]) -> None: ...

    def get_history(self, record: HistoryRecord) -> HistoryRecord | None: ...

    def create_history(self, record: HistoryRecord) -> None: ...

    def set_reply_status(self, record: HistoryRecord, status: str) -> None: ...

    def claim_reply(self, record: HistoryRecord, at: datetime) -> None:
        """Set status `sending` claimed at `at`, if the row is unchanged since `record` was read
        (its ETag); else raise ConcurrencyConflict."""
        ...

    def keyword_state(self, sender: PhoneNumber, recipient: PhoneNumber) -> KeywordState: ...

    def apply_keyword(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
    ) -> None: ...

    def get_program(self, sender: PhoneNumber) -> SenderProgram | None: ...

    def put_program(self, sender: PhoneNumber, program: SenderProgram) -> None: ...

    def delete_program(self, sender: PhoneNumber) -> None: ...

    def ping(self) -> None: ...


class HistoryReader(Protocol):
    def history_page(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]: ...


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def history_row_key(record: HistoryRecord) -> str:
    """Deterministic per event, so a redelivered event maps to the same row. Event ids may hold
    characters keys forbid, so the id is hashed."""
    digest = hashlib.sha256(record.event_id.encode("utf-8")).hexdigest()[:32]
    when = record.event_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{record.recipient}|{when}|{digest}"


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _table_missing(exc: HttpResponseError) -> bool:
    return exc.status_code == 404 and "TableNotFound" in f"{exc.error_code} {exc.message}"


def _history_record(e: Any) -> HistoryRecord:
    return HistoryRecord(
        sender=e["Sender"],
        recipient=e["Recipient"],
        action=e["Action"],
        source=e["Source"],
        event_id=e["EventId"],
        event_at=_utc(e["EventTime"]) or datetime.min.replace(tzinfo=UTC),
        outcome=e["Outcome"],
        message_id=e.get("MessageId", ""),
        keyword=e.get("Keyword", ""),
        reply_status=e.get("ReplyStatus", "none"),
        reply_claimed_at=_utc(e.get("ReplyClaimedAt")),
        recorded_at=_utc(e.get("RecordedAt")),
        etag=e.metadata["etag"],
    )


def _translate(exc: AzureError) -> Exception:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    return StorageUnavailable(f"table storage failed: {type(exc).__name__} {status} {code}")


class TableOptOutStore:
    """OptOutRepository on Azure Table Storage (or Azurite)."""

    def __init__(
        self,
        service: TableServiceClient,
        optout_table: str,
        history_table: str,
        programs_table: str,
        *,
        max_parallel_queries: int = 8,
    ) -> None:
        self._service = service
        self._optouts = service.get_table_client(optout_table)
        self._history = service.get_table_client(history_table)
        self._programs = service.get_table_client(programs_table)
        self._pool = ThreadPoolExecutor(max_workers=max_parallel_queries, thread_name_prefix="tbl")

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, table: TableClient, fn: Callable[[], R]) -> R:
        """Run `fn`; if the table does not exist yet, create it and run `fn` again (once);
        map failures to the store's exceptions."""
        try:
            try:
                return fn()
            except HttpResponseError as exc:
                if not _table_missing(exc):
                    raise
                self._create(table)
                return fn()
        except (ConcurrencyConflict, AlreadyRecorded, ResourceNotFoundError):
            raise
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412) and not _table_missing(exc):
                raise ConcurrencyConflict(str(exc.error_code)) from exc
            raise _translate(exc) from exc
        except ResourceExistsError as exc:
            raise AlreadyRecorded(str(exc.error_code)) from exc
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConcurrencyConflict(str(exc.error_code)) from exc
            raise _translate(exc) from exc
        except AzureError as exc:
            raise _translate(exc) from exc

    def _create(self, table: TableClient) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._service.create_table(table.table_name)

    def ensure_tables(self) -> None:
        for table in (self._optouts, self._history, self._programs):
            self._call(table, lambda t=table: self._create(t))

    def ping(self) -> None:
        def query() -> None:
            next(iter(self._service.list_tables(results_per_page=1).by_page()), None)

        self._call(self._optouts, query)

    # -- the API's add / remove / check ----------------------------------------------------

    def add(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber], at: datetime) -> None:
        ops: list[Any] = [
            (
                "upsert",
                {
                    "PartitionKey": sender.e164,
                    "RowKey": r.e164,
                    "Sender": sender.e164,
                    "Recipient": r.e164,
                    "Country": r.country,
                    "OptedOutAt": at,
                    "Source": "api",
                },
                {"mode": UpdateMode.REPLACE},
            )
            for r in _unique(recipients)
        ]
        self._transact(self._optouts, ops)

    def remove(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> None:
        # Optimistic: delete them all in one transaction (the usual case: they are opted out).
        # A delete of a missing entity fails the whole transaction (404), so then read which
        # exist (one query per 14 recipients, in parallel) and delete only those: idempotent.
        candidates = _unique(recipients)
        for _ in range(2):
            ops: list[Any] = [
                ("delete", {"PartitionKey": sender.e164, "RowKey": r.e164}) for r in candidates
            ]
            try:
                self._transact(self._optouts, ops)
                return
            except ConcurrencyConflict:
                present = self.opted_out(sender, candidates)
                candidates = [r for r in candidates if r.e164 in present]
        # Still racing with other writers: delete one by one, in parallel. A single delete of
        # a missing entity is not an error, so this cannot conflict.
        list(
            self._pool.map(
                lambda r: self._call(
                    self._optouts, lambda: self._optouts.delete_entity(sender.e164, r.e164)
                ),
                candidates,
            )
        )

    def opted_out(self, sender: PhoneNumber, recipients: Sequence[PhoneNumber]) -> set[str]:
        keys = sorted({r.e164 for r in recipients})
        if not keys:
            return set()
        groups = chunks(keys, ROWKEYS_PER_QUERY)
        results = list(self._pool.map(lambda g: self._rows(sender.e164, g), groups))
        return {row for group in results for row in group}

    def _rows(self, partition: str, row_keys: Sequence[str]) -> set[str]:
        params: dict[str, str] = {"pk": partition}
        clauses = []
        for i, key in enumerate(row_keys):
            params[f"r{i}"] = key
            clauses.append(f"RowKey eq @r{i}")
        query = f"PartitionKey eq @pk and ( {' or '.join(clauses)} )"

        def run() -> set[str]:
            entities = self._optouts.query_entities(
                query, parameters=params, select=["RowKey"], results_per_page=1000
            )
            return {e["RowKey"] for e in entities}

        return self._call(self._optouts, run)

    def _transact(self, table: TableClient, ops: list[Any]) -> None:
        for batch in chunks(ops, MAX_TRANSACTION_OPERATIONS):
            self._call(table, lambda b=batch: table.submit_transaction(list(b)))

    # -- history ------------------------------------------------------------------------

    @staticmethod
    def _history_entity(record: HistoryRecord) -> dict[str, Any]:
        return {
            "PartitionKey": record.sender,
            "RowKey": history_row_key(record),
            "Sender": record.sender,
            "Recipient": record.recipient,
            "Action": record.action,
            "Source": record.source,
            "EventId": record.event_id,
            "MessageId": record.message_id,
            "EventTime": record.event_at,
            "RecordedAt": datetime.now(UTC),
            "Outcome": record.outcome,
            "Keyword": record.keyword,
            "ReplyStatus": record.reply_status,
            "ReplyClaimedAt": record.reply_claimed_at,
        }

    def record_history(self, records: Sequence[HistoryRecord]) -> None:
        by_sender: dict[str, dict[str, Any]] = {}
        for rec in records:
            entity = {k: v for k, v in self._history_entity(rec).items() if v is not None}
            by_sender.setdefault(rec.sender, {})[entity["RowKey"]] = entity
        for entities in by_sender.values():
            ops: list[Any] = [
                ("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities.values()
            ]
            self._transact(self._history, ops)

    def create_history(self, record: HistoryRecord) -> None:
        entity = {k: v for k, v in self._history_entity(record).items() if v is not None}
        self._call(self._history, lambda: self._history.create_entity(entity))

    def _get_or_none(self, table: TableClient, partition: str, row: str) -> Any:
        """The entity, or None when it does not exist (a missing table still raises, so that
        `_call` creates it)."""

        def get() -> Any:
            try:
                return table.get_entity(partition, row)
            except ResourceNotFoundError as exc:
                if _table_missing(exc):
                    raise
                return None

        return self._call(table, get)

    def get_history(self, record: HistoryRecord) -> HistoryRecord | None:
        e = self._get_or_none(self._history, record.sender, history_row_key(record))
        return None if e is None else _history_record(e)

    def set_reply_status(self, record: HistoryRecord, status: str) -> None:
        entity = {
            "PartitionKey": record.sender,
            "RowKey": history_row_key(record),
            "ReplyStatus": status,
        }
        self._call(
            self._history, lambda: self._history.update_entity(entity, mode=UpdateMode.MERGE)
        )

    def claim_reply(self, record: HistoryRecord, at: datetime) -> None:
        entity = {
            "PartitionKey": record.sender,
            "RowKey": history_row_key(record),
            "ReplyStatus": "sending",
            "ReplyClaimedAt": at,
        }
        self._call(
            self._history,
            lambda: self._history.update_entity(
                entity,
                mode=UpdateMode.MERGE,
                etag=record.etag,
                match_condition=MatchConditions.IfNotModified,
            ),
        )

    def history_page(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        """One page of a sender's history (or one recipient's), ordered by recipient then event
        time, and the opaque token of the next page (None at the end)."""
        params = {"pk": sender.e164}
        query = "PartitionKey eq @pk"
        if recipient is not None:
            params.update(lo=recipient.e164 + "|", hi=recipient.e164 + "}")
            query += " and RowKey gt @lo and RowKey lt @hi"
        try:
            continuation = json.loads(base64.urlsafe_b64decode(token)) if token else None
        except ValueError as exc:
            raise ValueError("invalid page token") from exc

        def read() -> tuple[list[HistoryRecord], str | None]:
            pages = self._history.query_entities(
                query, parameters=params, results_per_page=page_size
            ).by_page(continuation_token=continuation)
            rows = [_history_record(e) for e in next(pages, [])]
            nxt = pages.continuation_token
            encoded = base64.urlsafe_b64encode(json.dumps(nxt).encode()).decode() if nxt else None
            return rows, encoded

        return self._call(self._history, read)

    # -- keyword events ------------------------------------------------------------------

    def keyword_state(self, sender: PhoneNumber, recipient: PhoneNumber) -> KeywordState:
        params = {"pk": sender.e164, "r": recipient.e164, "s": STATE_PREFIX + recipient.e164}
        query = "PartitionKey eq @pk and ( RowKey eq @r or RowKey eq @s )"

        def read() -> KeywordState:
            rows = {e["RowKey"]: e for e in self._optouts.query_entities(query, parameters=params)}
            entry, state = rows.get(recipient.e164), rows.get(STATE_PREFIX + recipient.e164)
            return KeywordState(
                opted_out=entry is not None,
                opted_out_at=_utc(entry.get("OptedOutAt")) if entry else None,
                opt_out_source=entry.get("Source") if entry else None,
                last_event_at=_utc(state.get("LastEventAt")) if state else None,
                last_message_id=state.get("LastMessageId") if state else None,
                entry_etag=entry.metadata["etag"] if entry else None,
                state_etag=state.metadata["etag"] if state else None,
            )

        return self._call(self._optouts, read)

    def apply_keyword(
        self,
        sender: PhoneNumber,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
    ) -> None:
        marker = {
            "PartitionKey": sender.e164,
            "RowKey": STATE_PREFIX + recipient.e164,
            "Recipient": recipient.e164,
            "LastEventAt": event_at,
            "LastMessageId": message_id,
            "LastAction": "optout" if opt_out else "optin",
        }
        ops: list[Any] = []
        if state.state_etag:
            cond = {"etag": state.state_etag, "match_condition": MatchConditions.IfNotModified}
            ops.append(("update", marker, {"mode": UpdateMode.REPLACE, **cond}))
        else:
            ops.append(("create", marker))
        key = {"PartitionKey": sender.e164, "RowKey": recipient.e164}
        if opt_out:
            entry = {
                **key,
                "Sender": sender.e164,
                "Recipient": recipient.e164,
                "Country": recipient.country,
                "OptedOutAt": event_at,
                "Source": "keyword",
                "MessageId": message_id,
            }
            if state.entry_etag:
                cond = {"etag": state.entry_etag, "match_condition": MatchConditions.IfNotModified}
                ops.append(("update", entry, {"mode": UpdateMode.REPLACE, **cond}))
            else:
                ops.append(("create", entry))
        elif state.entry_etag:
            cond = {"etag": state.entry_etag, "match_condition": MatchConditions.IfNotModified}
            ops.append(("delete", key, cond))
        self._call(self._optouts, lambda: self._optouts.submit_transaction(ops))

    # -- sender programs ---------------------------------------------------------------------

    def get_program(self, sender: PhoneNumber) -> SenderProgram | None:
        e = self._get_or_none(self._programs, sender.e164, PROGRAM_ROW)
        if e is None:
            return None
        return SenderProgram(
            brand=e.get("Brand"),
            help_contact=e.get("HelpContact"),
            optout_text=e.get("OptOutText"),
            optin_text=e.get("OptInText"),
            help_text=e.get("HelpText"),
            plain_language_optout=e.get("PlainLanguageOptOut"),
        )

    def put_program(self, sender: PhoneNumber, program: SenderProgram) -> None:
        entity: dict[str, Any] = {"PartitionKey": sender.e164, "RowKey": PROGRAM_ROW}
        fields = {
            "Brand": program.brand,
            "HelpContact": program.help_contact,
            "OptOutText": program.optout_text,
            "OptInText": program.optin_text,
            "HelpText": program.help_text,
            "PlainLanguageOptOut": program.plain_language_optout,
        }
        entity.update({k: v for k, v in fields.items() if v is not None})
        self._call(
            self._programs, lambda: self._programs.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def delete_program(self, sender: PhoneNumber) -> None:
        # Deleting a missing entity is not an error: DELETE is idempotent, one request.
        self._call(self._programs, lambda: self._programs.delete_entity(sender.e164, PROGRAM_ROW))


def _unique(numbers: Iterable[PhoneNumber]) -> list[PhoneNumber]:
    seen: dict[str, PhoneNumber] = {}
    for n in numbers:
        seen.setdefault(n.e164, n)
    return list(seen.values())
