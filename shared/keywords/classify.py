"""Classify an inbound SMS against a sender's keyword packs, and say which language matched.

The whole-message rule: the message, in its keyword form (`shared.keywords.folding`: case, accents
and the punctuation around it folded away), must be one word of the sender's chosen packs or of the
always-on words (`packs.ALWAYS_ON`: everything recognised before packs existed); or one of their
code-suffix words followed by a program number or short code ("STOP 12345", "STOP #12345", 1 to 15
digits).

When a word is in more than one place (STOP is in every pack, CANCELAR in es and pt):
1. the stronger action wins: opt-out, then help, then opt-in (no built-in word has two actions;
   the rule is there so that a future word can never turn a STOP into something else);
2. among equal actions, the sender's language order decides (its `languages`, first first),
   then the always-on words. So STOP to a Canadian sender (en, fr) is answered in English and
   ARRET in French (CWTA), STOP to a French sender (fr) in French, CANCELAR to (es, pt) in
   Spanish and to (pt, es) in Portuguese.

Plain-language revocation ("stop texting me") is English (`shared.keywords.plain_language_en`, with
its false-positive guard) for every sender, answered in English unless the phrase was built on
another pack's word ("arrêt svp" -> French); and French (`shared.keywords.plain_language_fr`, the
same kind of guard) for senders that chose `fr`, answered in French. Other languages have none yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from shared.domain.model import Action, Language
from shared.keywords.folding import canonical, keyword_form, plain_language_form
from shared.keywords.packs import (
    ALWAYS_ON,
    ALWAYS_ON_CODE_SUFFIX,
    ENGLISH,
    PACKS,
    KeywordPack,
)
from shared.keywords.plain_language_en import revocation_en
from shared.keywords.plain_language_fr import KEYWORD as FR_KEYWORD
from shared.keywords.plain_language_fr import is_revocation_fr

_RANK = {Action.OPT_OUT: 0, Action.HELP: 1, Action.OPT_IN: 2}


@dataclass(frozen=True)
class LocalizedClassification:
    action: Action
    keyword: str | None  # canonical (folded, upper case), e.g. "ARRET", "OPT OUT"
    plain_language: bool
    language: Language | None  # the pack whose reply applies; None when no keyword

    @property
    def is_keyword(self) -> bool:
        return self.action is not Action.NONE


NO_MATCH = LocalizedClassification(Action.NONE, None, False, None)


@dataclass(frozen=True)
class _Entry:
    action: Action
    canonical: str
    language: Language


def _pack_words(pack: KeywordPack) -> Iterable[tuple[str, Action]]:
    yield from ((w, Action.OPT_OUT) for w in pack.opt_out)
    yield from ((w, Action.HELP) for w in pack.help)
    yield from ((w, Action.OPT_IN) for w in pack.opt_in)


def _sources(languages: tuple[Language, ...]) -> list[tuple[Language, list[tuple[str, Action]]]]:
    """(language, words) in priority order: the chosen packs, then the always-on words."""
    sources = [(lang, list(_pack_words(PACKS[lang]))) for lang in languages]
    for lang, words in ALWAYS_ON:
        pack = PACKS[lang]
        actions = dict((keyword_form(w), a) for w, a in _pack_words(pack))
        sources.append((lang, [(w, actions[keyword_form(w)]) for w in words]))
    return sources


@dataclass(frozen=True)
class _Table:
    exact: dict[str, _Entry]
    code_suffix: re.Pattern[str]


@lru_cache(maxsize=128)
def _table(languages: tuple[Language, ...]) -> _Table:
    exact: dict[str, _Entry] = {}
    for lang, words in _sources(languages):
        for word, action in words:
            form = keyword_form(word)
            current = exact.get(form)
            if current is None or _RANK[action] < _RANK[current.action]:
                exact[form] = _Entry(action, canonical(word), lang)
    code_forms = {keyword_form(w) for lang in languages for w in PACKS[lang].code_suffix}
    code_forms |= {keyword_form(w) for w in ALWAYS_ON_CODE_SUFFIX}
    code_forms = {f for f in code_forms if f in exact and exact[f].action is Action.OPT_OUT}
    alternation = "|".join(re.escape(f) for f in sorted(code_forms, key=len, reverse=True))
    return _Table(exact, re.compile(rf"(?P<kw>{alternation}) #?[0-9]{{1,15}}"))


def keyword_language(keyword: str, languages: Sequence[Language]) -> Language | None:
    """The language whose reply answers `keyword` for a sender with these `languages`."""
    entry = _table(tuple(languages)).exact.get(keyword_form(keyword))
    return entry.language if entry else None


def classify_in(
    text: str | None, languages: Sequence[Language], *, plain_language: bool = True
) -> LocalizedClassification:
    """Classify one inbound message for a sender whose packs are `languages` (in order).
    Never raises for any string (or None)."""
    if not text:
        return NO_MATCH
    table = _table(tuple(dict.fromkeys(languages)))
    form = keyword_form(text)
    entry = table.exact.get(form)
    if entry is None:
        match = table.code_suffix.fullmatch(form)
        entry = table.exact[match["kw"]] if match else None
    if entry is not None:
        return LocalizedClassification(entry.action, entry.canonical, False, entry.language)
    if plain_language:
        return _classify_plain_language(text, languages, table)
    return NO_MATCH


def _classify_plain_language(
    text: str, languages: Sequence[Language], table: _Table
) -> LocalizedClassification:
    keyword = revocation_en(text)
    if keyword is not None:
        language = _plain_language_language(keyword, table)
        return LocalizedClassification(Action.OPT_OUT, keyword, True, language)
    if Language.FR in languages and is_revocation_fr(text):
        return LocalizedClassification(Action.OPT_OUT, FR_KEYWORD, True, Language.FR)
    return NO_MATCH


_ENGLISH_FORMS = frozenset(keyword_form(w) for w in ENGLISH.opt_out)


def _plain_language_language(keyword: str, table: _Table) -> Language:
    form = keyword_form(keyword)
    if form in _ENGLISH_FORMS or form not in table.exact:
        return Language.EN
    return table.exact[form].language


def mentions_opt_out(text: str, language: Language) -> bool:
    """Whether a reply text tells how to stop in that pack's words (CTIA: HELP must say how)."""
    words = f" {plain_language_form(text)} "
    return any(f" {plain_language_form(w)} " in words for w in PACKS[language].opt_out)
