"""What a keyword event reads of a sender/recipient pair (`KeywordState`) and writes to it, a
sender's pair or a revoke-all group's (`KeywordWrite`): the state, with the pair's change-feed
row, so that a keyword change and the event it owes are one conditional transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shared.domain.changes import KEYWORD_SOURCE, FeedRow
from shared.domain.model import Source


@dataclass(frozen=True)
class KeywordState:
    """What the store knows about one sender/recipient pair, read for a keyword event. The
    versions are opaque tokens (ETags) for the conditional write that follows."""

    opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: Source | None
    last_event_at: datetime | None
    last_message_id: str | None
    entry_etag: str | None = field(default=None, compare=False)
    state_etag: str | None = field(default=None, compare=False)
    # The store's key of the entry's time-index copy, if it has one (opaque, like the ETags).
    entry_index: str | None = field(default=None, compare=False)
    # The pair's change-feed row (its change count, owed events and ETag): a keyword change
    # writes it in the same conditional transaction.
    feed: FeedRow | None = field(default=None, compare=False)


@dataclass(frozen=True)
class KeywordWrite:
    """A keyword event written to a pair, a sender's or a group's (`received_by`: the sender
    the keyword was sent to, `senders`: the group's revoke-all senders)."""

    opt_out: bool
    event_at: datetime
    message_id: str
    keyword: str = ""
    received_by: str = ""
    senders: tuple[str, ...] = ()

    def feed_row(self, row: FeedRow, was_opted_out: bool, country: str) -> FeedRow:
        """The pair's feed row as the keyword transaction writes it: owing the change's event
        if the state changes, and written even when not (its ETag guards the pair against
        concurrent changes)."""
        if self.opt_out != was_opted_out:
            change = row.next_change(
                self.opt_out,
                self.event_at,
                KEYWORD_SOURCE,
                country=country,
                keyword=self.keyword,
                message_id=self.message_id,
                received_by=self.received_by,
                senders=self.senders,
                actor=KEYWORD_SOURCE,  # a keyword's actor is "keyword", like its source
            )
            row = row.appended(change, datetime.now(UTC))
        return replace(row, opted_out=self.opt_out)
