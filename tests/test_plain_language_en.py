"""English plain-language revocation ("please stop texting me"), through the production path:
`multilingual.classify_in` for an English-only sender, and `plain_language_en.revocation_en`.
Messages that must not fire are in `test_keywords.py` (NEGATIVES), French in
`test_plain_language_fr.py`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import Action, Language
from shared.keywords.classify import NO_MATCH, LocalizedClassification, classify_in
from shared.keywords.plain_language_en import revocation_en

EN, FR = Language.EN, Language.FR


def _en(text: str, *, plain: bool = True) -> LocalizedClassification:
    return classify_in(text, (EN,), plain_language=plain)


PLAIN_POSITIVES: list[tuple[str, str]] = [
    ("Stop please", "STOP"),
    ("please stop", "STOP"),
    ("Please STOP!!", "STOP"),
    ("STOP. Thank you", "STOP"),
    ("Stop. Thank you.", "STOP"),
    ("Stop, thanks", "STOP"),
    ("thanks, stop", "STOP"),
    ("stop now", "STOP"),
    ("STOP ASAP", "STOP"),
    ("stop pls", "STOP"),
    ("unsubscribe please", "UNSUBSCRIBE"),
    ("Cancel, thank you", "CANCEL"),
    ("opt out please", "OPT OUT"),
    ("Arrêt svp", "ARRET"),
    ("arret merci", "ARRET"),
    ("STOP STOP STOP", "STOP"),
    ("stop. stop.", "STOP"),
    ("STOP 12345 please", "STOP"),
    ("stop all", "STOP"),
    ("Stop it!", "STOP"),
    ("stop this please", "STOP"),
    ("please stop texting me", "STOP"),
    ("stop texting me", "STOP"),
    ("Stop texting me!!", "STOP"),
    ("stop texting", "STOP"),
    ("stop texting this number", "STOP"),
    ("stop texting me please", "STOP"),
    ("stop sending me messages", "STOP"),
    ("Stop sending me these texts", "STOP"),
    ("stop sending messages to this number", "STOP"),
    ("stop messaging me", "STOP"),
    ("stop contacting me", "STOP"),
    ("quit texting me", "QUIT"),
    ("stop these messages", "STOP"),
    ("stop the texts", "STOP"),
    ("stop receiving texts", "STOP"),
    ("unsubscribe me", "UNSUBSCRIBE"),
    ("Unsubscribe me from this list", "UNSUBSCRIBE"),
    ("unsub", "UNSUBSCRIBE"),
    ("remove me", "STOP"),
    ("remove me from your list", "STOP"),
    ("Please remove me from your list.", "STOP"),
    ("remove my number from your list", "STOP"),
    ("take me off your list", "STOP"),
    ("take me off the list please", "STOP"),
    ("please opt me out", "OPT OUT"),
    ("opt me out", "OPT OUT"),
    ("I want to unsubscribe", "UNSUBSCRIBE"),
    ("I\u2019d like to opt out", "OPT OUT"),
    ("i would like to unsubscribe from your list", "UNSUBSCRIBE"),
    ("I want to stop receiving these messages", "STOP"),
    ("I want to be removed from your list", "STOP"),
    ("no more texts", "STOP"),
    ("No more messages please", "STOP"),
    ("don't text me anymore", "STOP"),
    ("Don\u2019t text me", "STOP"),
    ("do not text me", "STOP"),
    ("DO NOT CONTACT ME", "STOP"),
    ("never text me again", "STOP"),
    ("don't send me messages", "STOP"),
    ("cancel my subscription", "CANCEL"),
    ("leave me alone", "STOP"),
    ("Leave me alone!", "STOP"),
]


@pytest.mark.parametrize(("text", "keyword"), PLAIN_POSITIVES)
def test_plain_language_positive(text: str, keyword: str) -> None:
    """Answered in English, unless built on a French word ("Arrêt svp")."""
    language = FR if keyword == "ARRET" else EN
    assert _en(text) == LocalizedClassification(Action.OPT_OUT, keyword, True, language)
    assert revocation_en(text) == keyword


@pytest.mark.parametrize(("text", "keyword"), PLAIN_POSITIVES)
def test_plain_language_off(text: str, keyword: str) -> None:
    assert _en(text, plain=False) == NO_MATCH


def test_long_messages_are_never_plain_language() -> None:
    assert _en("please " * 100 + "stop") == NO_MATCH
    assert _en("x" * 100_000) == NO_MATCH
    assert revocation_en("please " * 100 + "stop") is None


_WORDS = ["stop", "please", "me", "texting", " ", "!", "don't", "opt", "out", "12345", "yes"]


@given(st.lists(st.sampled_from(_WORDS), max_size=8).map("".join))
@settings(max_examples=300)
def test_property_plain_language_only_adds_opt_outs(text: str) -> None:
    strict = _en(text, plain=False)
    loose = _en(text, plain=True)
    if strict.action is not Action.NONE:
        assert loose == strict
    elif loose.action is not Action.NONE:
        assert loose.action is Action.OPT_OUT and loose.plain_language
