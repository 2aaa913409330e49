"""Keyword packs: every word of every pack, its spellings, the reply language, and the ordinary
sentences in each language that must never be taken for a keyword."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.model import Action, Language
from shared.keywords import classify as multilingual
from shared.keywords.classify import (
    NO_MATCH,
    LocalizedClassification,
    classify_in,
    keyword_language,
    mentions_opt_out,
)
from shared.keywords.packs import ALWAYS_ON, PACKS, KeywordPack
from shared.keywords.replies import check_template, render

EN, FR, ES, PT, IT, DE = (
    Language.EN,
    Language.FR,
    Language.ES,
    Language.PT,
    Language.IT,
    Language.DE,
)
ALL = tuple(Language)


def _canonical(word: str) -> str:
    folded = unicodedata.normalize("NFKD", word)
    return "".join(c for c in folded if not unicodedata.combining(c)).upper()


# --- The packs, word by word ---------------------------------------------------------------------

EXPECTED_WORDS: dict[Language, dict[Action, set[str]]] = {
    EN: {
        Action.OPT_OUT: {
            "STOP",
            "QUIT",
            "END",
            "REVOKE",
            "OPT OUT",
            "OPTOUT",
            "CANCEL",
            "UNSUBSCRIBE",
            "STOPALL",
        },
        Action.OPT_IN: {"START", "UNSTOP", "YES"},
        Action.HELP: {"HELP", "INFO"},
    },
    FR: {
        Action.OPT_OUT: {"ARRET", "ARRÊT", "ARRETE", "ARRÊTE", "ARRETT", "STOP"},
        Action.OPT_IN: {"START"},
        Action.HELP: {"AIDE", "INFO"},
    },
    ES: {
        Action.OPT_OUT: {"BAJA", "ALTO", "DETENER", "CANCELAR", "STOP"},
        Action.OPT_IN: {"START"},
        Action.HELP: {"AYUDA"},
    },
    PT: {
        Action.OPT_OUT: {"PARAR", "PARE", "SAIR", "CANCELAR", "STOP"},
        Action.OPT_IN: {"START"},
        Action.HELP: {"AJUDA"},
    },
    IT: {
        Action.OPT_OUT: {"ANNULLA", "FERMA", "BASTA", "STOP"},
        Action.OPT_IN: {"START"},
        Action.HELP: {"AIUTO"},
    },
    DE: {
        Action.OPT_OUT: {"STOPP", "ABMELDEN", "ABBESTELLEN", "STOP"},
        Action.OPT_IN: {"START"},
        Action.HELP: {"HILFE"},
    },
}


def _pack_lists(pack: KeywordPack) -> dict[Action, set[str]]:
    return {
        Action.OPT_OUT: set(pack.opt_out),
        Action.OPT_IN: set(pack.opt_in),
        Action.HELP: set(pack.help),
    }


@pytest.mark.parametrize("language", ALL)
def test_pack_lists(language: Language) -> None:
    pack = PACKS[language]
    assert pack.language is language
    assert _pack_lists(pack) == EXPECTED_WORDS[language]
    assert set(pack.code_suffix) <= set(pack.opt_out)
    assert pack.stop_word in pack.opt_out


PACK_WORDS: list[tuple[Language, str, Action]] = [
    (lang, word, action)
    for lang, lists in EXPECTED_WORDS.items()
    for action, words in lists.items()
    for word in sorted(words)
]


def _variants(word: str) -> list[str]:
    plain = _canonical(word)
    return [
        word,
        word.lower(),
        word.title(),
        plain,
        plain.lower(),
        f"  {word}  ",
        f"{word}.",
        f"{word}!!",
        f"¡{word}!",
        f"¿{word}?",
        f"«{word}»",
        f'"{word}"',
        f"{word} 🙏",
        f"\u00a0{word}\u3000",
        unicodedata.normalize("NFD", word),
    ]


@pytest.mark.parametrize(("language", "word", "action"), PACK_WORDS)
def test_every_word_in_its_own_pack(language: Language, word: str, action: Action) -> None:
    """Each word, in every spelling, is recognised for a sender of that language alone, with
    the reply in that language (STOP to a French-only sender is answered in French)."""
    for text in _variants(word):
        for plain in (True, False):
            got = classify_in(text, [language], plain_language=plain)
            assert got == LocalizedClassification(action, _canonical(word), False, language), text


@pytest.mark.parametrize(("language", "word", "action"), PACK_WORDS)
def test_every_word_with_all_packs(language: Language, word: str, action: Action) -> None:
    got = classify_in(word.lower(), ALL)
    assert got.action is action
    assert got.keyword == _canonical(word)


# --- Which language answers --------------------------------------------------------------------

LANGUAGE_CASES: list[tuple[str, tuple[Language, ...], Action, str, Language]] = [
    # Canada (CWTA): STOP/HELP in English, ARRET/AIDE in French
    ("ARRET", (EN, FR), Action.OPT_OUT, "ARRET", FR),
    ("Arrêt", (EN, FR), Action.OPT_OUT, "ARRET", FR),
    ("arrête!", (EN, FR), Action.OPT_OUT, "ARRETE", FR),
    ("STOP", (EN, FR), Action.OPT_OUT, "STOP", EN),
    ("HELP", (EN, FR), Action.HELP, "HELP", EN),
    ("AIDE", (EN, FR), Action.HELP, "AIDE", FR),
    ("INFO", (EN, FR), Action.HELP, "INFO", EN),
    ("INFO", (FR, EN), Action.HELP, "INFO", FR),
    ("START", (EN, FR), Action.OPT_IN, "START", EN),
    # the first language wins for words several packs share
    ("STOP", (FR,), Action.OPT_OUT, "STOP", FR),
    ("STOP", (FR, EN), Action.OPT_OUT, "STOP", FR),
    ("Stop", (DE,), Action.OPT_OUT, "STOP", DE),
    ("STOP", (IT, ES), Action.OPT_OUT, "STOP", IT),
    ("START", (PT,), Action.OPT_IN, "START", PT),
    ("cancelar", (ES, PT), Action.OPT_OUT, "CANCELAR", ES),
    ("cancelar", (PT, ES), Action.OPT_OUT, "CANCELAR", PT),
    ("CANCELAR", (EN, PT), Action.OPT_OUT, "CANCELAR", PT),
    # always-on words keep their own language when the sender did not choose it
    ("ARRET", (EN,), Action.OPT_OUT, "ARRET", FR),
    ("ARRET", (DE,), Action.OPT_OUT, "ARRET", FR),
    ("AIDE", (ES,), Action.HELP, "AIDE", FR),
    ("UNSUBSCRIBE", (FR,), Action.OPT_OUT, "UNSUBSCRIBE", EN),
    ("HELP", (DE,), Action.HELP, "HELP", EN),
    ("YES", (IT,), Action.OPT_IN, "YES", EN),
    # a code after the word
    ("STOP 12345", (FR,), Action.OPT_OUT, "STOP", FR),
    ("ARRÊT 12345", (EN, FR), Action.OPT_OUT, "ARRET", FR),
    ("ARRET #555", (EN,), Action.OPT_OUT, "ARRET", FR),
    ("STOPP 12345", (DE,), Action.OPT_OUT, "STOPP", DE),
    ("Abmelden 4711", (DE,), Action.OPT_OUT, "ABMELDEN", DE),
    ("BAJA 12345", (ES,), Action.OPT_OUT, "BAJA", ES),
    ("sair 2", (PT,), Action.OPT_OUT, "SAIR", PT),
    # plain language stays English, unless built on another pack's word
    ("please stop texting me", (FR,), Action.OPT_OUT, "STOP", EN),
    ("Stop, merci", (FR,), Action.OPT_OUT, "STOP", EN),
    ("Arrêt svp", (EN, FR), Action.OPT_OUT, "ARRET", FR),
    ("arret merci", (EN,), Action.OPT_OUT, "ARRET", FR),
]


@pytest.mark.parametrize(("text", "languages", "action", "keyword", "language"), LANGUAGE_CASES)
def test_reply_language(
    text: str, languages: tuple[Language, ...], action: Action, keyword: str, language: Language
) -> None:
    got = classify_in(text, languages)
    assert (got.action, got.keyword, got.language) == (action, keyword, language)


def test_keyword_language_helper() -> None:
    assert keyword_language("ARRET", [EN, FR]) is FR
    assert keyword_language("stop", [EN, FR]) is EN
    assert keyword_language("Stop", [DE]) is DE
    assert keyword_language("hello", [EN]) is None


def test_duplicate_languages_are_harmless() -> None:
    assert classify_in("STOP", [FR, FR, EN]) == classify_in("STOP", [FR, EN])


def test_no_built_in_word_has_two_actions() -> None:
    seen: dict[str, Action] = {}
    for pack in PACKS.values():
        for action, words in _pack_lists(pack).items():
            for word in words:
                form = _canonical(word)
                assert seen.setdefault(form, action) is action, word


def test_opt_out_wins_over_other_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The precedence rule for a word that two chosen packs would read differently."""
    odd = KeywordPack(**{**PACKS[FR].__dict__, "opt_out": ("ARRET",), "opt_in": ("STOP",)})
    monkeypatch.setitem(multilingual.PACKS, FR, odd)
    multilingual._table.cache_clear()
    try:
        assert classify_in("STOP", [FR, EN]).action is Action.OPT_OUT
        assert classify_in("STOP", [FR, EN]).language is EN
    finally:
        monkeypatch.undo()
        multilingual._table.cache_clear()
    assert classify_in("STOP", [FR, EN]).language is FR


