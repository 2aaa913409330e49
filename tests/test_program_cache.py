"""Keyword events read a sender's program once per PROGRAM_CACHE_SECONDS, not once per event."""

from __future__ import annotations

from shared.domain.model import SenderProgram
from shared.domain.sender import SenderId, parse_sender
from shared.inbound.program_cache import PROGRAM_CACHE_SECONDS, CachedPrograms
from tests.fakes import FakeRepository

SENDER = parse_sender("+18005550100")
OTHER = parse_sender("+18005550199")


class CountingPrograms(FakeRepository):
    reads: int = 0

    def get_program(self, sender: SenderId) -> SenderProgram | None:
        self.reads += 1
        return super().get_program(sender)


def test_a_program_is_read_once_per_period_and_none_is_remembered_too() -> None:
    now = [0.0]
    store = CountingPrograms()
    cache = CachedPrograms(store, clock=lambda: now[0])
    assert cache.get_program(SENDER) is None
    assert cache.get_program(SENDER) is None
    assert store.reads == 1
    store.put_program(SENDER, SenderProgram(brand="Contoso"))  # another instance changes it
    now[0] += PROGRAM_CACHE_SECONDS - 1
    assert cache.get_program(SENDER) is None  # still the remembered answer
    now[0] += 1
    assert cache.get_program(SENDER) == SenderProgram(brand="Contoso")  # within the period
    assert store.reads == 2
    assert cache.get_program(OTHER) is None and store.reads == 3  # per sender


def test_a_change_through_the_cache_is_seen_at_once() -> None:
    store = CountingPrograms()
    cache = CachedPrograms(store, clock=lambda: 0.0)
    assert cache.get_program(SENDER) is None
    cache.put_program(SENDER, SenderProgram(brand="Contoso"))
    assert cache.get_program(SENDER) == SenderProgram(brand="Contoso")
    cache.delete_program(SENDER)
    assert cache.get_program(SENDER) is None
