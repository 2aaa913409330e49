"""In-memory fakes for fast service-layer tests. FakeRepository implements every repository
protocol (shared/domain/repositories.py); tests/test_contract.py holds it and the Table adapters on
Azurite to the same behaviours, so the fake cannot drift unnoticed."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shared.domain.changes import Applied, FeedRow, OptOutChange
from shared.domain.delivery import DeliveryReport, DrySend
from shared.domain.keyword_writes import KeywordState, KeywordWrite
from shared.domain.model import (
    Action,
    AlreadyRecorded,
    ConcurrencyConflict,
    DeliveryStatus,
    EntryFilter,
    EntryPage,
    FeedScope,
    GroupEntry,
    HistoryRecord,
    InvalidPageToken,
    OptOutEntry,
    Outcome,
    Reply,
    ReplyStatus,
    SenderProgram,
    Source,
    StorageUnavailable,
)
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.feed.publishers import PublishFailed

GROUP_PREFIX = "group:"  # the fake's group partitions: no sender (E.164) can be keyed so


@dataclass
class Row:
    data: dict
    etag: str


@dataclass
class FakeRepository:
    optouts: dict[tuple[str, str], Row] = field(default_factory=dict)
    states: dict[tuple[str, str], Row] = field(default_factory=dict)
    feeds: dict[tuple[str, str], FeedRow] = field(default_factory=dict)
    history_rows: dict[tuple, HistoryRecord] = field(default_factory=dict)
    programs: dict[str, SenderProgram] = field(default_factory=dict)
    down: bool = False
    # Called just before apply_keyword writes: lets a test run a "concurrent" writer there.
    before_apply: Callable[[], None] | None = None
    # The store's clock (RecordedAt, ReplySentAt), like TableHistory's; None leaves them unset.
    clock: Callable[[], datetime] | None = None
    _etags: itertools.count = field(default_factory=itertools.count)

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake outage")

    def _etag(self) -> str:
        return f"W/{next(self._etags)}"

    def add(self, sender: SenderId, recipients: Sequence[PhoneNumber], at: datetime) -> None:
        self._check()
        for r in recipients:  # those already opted out are kept as they are
            self.optouts.setdefault(
                (sender.key, r.e164),
                Row({"OptedOutAt": at, "Source": Source.API, "Country": r.country}, self._etag()),
            )

    def remove(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> None:
        self._check()
        for r in recipients:
            self.optouts.pop((sender.key, r.e164), None)

    def opted_out(self, sender: SenderId, recipients: Sequence[PhoneNumber]) -> set[str]:
        self._check()
        return {r.e164 for r in recipients if (sender.key, r.e164) in self.optouts}

    def _now(self) -> datetime | None:
        return self.clock() if self.clock else None

    def entries_page(
        self, sender: SenderId, flt: EntryFilter, *, start: str | None, size: int
    ) -> EntryPage:
        self._check()
        if start is not None and not start.startswith(("+", "~")):
            raise InvalidPageToken(start)

        def order(r: str, data: dict) -> str:  # with `since`: oldest first, as the time copies
            when = data["OptedOutAt"].astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            return r if flt.since is None else f"~{when}|{r}"

        keys = sorted(
            (order(r, row.data), r) for (s, r), row in self.optouts.items()
            if s == sender.key
            and (start is None or order(r, row.data) >= start)
            and (flt.since is None or row.data["OptedOutAt"] >= flt.since)
            and (flt.country is None or row.data["Country"] == flt.country)
        )  # fmt: skip
        rows = [(r, self.optouts[(sender.key, r)].data) for _, r in keys[:size]]
        page = [OptOutEntry(r, d["Country"], d["OptedOutAt"], Source(d["Source"])) for r, d in rows]
        return EntryPage(page, keys[size][0] if len(keys) > size else None)

    def imported_by(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        import_id: str,
        source: Source = Source.IMPORT,
    ) -> dict[str, datetime]:
        self._check()
        rows = {r.e164: self.optouts.get((sender.key, r.e164)) for r in recipients}
        return {
            number: row.data["OptedOutAt"]
            for number, row in rows.items()
            if row is not None
            and row.data["Source"] == source
            and row.data.get("MessageId") == import_id
        }

    def record_history(self, records: Sequence[HistoryRecord]) -> None:
        self._check()
        for rec in records:
            self.history_rows[rec.event_key] = replace(
                rec, etag=self._etag(), recorded_at=self._now()
            )

    def get_history(self, record: HistoryRecord) -> HistoryRecord | None:
        self._check()
        return self.history_rows.get(record.event_key)

    def create_history(self, record: HistoryRecord) -> None:
        self._check()
        key = record.event_key
        if key in self.history_rows:
            raise AlreadyRecorded("EntityAlreadyExists")
        self.history_rows[key] = replace(record, etag=self._etag(), recorded_at=self._now())

    def set_reply_status(
        self, record: HistoryRecord, status: ReplyStatus, message_id: str = ""
    ) -> None:
        self._check()
        key = record.event_key
        row = self.history_rows[key]
        self.history_rows[key] = replace(
            row,
            reply_status=status,
            etag=self._etag(),
            reply_sent_at=self._now() if status.done else row.reply_sent_at,
            reply_message_id=message_id or row.reply_message_id,
        )

    def confirmation(
        self, sender: SenderId, recipient: PhoneNumber, message_id: str
    ) -> HistoryRecord | None:
        self._check()
        return next(
            (
                r
                for r in self.history_rows.values()
                if (r.sender, r.recipient, r.reply_message_id)
                == (sender.key, recipient.e164, message_id)
            ),
            None,
        )

    def set_delivery(
        self,
        record: HistoryRecord,
        status: DeliveryStatus,
        delivered_at: datetime | None,
        detail: str,
    ) -> None:
        self._check()
        key = record.event_key
        row = self.history_rows[key]
        self.history_rows[key] = replace(
            row,
            delivery_status=status,
            delivered_at=delivered_at or row.delivered_at,
            delivery_detail=detail,
            etag=self._etag(),
        )

    def claim_reply(self, record: HistoryRecord, at: datetime) -> None:
        self._check()
        key = record.event_key
        if self.history_rows[key].etag != record.etag:
            raise ConcurrencyConflict("history row changed")
        self.history_rows[key] = replace(
            self.history_rows[key],
            reply_status=ReplyStatus.SENDING,
            reply_claimed_at=at,
            etag=self._etag(),
        )

    def history_window(
        self,
        sender: SenderId,
        start: datetime,
        end: datetime,
        *,
        page_size: int = 1000,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        self._check()
        if token is not None and not token.isdigit():
            raise InvalidPageToken(token)
        rows = sorted(
            (
                r
                for r in self.history_rows.values()
                if r.sender == sender.key
                and start <= r.event_at < end
                and r.action in (Action.OPT_OUT, Action.OPT_IN)
                and r.outcome != Outcome.UNCHANGED
            ),
            # the time-first copies' order: time, recipient, event id hash
            key=lambda r: (r.event_at, r.recipient, hashlib.sha256(r.event_id.encode()).digest()),
        )
        first = int(token or 0)
        last = first + page_size
        return rows[first:last], (str(last) if last < len(rows) else None)

    def history_page(
        self,
        sender: SenderId,
        recipient: PhoneNumber | None = None,
        *,
        page_size: int = 100,
        token: str | None = None,
    ) -> tuple[list[HistoryRecord], str | None]:
        self._check()
        if token is not None and not token.isdigit():
            raise InvalidPageToken(token)
        rows = sorted(
            (
                r
                for r in self.history_rows.values()
                if r.sender == sender.key and (recipient is None or r.recipient == recipient.e164)
            ),
            key=lambda r: (r.recipient, r.event_at),
        )
        start = int(token or 0)
        end = start + page_size
        return rows[start:end], (str(end) if end < len(rows) else None)

    def keyword_state(self, sender: SenderId, recipient: PhoneNumber) -> KeywordState:
        self._check()
        key = (sender.key, recipient.e164)
        entry, state = self.optouts.get(key), self.states.get(key)
        return KeywordState(
            opted_out=entry is not None,
            opted_out_at=entry.data["OptedOutAt"] if entry else None,
            opt_out_source=entry.data["Source"] if entry else None,
            last_event_at=state.data["LastEventAt"] if state else None,
            last_message_id=state.data["LastMessageId"] if state else None,
            entry_etag=entry.etag if entry else None,
            state_etag=state.etag if state else None,
            feed=self._feed(key),
        )

    def _feed(self, key: tuple[str, str]) -> FeedRow:
        if key[0].startswith(GROUP_PREFIX):
            empty = FeedRow(key[0].removeprefix(GROUP_PREFIX), key[1], scope=FeedScope.GROUP)
            return self.feeds.get(key) or empty
        return self.feeds.get(key) or FeedRow(*key)

    def apply_keyword(
        self,
        sender: SenderId,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        event_at: datetime,
        message_id: str,
        keyword: str = "",
    ) -> FeedRow:
        if self.before_apply is not None:
            hook, self.before_apply = self.before_apply, None
            hook()
        self._check()
        key = (sender.key, recipient.e164)
        entry, current = self.optouts.get(key), self.states.get(key)
        # The same preconditions as the Table transaction: all or nothing.
        if (current.etag if current else None) != state.state_etag:
            raise ConcurrencyConflict("state")
        if (entry.etag if entry else None) != state.entry_etag:
            raise ConcurrencyConflict("entry")
        feed = self._feed(key)
        if state.feed is not None and feed.etag != state.feed.etag:
            raise ConcurrencyConflict("feed")
        write = KeywordWrite(opt_out, event_at, message_id, keyword)
        feed = write.feed_row(feed, entry is not None, recipient.country)
        self.feeds[key] = feed = replace(feed, etag=self._etag())
        self.states[key] = Row({"LastEventAt": event_at, "LastMessageId": message_id}, self._etag())
        if opt_out and entry is None:  # an entry already there is left as it is
            at = feed.last_change_at or event_at  # the change's time
            self.optouts[key] = Row(
                {"OptedOutAt": at, "Source": Source.KEYWORD, "Country": recipient.country},
                self._etag(),
            )
        elif not opt_out:
            self.optouts.pop(key, None)
        return feed

    # -- ChangeFeedStore -----------------------------------------------------------------------

    def apply(
        self,
        sender: SenderId,
        recipients: Sequence[PhoneNumber],
        *,
        opt_out: bool,
        at: datetime,
        source: Source,
        message_id: str = "",
        times: Mapping[str, datetime] | None = None,
        actor: str = "",
    ) -> list[Applied]:
        self._check()
        applied = []
        for r in {r.e164: r for r in recipients}.values():
            key = (sender.key, r.e164)
            if (key in self.optouts) == opt_out:
                continue  # already in that state: no change, no event
            when = (times or {}).get(r.e164, at)
            feed = self._feed(key)
            change = feed.next_change(
                opt_out, when, source, country=r.country, message_id=message_id, actor=actor
            )
            feed = replace(feed.appended(change, datetime.now(UTC)), etag=self._etag())
            self.feeds[key] = feed
            if opt_out:
                data = {"OptedOutAt": change.effective_at, "Source": source, "Country": r.country}
                self.optouts[key] = Row({**data, "MessageId": message_id}, self._etag())
            else:
                self.optouts.pop(key)
            applied.append(Applied(change, feed))
        return applied

    def clear(self, rows: Sequence[FeedRow]) -> None:
        self._check()
        for row in rows:
            group = row.scope is FeedScope.GROUP
            key = (GROUP_PREFIX + row.partition if group else row.partition, row.recipient)
            if key in self.feeds:
                self.feeds[key] = replace(self.feeds[key].without(row.owed), etag=self._etag())

    def owed_rows(self, owed_before: datetime) -> Iterator[FeedRow]:
        self._check()
        return iter(
            [
                f
                for f in self.feeds.values()
                if f.owed and f.owed_since is not None and f.owed_since < owed_before
            ]
        )

    # -- GroupOptOuts: the group's partition in the same dicts, keyed "group:<name>" -----------

    def group_opted_out(self, group: str, recipients: Sequence[PhoneNumber]) -> set[str]:
        self._check()
        return {r.e164 for r in recipients if (GROUP_PREFIX + group, r.e164) in self.optouts}

    def group_state(self, group: str, recipient: PhoneNumber) -> KeywordState:
        self._check()
        key = (GROUP_PREFIX + group, recipient.e164)
        entry, state = self.optouts.get(key), self.states.get(key)
        return KeywordState(
            opted_out=entry is not None,
            opted_out_at=entry.data["OptedOutAt"] if entry else None,
            opt_out_source=entry.data["Source"] if entry else None,
            last_event_at=state.data["LastEventAt"] if state else None,
            last_message_id=state.data["LastMessageId"] if state else None,
            entry_etag=entry.etag if entry else None,
            state_etag=state.etag if state else None,
            feed=self._feed(key),
        )

    def apply_group_keyword(
        self,
        group: str,
        recipient: PhoneNumber,
        state: KeywordState,
        *,
        opt_out: bool,
        sender: SenderId,
        event_at: datetime,
        message_id: str,
        keyword: str = "",
        senders: Sequence[str] = (),
    ) -> FeedRow:
        if self.before_apply is not None:
            hook, self.before_apply = self.before_apply, None
            hook()
        self._check()
        key = (GROUP_PREFIX + group, recipient.e164)
        entry, current, feed = self.optouts.get(key), self.states.get(key), self._feed(key)
        if (current.etag if current else None) != state.state_etag:
            raise ConcurrencyConflict("state")
        if (entry.etag if entry else None) != state.entry_etag:
            raise ConcurrencyConflict("entry")
        if state.feed is not None and feed.etag != state.feed.etag:
            raise ConcurrencyConflict("feed")
        write = KeywordWrite(opt_out, event_at, message_id, keyword, sender.key, tuple(senders))
        feed = write.feed_row(feed, entry is not None, recipient.country)
        self.feeds[key] = feed = replace(feed, etag=self._etag())
        self.states[key] = Row({"LastEventAt": event_at, "LastMessageId": message_id}, self._etag())
        if opt_out and entry is None:
            at = feed.last_change_at or event_at
            data = {"OptedOutAt": at, "Source": Source.KEYWORD, "Country": recipient.country}
            data |= {"Sender": sender.key, "MessageId": message_id}
            self.optouts[key] = Row(data, self._etag())
        elif not opt_out:
            self.optouts.pop(key, None)
        return feed

    def group_entries(
        self, group: str, *, page_size: int = 100, token: str | None = None
    ) -> tuple[list[GroupEntry], str | None]:
        self._check()
        if token is not None and not token.isdigit():
            raise InvalidPageToken(token)
        rows = [
            GroupEntry(group, r, row.data["Sender"], row.data["OptedOutAt"], row.data["MessageId"])
            for (pk, r), row in sorted(self.optouts.items())
            if pk == GROUP_PREFIX + group
        ]
        start = int(token or 0)
        end = start + page_size
        return rows[start:end], (str(end) if end < len(rows) else None)

    def get_program(self, sender: SenderId) -> SenderProgram | None:
        self._check()
        return self.programs.get(sender.key)

    def put_program(self, sender: SenderId, program: SenderProgram) -> None:
        self._check()
        self.programs[sender.key] = program

    def revoke_all_senders(self, group: str) -> list[str]:
        self._check()
        return sorted(
            s for s, p in self.programs.items() if p.group == group and p.revoke_all is True
        )

    def mirrored_senders(self) -> list[str]:
        self._check()
        return sorted(s for s, p in self.programs.items() if p.mirror_to_acs)

    def delete_program(self, sender: SenderId) -> None:
        self._check()
        self.programs.pop(sender.key, None)

    def ping(self) -> None:
        self._check()


@dataclass
class FakeReplies:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: Exception | None = None
    # Called once, in the middle of the next send: lets a test run a concurrent delivery there.
    during_send: Callable[[], None] | None = None

    def send(self, from_: str, to: str, text: str) -> Reply:
        if self.during_send is not None:
            hook, self.during_send = self.during_send, None
            hook()
        if self.fail is not None:
            raise self.fail
        self.sent.append((from_, to, text))
        return Reply(ReplyStatus.SENT, f"Outgoing_fake_{len(self.sent)}")


@dataclass
class FakePublisher:
    """EventPublisher in memory: what was published, in order; `down` refuses like an outage."""

    published: list[OptOutChange] = field(default_factory=list)
    down: bool = False

    def publish(self, changes: Sequence[OptOutChange]) -> None:
        if self.down:
            raise PublishFailed("fake outage")
        self.published.extend(changes)


@dataclass
class FakeDeliveryReports:
    """DeliveryReports in memory (tests/test_contract.py holds it to the Table adapter's
    behaviour): the newest report per message id, and the dry run's messages."""

    reports: dict[str, DeliveryReport] = field(default_factory=dict)
    dry_sends: dict[str, DrySend] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake outage")

    def keep_report(self, report: DeliveryReport) -> bool:
        self._check()
        kept = self.reports.get(report.message_id)
        if kept is not None and kept.received_at > report.received_at:
            return False
        self.reports[report.message_id] = report
        return True

    def get_report(self, message_id: str) -> DeliveryReport | None:
        self._check()
        return self.reports.get(message_id)

    def record_dry_sends(self, sends: Sequence[DrySend]) -> None:
        self._check()
        self.dry_sends.update((s.message_id, s) for s in sends)

    def get_dry_send(self, message_id: str) -> DrySend | None:
        self._check()
        return self.dry_sends.get(message_id)