def test_always_on_words_are_in_their_packs() -> None:
    for language, words in ALWAYS_ON:
        pack_words = set().union(*_pack_lists(PACKS[language]).values())
        assert set(words) <= pack_words


# --- Words that are ordinary elsewhere: whole message only --------------------------------------

# Ordinary sentences (each language, and across languages) that contain a pack word but are not
# a request to stop. None may match, for any choice of packs.
NEGATIVES: list[str] = [
    # Spanish
    "alto ahí, llego en 5 minutos",
    "el precio es muy alto",
    "la baja de temperatura",
    "me voy a dar de baja del gimnasio mañana",
    "hay que detener el coche",
    "tengo que cancelar la cita",
    "cancelar el pedido 123",
    "necesito ayuda con mi pedido",
    "baja california",
    # Portuguese
    "vou sair às 5",
    "posso sair mais cedo hoje?",
    "pare de brincadeira kkk",
    "não consigo parar de rir",
    "preciso de ajuda com a senha",
    "sair 2 3",
    # Italian
    "è alto due metri",
    "basta così per oggi, a domani",
    "basta poco per essere felici",
    "ferma qui alle 5",
    "l'autobus si ferma in piazza",
    "annulla la prenotazione di domani",
    "mi serve aiuto con l'ordine",
    # German
    "halt",
    "HALT!",
    "ist halt so",
    "halt mal kurz",
    "stopp mal kurz, ich komme",
    "ich muss mich beim Verein abmelden",
    "brauche Hilfe beim Login",
    # French
    "arrête de rigoler",
    "à l'arrêt de bus",
    "l'arrêt 12 est fermé",
    "j'ai besoin d'aide",
    "aide-moi stp",
    # English and mixed
    "Alto sax lessons",
    "basta pasta",
    "stop by the store tomorrow?",
    "start the meeting",
    "end of the line",
    "info about the sale?",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_sentences_never_match(text: str) -> None:
    for count in range(len(ALL) + 1):
        for languages in itertools.combinations(ALL, count):
            for plain in (True, False):
                assert classify_in(text, languages, plain_language=plain) == NO_MATCH, (
                    text,
                    languages,
                )


# A word of a pack the sender did not choose is not a keyword: "alto" is "tall" in Italian,
# "basta" is "enough" in Spanish/Portuguese, "ferma", "sair", "pare" are ordinary verbs.
NOT_CHOSEN: list[tuple[str, tuple[Language, ...]]] = [
    ("ALTO", (EN, IT, PT, DE, FR)),
    ("BAJA", (EN, FR, IT, DE)),
    ("BASTA", (EN, ES, PT, FR, DE)),
    ("FERMA", (EN, ES, PT, FR, DE)),
    ("SAIR", (EN, ES, IT, FR, DE)),
    ("PARE", (EN, ES, IT, FR, DE)),
    ("PARAR", (EN, ES, IT, FR, DE)),
    ("DETENER", (EN, PT, IT, FR, DE)),
    ("ANNULLA", (EN, ES, PT, FR, DE)),
    ("STOPP", (EN, ES, PT, FR, IT)),
    ("ABMELDEN", (EN, ES, PT, FR, IT)),
    ("AYUDA", (EN, PT, IT, FR, DE)),
    ("AJUDA", (EN, ES, IT, FR, DE)),
    ("AIUTO", (EN, ES, PT, FR, DE)),
    ("HILFE", (EN, ES, PT, FR, IT)),
    ("ARRETE", (EN, ES, PT, IT, DE)),
]


@pytest.mark.parametrize(("word", "others"), NOT_CHOSEN)
def test_words_of_packs_not_chosen_do_not_fire(word: str, others: tuple[Language, ...]) -> None:
    for count in range(1, len(others) + 1):
        for languages in itertools.combinations(others, count):
            assert classify_in(word, languages) == NO_MATCH, (word, languages)


def test_empty_and_none() -> None:
    assert classify_in(None, ALL) == NO_MATCH
    assert classify_in("", ALL) == NO_MATCH
    assert classify_in("   ", ALL) == NO_MATCH
    assert not NO_MATCH.is_keyword


# --- Reply templates -----------------------------------------------------------------------------

VALUES = {"brand": "Contoso Alerts", "help_contact": "1-800-555-0100"}


@pytest.mark.parametrize("language", ALL)
def test_templates_are_ctia_shaped(language: Language) -> None:
    pack = PACKS[language]
    for action in (Action.OPT_OUT, Action.OPT_IN, Action.HELP):
        template = pack.template(action)
        check_template(template)
        text = render(template, VALUES)
        assert text.startswith("Contoso Alerts")
        # one SMS for the mandatory replies (CWTA: at most 160 characters)
        assert len(text) <= 160, (language, action, len(text))
    optout = render(pack.optout_text, VALUES)
    assert "START" in optout  # how to come back; no marketing, no contact, no link
    assert "http" not in optout and "1-800" not in optout
    help_text = render(pack.help_text, VALUES)
    assert "1-800-555-0100" in help_text
    assert mentions_opt_out(help_text, language)
    assert pack.stop_word in help_text
    assert mentions_opt_out(render(pack.optin_text, VALUES), language)


def test_mentions_opt_out() -> None:
    assert mentions_opt_out("Reply STOP to cancel", EN)
    assert mentions_opt_out("Répondez ARRÊT pour annuler", FR)
    assert mentions_opt_out("Rispondi stop", IT)
    assert not mentions_opt_out("Call us anytime", EN)
    assert not mentions_opt_out("Reply STOPPING", EN)
    assert not mentions_opt_out("Responda ALTO", EN)


# --- Properties --------------------------------------------------------------------------------

_LANGS = st.lists(st.sampled_from(ALL), max_size=6, unique=True)
_WORDS = ["stop", "arret", "alto", "basta", "please", "me", "texting", " ", "!", "12345", "yes"]


@given(st.lists(st.sampled_from(_WORDS), max_size=6).map("".join), _LANGS, st.booleans())
@settings(max_examples=400)
def test_property_never_loses_a_keyword_recognised_before_packs(
    text: str, languages: list[Language], plain: bool
) -> None:
    """Choosing languages can only add keywords: whatever an English-only sender recognises
    (what every sender recognised before packs: the always-on words and the English plain
    language) is recognised the same way for every sender."""
    before = classify_in(text, [EN], plain_language=plain)
    after = classify_in(text, languages, plain_language=plain)
    if before.action is not Action.NONE:
        assert (after.action, after.keyword, after.plain_language) == (
            before.action,
            before.keyword,
            before.plain_language,
        )


@given(st.text(max_size=300), _LANGS, st.booleans())
@settings(max_examples=400)
def test_property_never_raises(text: str, languages: list[Language], plain: bool) -> None:
    got = classify_in(text, languages, plain_language=plain)
    assert (got.language is None) == (got.action is Action.NONE)
    if got.plain_language:
        assert got.action is Action.OPT_OUT and plain


@given(st.sampled_from(PACK_WORDS), _LANGS)
@settings(max_examples=300)
def test_property_chosen_pack_words_always_recognised(
    case: tuple[Language, str, Action], others: list[Language]
) -> None:
    language, word, action = case
    languages = [*others, language] if language not in others else others
    got = classify_in(f" {word.lower()}! ", languages)
    assert got.action is action
    assert got.language in languages or got.language in (EN, FR)
