"""English plain-language revocation: short messages that a reasonable person reads as "stop
texting me" ("Stop please", "STOP. Thank you", "please stop texting me", "remove me from your
list", "no more texts"). Pure logic, no I/O; every sender has these rules, unless plain language
is off for it (`shared.inbound.sender_keywords`).

They only ever produce an opt-out and never fire on a message that merely contains a keyword
("stop by the store tomorrow?", "got to STOP this bill!!", "cancel my order #123"). They are
built on the always-on opt-out words (`packs.ALWAYS_ON`: the English pack's, plus the
Canadian ARRET, so "Arrêt svp" is one), never on a list of their own.
"""

from __future__ import annotations

import re

from shared.keywords.folding import alternation, canonical, keyword_form, plain_language_form
from shared.keywords.packs import ALWAYS_ON_CODE_SUFFIX, ALWAYS_ON_OPT_OUT

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

# Opt-out words as they appear in the patterns (keyword form) -> the keyword recorded.
_OPT_OUT_FORMS: dict[str, str] = {}
for _word in ALWAYS_ON_OPT_OUT:
    _OPT_OUT_FORMS.setdefault(keyword_form(_word), canonical(_word))

# The rules.
#
# Conservative by design: every pattern is anchored to the whole message, so only short messages
# whose entire content is a revocation match. Recognised (each may be wrapped in POLITENESS_WORDS,
# e.g. "please ...", "... thanks"):
#
# - opt-out keywords with politeness or repeated: "Stop please", "STOP. Thank you", "stop stop";
#   "stop all", "stop it", "stop this", "stop that"; a code keyword + code with politeness
#   ("STOP 12345 please"; "STOP 12345" alone is a keyword, `shared.keywords.classify`)
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
_POLITE = f"(?:{alternation(POLITENESS_WORDS)})"
_OPT_OUT_KW = f"(?:{alternation(_OPT_OUT_FORMS)})"
_CODE_KW = f"(?:{alternation(dict.fromkeys(keyword_form(w) for w in ALWAYS_ON_CODE_SUFFIX))})"
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


def revocation_en(text: str) -> str | None:
    """The keyword an English plain-language revocation is recorded under ("STOP", "CANCEL",
    "ARRET", ...), or None when the whole message is not one."""
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
        return _OPT_OUT_FORMS.get(found, default) if found else default
    return None
