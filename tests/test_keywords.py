from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.keywords import (
    CODE_SUFFIX_KEYWORDS,
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    POLITENESS_WORDS,
    Action,
    Classification,
    classify,
    classify_plain_language,
)


def _canonical(keyword: str) -> str:
    folded = unicodedata.normalize("NFKD", keyword)
    return "".join(c for c in folded if not unicodedata.combining(c)).upper()


ALL_KEYWORDS: list[tuple[str, Action]] = [
    *((k, Action.OPT_OUT) for k in OPT_OUT_KEYWORDS),
    *((k, Action.OPT_IN) for k in OPT_IN_KEYWORDS),
    *((k, Action.HELP) for k in HELP_KEYWORDS),
]


# --- The lists ----------------------------------------------------------------------------------


def test_keyword_lists() -> None:
    assert set(OPT_OUT_KEYWORDS) == {
        "STOP",
        "QUIT",
        "END",
        "REVOKE",
        "OPT OUT",
        "OPTOUT",
        "CANCEL",
        "UNSUBSCRIBE",
        "STOPALL",
        "ARRET",
        "ARRÊT",
    }
    assert set(OPT_IN_KEYWORDS) == {"START", "UNSTOP", "YES"}
    assert set(HELP_KEYWORDS) == {"HELP", "INFO", "AIDE"}
    assert set(CODE_SUFFIX_KEYWORDS) <= set(OPT_OUT_KEYWORDS)
    assert "CANCEL" not in CODE_SUFFIX_KEYWORDS
    assert "END" not in CODE_SUFFIX_KEYWORDS
    for lst in (OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS, HELP_KEYWORDS, POLITENESS_WORDS):
        assert isinstance(lst, tuple)


@pytest.mark.parametrize(("keyword", "action"), ALL_KEYWORDS)
@pytest.mark.parametrize("plain", [True, False])
def test_every_keyword_exact(keyword: str, action: Action, plain: bool) -> None:
    expected = Classification(action, _canonical(keyword), False)
    for variant in (
        keyword,
        keyword.lower(),
        keyword.title(),
        f"  {keyword}  ",
        f"{keyword}.",
        f"{keyword}!",
        f"{keyword}!!!",
        f"'{keyword}'",
        f'"{keyword}"',
        f"\u201c{keyword}\u201d",
        f"\u00a0{keyword}\u3000",
        f"\t{keyword}\n",
        f"{keyword} 🙏",
        f"🛑{keyword}🛑",
        f"({keyword})",
        f"**{keyword}**",
        f"¡{keyword}!",
    ):
        assert classify(variant, plain_language=plain) == expected, variant


# --- Exact keyword variants ---------------------------------------------------------------------

EXACT_CASES: list[tuple[str, Action, str]] = [
    ("Stop.", Action.OPT_OUT, "STOP"),
    ("STOP!", Action.OPT_OUT, "STOP"),
    ("  stop  ", Action.OPT_OUT, "STOP"),
    ("'Stop'", Action.OPT_OUT, "STOP"),
    ("stop!!!", Action.OPT_OUT, "STOP"),
    ("sToP", Action.OPT_OUT, "STOP"),
    ("STOP\u200b", Action.OPT_OUT, "STOP"),  # zero-width space
    ("STOP\ufe0f", Action.OPT_OUT, "STOP"),  # variation selector
    ("\u2003STOP\u2028", Action.OPT_OUT, "STOP"),  # em space, line separator
    ("ＳＴＯＰ", Action.OPT_OUT, "STOP"),  # noqa: RUF001 - full-width letters
    ("OPT OUT", Action.OPT_OUT, "OPT OUT"),
    ("OPT   OUT", Action.OPT_OUT, "OPT OUT"),
    ("opt\tout", Action.OPT_OUT, "OPT OUT"),
    ("OPT-OUT", Action.OPT_OUT, "OPT OUT"),
    ("opt_out", Action.OPT_OUT, "OPT OUT"),
    ("Opt \u2013 Out", Action.OPT_OUT, "OPT OUT"),  # en dash
    ("optout", Action.OPT_OUT, "OPTOUT"),
    ("arrêt", Action.OPT_OUT, "ARRET"),
    ("ARRÊT", Action.OPT_OUT, "ARRET"),
    ("Arret.", Action.OPT_OUT, "ARRET"),
    ("arre\u0302t", Action.OPT_OUT, "ARRET"),  # decomposed circumflex
    ("Unsubscribe", Action.OPT_OUT, "UNSUBSCRIBE"),
    ("StopAll", Action.OPT_OUT, "STOPALL"),
    ("revoke!", Action.OPT_OUT, "REVOKE"),
    ("Start", Action.OPT_IN, "START"),
    ("unstop", Action.OPT_IN, "UNSTOP"),
    ("Yes!", Action.OPT_IN, "YES"),
    ("help?", Action.HELP, "HELP"),
    ("Info", Action.HELP, "INFO"),
    ("aide", Action.HELP, "AIDE"),
    # keyword + program number / short code: keyword syntax, on even without plain language
    ("STOP 12345", Action.OPT_OUT, "STOP"),
    ("stop 12345.", Action.OPT_OUT, "STOP"),
    ("STOP #12345", Action.OPT_OUT, "STOP"),
    ("STOP-12345", Action.OPT_OUT, "STOP"),
    ("unsubscribe 555", Action.OPT_OUT, "UNSUBSCRIBE"),
    ("opt out 2", Action.OPT_OUT, "OPT OUT"),
    ("ARRÊT 12345", Action.OPT_OUT, "ARRET"),
]


