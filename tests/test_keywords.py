"""The always-on keywords (the English pack's words, plus ARRET and AIDE), through the
production path: `multilingual.classify_in` for an English-only sender (what every sender
recognised before packs) and for one sender per pack. Other packs' words are in
`test_language_packs.py`, plain language in `test_plain_language_en.py` and
`test_plain_language_fr.py`, every sender over a broad corpus in `test_keyword_regression.py`."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import Action, Language
from shared.keywords.classify import NO_MATCH, LocalizedClassification, classify_in
from shared.keywords.packs import ALWAYS_ON, ALWAYS_ON_CODE_SUFFIX, ALWAYS_ON_OPT_OUT, ENGLISH
from shared.keywords.plain_language_en import POLITENESS_WORDS, revocation_en
from tests.test_language_packs import EXPECTED_WORDS

EN, FR = Language.EN, Language.FR
ENGLISH_ONLY = (EN,)
# One sender per pack, and one with every pack: the always-on words work for each.
SENDERS: list[tuple[Language, ...]] = [*((lang,) for lang in Language), tuple(Language)]


def _canonical(keyword: str) -> str:
    folded = unicodedata.normalize("NFKD", keyword)
    return "".join(c for c in folded if not unicodedata.combining(c)).upper()


def _en(text: str | None, *, plain: bool = True) -> LocalizedClassification:
    return classify_in(text, ENGLISH_ONLY, plain_language=plain)


# (word, action, the language its reply is in)
ALL_KEYWORDS: list[tuple[str, Action, Language]] = [
    *((w, action, EN) for action, words in EXPECTED_WORDS[EN].items() for w in sorted(words)),
    ("ARRET", Action.OPT_OUT, FR),
    ("ARRÊT", Action.OPT_OUT, FR),
    ("AIDE", Action.HELP, FR),
]


# --- The always-on words ------------------------------------------------------------------------


def test_always_on_words() -> None:
    """The English pack, whole, and the Canadian mandatory French words; nothing else."""
    english = (*ENGLISH.opt_out, *ENGLISH.opt_in, *ENGLISH.help)
    assert dict(ALWAYS_ON) == {EN: english, FR: ("ARRET", "ARRÊT", "AIDE")}
    assert {(w, lang) for lang, words in ALWAYS_ON for w in words} == {
        (w, lang) for w, _, lang in ALL_KEYWORDS
    }
    assert set(ALWAYS_ON_OPT_OUT) == {w for w, a, _ in ALL_KEYWORDS if a is Action.OPT_OUT}
    assert set(ALWAYS_ON_CODE_SUFFIX) == {*ENGLISH.code_suffix, "ARRET", "ARRÊT"}
    assert set(ALWAYS_ON_CODE_SUFFIX) <= set(ALWAYS_ON_OPT_OUT)
    assert "CANCEL" not in ALWAYS_ON_CODE_SUFFIX
    assert "END" not in ALWAYS_ON_CODE_SUFFIX
    assert isinstance(POLITENESS_WORDS, tuple)


@pytest.mark.parametrize(("keyword", "action", "language"), ALL_KEYWORDS)
@pytest.mark.parametrize("plain", [True, False])
def test_every_keyword_exact(keyword: str, action: Action, language: Language, plain: bool) -> None:
    expected = LocalizedClassification(action, _canonical(keyword), False, language)
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
        assert _en(variant, plain=plain) == expected, variant
        for languages in SENDERS:  # any sender: the same keyword, in its language or theirs
            got = classify_in(variant, languages, plain_language=plain)
            assert (got.action, got.keyword, got.plain_language) == (
                action,
                expected.keyword,
                False,
            )
            assert got.language in (language, *languages), (variant, languages)


# --- Exact keyword variants ---------------------------------------------------------------------

EXACT_CASES: list[tuple[str, Action, str, Language]] = [
    ("Stop.", Action.OPT_OUT, "STOP", EN),
    ("STOP!", Action.OPT_OUT, "STOP", EN),
    ("  stop  ", Action.OPT_OUT, "STOP", EN),
    ("'Stop'", Action.OPT_OUT, "STOP", EN),
    ("stop!!!", Action.OPT_OUT, "STOP", EN),
    ("sToP", Action.OPT_OUT, "STOP", EN),
    ("STOP\u200b", Action.OPT_OUT, "STOP", EN),  # zero-width space
    ("STOP\ufe0f", Action.OPT_OUT, "STOP", EN),  # variation selector
    ("\u2003STOP\u2028", Action.OPT_OUT, "STOP", EN),  # em space, line separator
    ("ＳＴＯＰ", Action.OPT_OUT, "STOP", EN),  # noqa: RUF001 - full-width letters
    ("OPT OUT", Action.OPT_OUT, "OPT OUT", EN),
    ("OPT   OUT", Action.OPT_OUT, "OPT OUT", EN),
    ("opt\tout", Action.OPT_OUT, "OPT OUT", EN),
    ("OPT-OUT", Action.OPT_OUT, "OPT OUT", EN),
    ("opt_out", Action.OPT_OUT, "OPT OUT", EN),
    ("Opt \u2013 Out", Action.OPT_OUT, "OPT OUT", EN),  # en dash
    ("optout", Action.OPT_OUT, "OPTOUT", EN),
    ("arrêt", Action.OPT_OUT, "ARRET", FR),
    ("ARRÊT", Action.OPT_OUT, "ARRET", FR),
    ("Arret.", Action.OPT_OUT, "ARRET", FR),
    ("arre\u0302t", Action.OPT_OUT, "ARRET", FR),  # decomposed circumflex
    ("Unsubscribe", Action.OPT_OUT, "UNSUBSCRIBE", EN),
    ("StopAll", Action.OPT_OUT, "STOPALL", EN),
    ("revoke!", Action.OPT_OUT, "REVOKE", EN),
    ("Start", Action.OPT_IN, "START", EN),
    ("unstop", Action.OPT_IN, "UNSTOP", EN),
    ("Yes!", Action.OPT_IN, "YES", EN),
    ("help?", Action.HELP, "HELP", EN),
    ("Info", Action.HELP, "INFO", EN),
    ("aide", Action.HELP, "AIDE", FR),
    # keyword + program number / short code: keyword syntax, on even without plain language
    ("STOP 12345", Action.OPT_OUT, "STOP", EN),
    ("stop 12345.", Action.OPT_OUT, "STOP", EN),
    ("STOP #12345", Action.OPT_OUT, "STOP", EN),
    ("STOP-12345", Action.OPT_OUT, "STOP", EN),
    ("unsubscribe 555", Action.OPT_OUT, "UNSUBSCRIBE", EN),
    ("opt out 2", Action.OPT_OUT, "OPT OUT", EN),
    ("ARRÊT 12345", Action.OPT_OUT, "ARRET", FR),
]


@pytest.mark.parametrize(("text", "action", "keyword", "language"), EXACT_CASES)
@pytest.mark.parametrize("plain", [True, False])
def test_exact(text: str, action: Action, keyword: str, language: Language, plain: bool) -> None:
    assert _en(text, plain=plain) == LocalizedClassification(action, keyword, False, language)


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
    assert _en(text, plain=plain) == NO_MATCH
    assert classify_in(text, tuple(Language), plain_language=plain) == NO_MATCH


def test_none_and_empty() -> None:
    assert _en(None) == NO_MATCH
    assert _en("") == NO_MATCH
    assert revocation_en("") is None


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
def _decorated_keyword(draw: st.DrawFn) -> tuple[str, LocalizedClassification]:
    keyword, action, language = draw(st.sampled_from(ALL_KEYWORDS))
    body = _random_case(draw, keyword)
    if " " in body:
        sep = draw(st.sampled_from([" ", "  ", "\t", "-", "_", " - ", "\u00a0"]))
        body = body.replace(" ", sep)
    expected = LocalizedClassification(action, _canonical(keyword), False, language)
    return draw(_SURROUND) + body + draw(_SURROUND), expected


@given(_decorated_keyword(), st.booleans())
@settings(max_examples=500)
def test_property_keyword_with_decoration(
    case: tuple[str, LocalizedClassification], plain: bool
) -> None:
    text, expected = case
    assert _en(text, plain=plain) == expected


@given(st.text(), st.booleans())
@settings(max_examples=500)
def test_property_never_raises(text: str, plain: bool) -> None:
    result = _en(text, plain=plain)
    assert isinstance(result, LocalizedClassification)
    assert isinstance(result.action, Action)
    if result.action is Action.NONE:
        assert result.keyword is None
    else:
        assert result.keyword is not None
    if result.plain_language:
        assert result.action is Action.OPT_OUT
        assert plain
