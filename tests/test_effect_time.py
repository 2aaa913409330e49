"""Per pair, a change's effect time never goes backwards (`FeedRow.effect_time`): whatever
times the changes bring (SMS timestamps, an import file's times, clocks), each change's time is
its own unless that would not be after the previous change's, then the previous + 1 µs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.changes import TIME_STEP, FeedRow
from shared.domain.model import FeedScope

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
offsets = st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=30)


@given(offsets, st.sampled_from(list(FeedScope)))
def test_times_follow_versions_and_are_their_own_when_they_can_be(
    micros: list[int], scope: FeedScope
) -> None:
    row = FeedRow("p", "+14255550100", scope=scope)
    changes = []
    for n, offset in enumerate(micros):
        own = T0 + timedelta(microseconds=offset)
        change = row.next_change(n % 2 == 0, own, "api")
        row = row.appended(change, own).without((change,))
        changes.append((own, change))
    times = [c.effective_at for _, c in changes]
    assert [c.version for _, c in changes] == list(range(1, len(micros) + 1))
    assert all(a < b for a, b in pairwise(times))  # strictly increasing
    previous = None
    for own, change in changes:
        expected = own if previous is None or own > previous else previous + TIME_STEP
        assert change.effective_at == expected
        assert change.opted_out_at in (None, change.effective_at)
        previous = change.effective_at
    assert row.last_change_at == times[-1]
