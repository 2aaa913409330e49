"""Classify an inbound SMS as opt-out, opt-in, help or nothing. Pure logic, no I/O.

Two layers:

1. **Keywords** (always on). The whole message, once trimmed, must be one keyword from
   `OPT_OUT_KEYWORDS`, `OPT_IN_KEYWORDS` or `HELP_KEYWORDS`. Matching folds case and accents
   (Unicode NFKD, combining marks dropped, so "arrêt" is ARRET and full-width letters are ASCII),
   ignores anything that is not a letter or digit around the keyword (punctuation, quotes,
   emoji, Unicode whitespace) and treats internal runs of whitespace, hyphens and underscores
   as one space ("OPT   OUT", "OPT-OUT", "opt_out" are OPT OUT).

   A keyword followed by a program number or short code ("STOP 12345", "STOP #12345") is an
   opt-out too, for the keywords in `CODE_SUFFIX_KEYWORDS`. This is keyword syntax rather than
   language, so it stays on when plain-language matching is off for a sender. CANCEL and END
   are left out ("cancel 123" is more likely an order or appointment); opt-in and help keywords
   with a code are not recognised (a conservative choice: only revocation must never be missed).

2. **Plain-language revocation** (`plain_language=True`, the default; see the section below).
   A small set of anchored patterns over the normalised text recognise short messages that a
   reasonable person reads as "stop texting me", e.g. "Stop please", "STOP. Thank you", "please
   stop texting me", "remove me from your list", "no more texts". They only ever produce an
   opt-out and never fire on a message that merely contains a keyword ("stop by the store
   tomorrow?", "got to STOP this bill!!", "cancel my order #123").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from shared.model import Action


@dataclass(frozen=True)
class Classification:
    action: Action
    keyword: str | None  # the canonical keyword matched, e.g. "STOP", "OPT OUT", or None
    plain_language: bool  # True when matched by the plain-language rules, not an exact keyword


# --- Keyword lists (canonical spelling; matching folds case and accents) -----------------------

OPT_OUT_KEYWORDS: tuple[str, ...] = (
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
)
OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "UNSTOP", "YES")
HELP_KEYWORDS: tuple[str, ...] = ("HELP", "INFO", "AIDE")

# Opt-out keywords that may be followed by a program number / short code ("STOP 12345").
CODE_SUFFIX_KEYWORDS: tuple[str, ...] = (
    "STOP",
    "STOPALL",
    "QUIT",
    "REVOKE",
    "OPT OUT",
    "OPTOUT",
    "UNSUBSCRIBE",
    "ARRET",
    "ARRÊT",
)

# Words allowed before/after an opt-out keyword or phrase by the plain-language rules
# (normalised form: lowercase, no accents, apostrophes removed).
POLITENESS_WORDS: tuple[str, ...] = (
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thank u",
    "thankyou",
    "thx",
    "ty",
    "now",
    "right now",
    "asap",
    "immediately",
    "merci",
    "svp",
    "sil vous plait",
)

NONE = Classification(Action.NONE, None, False)


# --- Normalisation ------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Casefold and drop accents (NFKD, combining marks removed)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# Whitespace, underscores and any dash; all treated as one space inside a keyword.
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015\u2212\u2043\ufe58\ufe63\uff0d]+")


def keyword_form(text: str) -> str:
    """Folded text with non-alphanumerics trimmed from both ends and separators collapsed."""
    folded = _fold(text)
    start, end = 0, len(folded)
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    return _SEPARATORS.sub(" ", folded[start:end])


def _canonical_table(keywords: tuple[str, ...]) -> dict[str, str]:
    """Normalised form -> canonical keyword (accented spellings map to the unaccented one)."""
    table: dict[str, str] = {}
    for keyword in keywords:
        table.setdefault(keyword_form(keyword), _fold(keyword).upper())
    return table


_EXACT: dict[str, tuple[Action, str]] = {}
for _action, _keywords in (
    (Action.OPT_OUT, OPT_OUT_KEYWORDS),
    (Action.OPT_IN, OPT_IN_KEYWORDS),
    (Action.HELP, HELP_KEYWORDS),
):
    for _form, _canonical in _canonical_table(_keywords).items():
        _EXACT[_form] = (_action, _canonical)

_OPT_OUT_FORMS = _canonical_table(OPT_OUT_KEYWORDS)
_CODE_FORMS = _canonical_table(CODE_SUFFIX_KEYWORDS)


def _alternation(forms: Iterable[str]) -> str:
    """Regex alternation of literal phrases, longest first."""
    return "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))


_CODE_SUFFIX = re.compile(rf"(?P<kw>{_alternation(_CODE_FORMS)}) #?[0-9]{{1,15}}")


def _classify_keyword(text: str) -> Classification | None:
    form = keyword_form(text)
    hit = _EXACT.get(form)
    if hit is not None:
        return Classification(hit[0], hit[1], False)
    match = _CODE_SUFFIX.fullmatch(form)
    if match is not None:
        return Classification(Action.OPT_OUT, _CODE_FORMS[match["kw"]], False)
    return None


# --- Plain-language revocation ------------------------------------------------------------------
#
# Conservative by design: every pattern is anchored to the whole message, so only short messages
# whose entire content is a revocation match. Recognised (each may be wrapped in POLITENESS_WORDS,
# e.g. "please ...", "... thanks"):
#
# - opt-out keywords with politeness or repeated: "Stop please", "STOP. Thank you", "stop stop";
#   "stop all", "stop it", "stop this", "stop that"; a code keyword + code with politeness
#   ("STOP 12345 please"; "STOP 12345" alone is a keyword match, see the module docstring)
# - "stop/quit/cease texting|messaging|contacting|sending [me|us|this number] [messages|texts]
#   [anymore|again]", "stop [sending] (these|the|your|all) messages|texts"
# - "stop receiving|getting [these|...] messages|texts"
# - "don't/do not/never text|message|contact|send me [messages|texts] [anymore|again]"
# - "unsubscribe me [from ...list]", "unsub [me]", "remove me [from|off ...list]",
#   "delete me/my number [from ...list]", "take me off [your|the|this] list"
# - "opt me out [of ...]",
#   "i want|would like|need to unsubscribe|opt out|stop [receiving texts]|be removed"
# - "no more texts|messages", "cancel my|this subscription|texts|text alerts"
# - "leave me alone"
#
# Deliberately not recognised: anything with other words ("stop texting me about the sale",
# "don't text me, call me"), negations ("don't stop", "can't stop laughing"), "cancel my order",
# "i will quit my job", "stop by the store tomorrow?", "got to STOP this bill!!".

# Longest alternatives first so "thank you" is tried before "thank u"/"thanks".
_POLITE = f"(?:{_alternation(POLITENESS_WORDS)})"
_OPT_OUT_KW = f"(?:{_alternation(_OPT_OUT_FORMS)})"
_CODE_KW = f"(?:{_alternation(_CODE_FORMS)})"
_ME = r"(?:me|us|this number|my number|my phone|my phone number|my cell)"
_MSGS = (
    r"(?:(?:any|these|those|the|your|all|all your|all of your|all these|all the|such) )?"
    r"(?:more )?"
    r"(?:text messages|txt messages|sms messages|messages|message|msgs|texts|text|txts|sms|spam"
    r"|alerts|notifications|promotions|promos|ads)"
)
_LIST = (
    r"(?:(?:this|your|the|these|all|all your|all of your|ur|the mailing|your mailing) )?"
    r"(?:list|lists|mailing list|text list|sms list|contact list|database|texts|messages"
    r"|alerts|service|program|subscription)"
)
_AGAIN = r"(?: (?:anymore|any more|again|ever again))?"

_CORE_PATTERNS: tuple[tuple[str, str], ...] = (
    # Opt-out keywords, possibly repeated or with a code: "stop", "stop stop", "stop 12345"
    (rf"(?P<kw>{_OPT_OUT_KW})(?: {_OPT_OUT_KW})*", "STOP"),
    (rf"(?P<kw>{_CODE_KW}) [0-9]{{1,15}}", "STOP"),
    # "stop all", "stop it", "stop this", "stop that"
    (r"(?P<kw>stop) (?:all|it|this|that)", "STOP"),
    # "stop texting me", "quit sending me messages", "stop messaging me"
    (
        r"(?P<kw>stop|quit|cease) (?:texting|txting|texing|messaging|msging|contacting|spamming"
        rf"|sending|sending out)(?: {_ME})?(?: {_MSGS})?(?: to {_ME})?{_AGAIN}",
        "STOP",
    ),
    # "stop these messages", "stop the texts", "stop sending texts"
    (rf"(?P<kw>stop|quit|cease) {_MSGS}{_AGAIN}", "STOP"),
    # "stop receiving texts"
    (rf"(?P<kw>stop) (?:receiving|getting) {_MSGS}(?: from (?:you|{_LIST}))?{_AGAIN}", "STOP"),
    # "don't text me", "do not send me messages", "never text me again"
    (
        r"(?:dont|don t|do not|never) (?:text|txt|message|msg|contact|sms|send|spam)"
        rf" {_ME}(?: {_MSGS})?{_AGAIN}",
        "STOP",
    ),
    # "unsubscribe me", "unsubscribe me from your list", "unsub"
    (rf"(?P<kw>unsubscribe) {_ME}(?: from {_LIST})?", "UNSUBSCRIBE"),
    (rf"unsub(?: {_ME})?(?: from {_LIST})?", "UNSUBSCRIBE"),
    # "remove me", "remove me from your list", "delete my number"
    (rf"(?:remove|delete) {_ME}(?: (?:from|off|off of) {_LIST})?", "STOP"),
    # "take me off your list"
    (rf"take {_ME} (?:off|off of|out of) {_LIST}", "STOP"),
    # "opt me out", "opt me out of this"
    (rf"opt {_ME} out(?: of (?:this|these|it|{_LIST}))?", "OPT OUT"),
    # "I want to unsubscribe", "I'd like to opt out", "I want to stop receiving texts"
    (
        r"(?:i (?:want|wanna|would like|d like|need|wish|wanted)|id like) (?:to )?(?:"
        r"(?P<kw>unsubscribe|opt out|optout|stop)"
        rf"|stop (?:receiving|getting) {_MSGS}|be (?:removed|taken off)"
        rf")(?: from {_LIST})?",
        "STOP",
    ),
    # "no more texts"
    (rf"no more {_MSGS}{_AGAIN}", "STOP"),
    # "cancel my subscription", "cancel these texts"
    (
        r"(?P<kw>cancel) (?:my|this|the|these|all|all my) (?:subscription|sms subscription"
        r"|text subscription|texts|text messages|messages|text alerts|sms alerts|sms)",
        "CANCEL",
    ),
    # "leave me alone"
    (r"leave me alone", "STOP"),
)

PLAIN_LANGUAGE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?:{_POLITE} )*(?:{core})(?: {_POLITE})*"), default)
    for core, default in _CORE_PATTERNS
)

# Revocation phrases are short; longer messages are never plain-language opt-outs.
PLAIN_LANGUAGE_MAX_LENGTH = 200

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc\u02b9\u0060\u00b4]")
_NON_ALNUM = re.compile(r"[\W_]+")


def plain_language_form(text: str) -> str:
    """Lowercase, accents folded, apostrophes dropped ("don't" -> "dont"), every other run of
    non-alphanumerics turned into one space, trimmed."""
    folded = _APOSTROPHES.sub("", _fold(text))
    return _NON_ALNUM.sub(" ", folded).strip()


def classify_plain_language(text: str) -> Classification | None:
    """The plain-language revocation rules on their own: an opt-out or None."""
    if len(text) > PLAIN_LANGUAGE_MAX_LENGTH * 4:
        return None
    form = plain_language_form(text)
    if not form or len(form) > PLAIN_LANGUAGE_MAX_LENGTH:
        return None
    for pattern, default in PLAIN_LANGUAGE_PATTERNS:
        match = pattern.fullmatch(form)
        if match is None:
            continue
        found = match.groupdict().get("kw")
        keyword = _OPT_OUT_FORMS.get(found, default) if found else default
        return Classification(Action.OPT_OUT, keyword, True)
    return None


# --- Entry point -------------------------------------------------------------------------------


def classify(text: str | None, *, plain_language: bool = True) -> Classification:
    """Classify one inbound message. Never raises for any string (or None)."""
    if not text:
        return NONE
    result = _classify_keyword(text)
    if result is not None:
        return result
    if plain_language:
        result = classify_plain_language(text)
        if result is not None:
            return result
    return NONE
