"""Bursts: a second keyword event for a sender within the window."""

from __future__ import annotations

from shared.inbound.bursts import Bursts


def test_a_burst_is_a_second_event_for_the_same_sender_within_the_window() -> None:
    now = [0.0]
    bursts = Bursts(window=1.0, clock=lambda: now[0])
    assert not bursts.arrived("+18005550100")  # the first one
    now[0] = 0.5
    assert bursts.arrived("+18005550100")
    assert not bursts.arrived("+18005550199")  # per sender
    now[0] = 2.0
    assert not bursts.arrived("+18005550100")  # quiet for longer than the window