@pytest.mark.parametrize(("text", "action", "keyword"), EXACT_CASES)
@pytest.mark.parametrize("plain", [True, False])
def test_exact(text: str, action: Action, keyword: str, plain: bool) -> None:
    assert classify(text, plain_language=plain) == Classification(action, keyword, False)


# --- Plain-language revocation ------------------------------------------------------------------

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
    assert classify(text) == Classification(Action.OPT_OUT, keyword, True)
    assert classify_plain_language(text) == Classification(Action.OPT_OUT, keyword, True)


@pytest.mark.parametrize(("text", "keyword"), PLAIN_POSITIVES)
def test_plain_language_off(text: str, keyword: str) -> None:
    assert classify(text, plain_language=False) == Classification(Action.NONE, None, False)


NEGATIVES: list[str] = [
    "",
    "   ",
    "!!!",
    "🙏",
    "stop by the store tomorrow?",
    "got to STOP this bill!!",
    "don't stop",
    "please don't stop",
    "can't stop laughing",
    "don't stop texting me",
    "when does the sale end",
    "the end",
    "cancel my order #123",
    "cancel 123",
    "cancel it",
    "cancel my appointment",
    "i will quit my job",
    "start the meeting",
    "yes I'll be there",
    "help me move on saturday",
    "info about the sale?",
    "stopping by later",
    "stops",
    "unstoppable",
    "nonstop",
    "bus stop",
    "stop sign",
    "stop texting me about the sale",
    "don't text me, call me",
    "don't text me while I'm driving",
    "remove me from the group chat",
    "i want to cancel",
    "i want to stop smoking",
    "end it",
    "stop and think",
    "STOP 12345 67890",
    "stop 1234567890123456",
    "s t o p",
    "st op",
    "help please",
    "start please",
    "you can stop now if you want",
    "leave me alone with my thoughts",
    "ok",
    "thanks",
    "please",
]


@pytest.mark.parametrize("text", NEGATIVES)
@pytest.mark.parametrize("plain", [True, False])
def test_negatives(text: str, plain: bool) -> None:
    assert classify(text, plain_language=plain) == Classification(Action.NONE, None, False)


def test_none_and_empty() -> None:
    assert classify(None) == Classification(Action.NONE, None, False)
    assert classify("") == Classification(Action.NONE, None, False)
    assert classify_plain_language("") is None


def test_long_messages_are_never_plain_language() -> None:
    assert classify("please " * 100 + "stop") == Classification(Action.NONE, None, False)
    assert classify("x" * 100_000) == Classification(Action.NONE, None, False)


def test_action_values() -> None:
    assert [a.value for a in Action] == ["optout", "optin", "help", "none"]
    assert Action.OPT_OUT == "optout"


# --- Properties ---------------------------------------------------------------------------------

_DECORATIONS: list[str] = [
    *" \t\n\u00a0\u2003\u3000.,!?;:'\"()[]*~-_…\u201c\u201d\u2018\u2019¡¿",
    "🙏",
    "🛑",
    "😡",
    "👍🏽",
    "❤️",
    "\u200b",
]
_SURROUND = st.lists(st.sampled_from(_DECORATIONS), max_size=8).map("".join)


def _random_case(draw: st.DrawFn, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, flags, strict=True))


@st.composite
def _decorated_keyword(draw: st.DrawFn) -> tuple[str, Action, str]:
    keyword, action = draw(st.sampled_from(ALL_KEYWORDS))
    body = _random_case(draw, keyword)
    if " " in body:
        sep = draw(st.sampled_from([" ", "  ", "\t", "-", "_", " - ", "\u00a0"]))
        body = body.replace(" ", sep)
    return draw(_SURROUND) + body + draw(_SURROUND), action, _canonical(keyword)


@given(_decorated_keyword(), st.booleans())
@settings(max_examples=500)
def test_property_keyword_with_decoration(case: tuple[str, Action, str], plain: bool) -> None:
    text, action, keyword = case
    assert classify(text, plain_language=plain) == Classification(action, keyword, False)


@given(st.text(), st.booleans())
@settings(max_examples=500)
def test_property_never_raises(text: str, plain: bool) -> None:
    result = classify(text, plain_language=plain)
    assert isinstance(result, Classification)
    assert isinstance(result.action, Action)
    if result.action is Action.NONE:
        assert result.keyword is None
    else:
        assert result.keyword is not None
    if result.plain_language:
        assert result.action is Action.OPT_OUT
        assert plain


_WORDS = ["stop", "please", "me", "texting", " ", "!", "don't", "opt", "out", "12345", "yes"]


@given(st.lists(st.sampled_from(_WORDS), max_size=8).map("".join))
@settings(max_examples=300)
def test_property_plain_language_only_adds_opt_outs(text: str) -> None:
    strict = classify(text, plain_language=False)
    loose = classify(text, plain_language=True)
    if strict.action is not Action.NONE:
        assert loose == strict
    elif loose.action is not Action.NONE:
        assert loose.action is Action.OPT_OUT and loose.plain_language
