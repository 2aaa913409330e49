"""The GroupOptOuts table: GroupOptOuts (brand-wide revoke-all) on Azure Table Storage.

PartitionKey = the group name (`shared/domain/groups.py`): the group's own partition, so one entry
stands for every sender of the group and nothing is copied per sender. Two kinds of rows, as in
OptOuts (`shared/tables/optouts.py`):
- RowKey = recipient: the group-wide opt-out (Group, Recipient, Country, OptedOutAt, Source,
  MessageId, and Sender: the number the STOP was sent to). A START deletes it.
- RowKey = `~state|<recipient>`: the newest keyword event applied at the group level, so that an
  older STOP or START arriving late cannot undo a newer one.
- RowKey = `~feed|<recipient>`: the group/recipient pair's change-feed row (the outbox, as in a
  sender's partition: `shared/tables/outbox.py`), owing the event of each group-wide change.
All three change in one entity-group transaction, conditional on their ETags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from shared.domain.changes import FeedRow
from shared.domain.keyword_writes import KeywordState, KeywordWrite
from shared.domain.model import FeedScope, GroupEntry, Source
from shared.domain.phone import PhoneNumber
from shared.domain.sender import SenderId
from shared.tables.base import Entity, utc
from shared.tables.history import decode_token, encode_token
from shared.tables.optouts import keyword_operations, read_keyword_state, state_to_entity
from shared.tables.outbox import TableOutbox

_ENTRIES_END = "~"  # RowKeys of entries ("+<digits>") sort below the state rows ("~state|")


def entry_to_entity(
    group: str, recipient: PhoneNumber, sender: SenderId, at: datetime, message_id: str
) -> Entity:
    return {
        "PartitionKey": group,
        "RowKey": recipient.e164,
        "Group": group,
        "Recipient": recipient.e164,
        "Country": recipient.country,
        "Sender": sender.key,
        "OptedOutAt": at,
        "Source": str(Source.KEYWORD),
        "MessageId": message_id,
    }


def from_entity(e: Any) -> GroupEntry:
    return GroupEntry(
        group=e["Group"],
        recipient=e["Recipient"],
        sender=e.get("Sender", ""),
        opted_out_at=utc(e["OptedOutAt"]) or datetime.min.replace(tzinfo=UTC),
        message_id=e.get("MessageId", ""),
    )


class TableGroupOptOuts(TableOutbox):
    """GroupOptOuts, and the outbox of group-wide changes (FeedOutbox, scope `groups`)."""

    scope: ClassVar[FeedScope] = FeedScope.GROUP

    def group_opted_out(self, group: str, recipients: Sequence[PhoneNumber]) -> set[str]:
        return set(self.get_many(group, (r.e164 for r in recipients)))

    def group_state(self, group: str, recipient: PhoneNumber) -> KeywordState:
        return read_keyword_state(self, group, recipient.e164, self.scope)

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
        write = KeywordWrite(opt_out, event_at, message_id, keyword, sender.key, tuple(senders))
        empty = FeedRow(group, recipient.e164, scope=self.scope)
        feed = write.feed_row(state.feed or empty, state.opted_out, recipient.country)
        marker = state_to_entity(group, recipient, event_at, message_id)
        entry = entry_to_entity(group, recipient, sender, event_at, message_id)
        ops = keyword_operations(state, opt_out, marker, entry, feed, indexed=False)
        if feed.version != (state.feed or empty).version:  # a change: mark it before (outbox.py)
            self.mark_owed(group, [recipient.e164])
        results = self.transactions.write(group, ops)
        return replace(feed, etag=results[-1].get("etag"))

    def group_entries(
        self, group: str, *, page_size: int = 100, token: str | None = None
    ) -> tuple[list[GroupEntry], str | None]:
        continuation = decode_token(token)
        params = {"pk": group, "end": _ENTRIES_END}

        def read() -> tuple[list[GroupEntry], str | None]:
            pages = self._table.query_entities(
                "PartitionKey eq @pk and RowKey lt @end",
                parameters=params,
                results_per_page=page_size,
            ).by_page(continuation_token=continuation)
            rows = [from_entity(e) for e in next(pages, [])]
            return rows, encode_token(pages.continuation_token)

        return self.call(read)
