"""French plain-language revocation, for senders that chose the `fr` pack (Canada by default).

Built like the English rules in `shared.keywords.plain_language_en`, with the same false-positive
guard: every pattern is anchored to the whole message (after `folding.plain_language_form`: lower
case, accents folded, apostrophes dropped so "m'envoyer" is "menvoyer"), may only be wrapped in
politeness words, and never fires on a message that merely contains a keyword.

Recognised (each with "svp", "s'il vous plaît", "merci", ... around it):
- "arrêtez", "arrête", "arrêt" + politeness, "arrêtez tout"
- "arrêtez / cessez de m'envoyer | m'écrire | me texter | me contacter [des|vos] [messages|sms
  |textos]"
- "ne m'envoyez plus [de messages|sms|textos]", "ne m'écrivez plus", "ne me contactez plus"
- "désabonnez-moi", "je veux | voudrais | souhaite me désabonner", "désabonnement"
- "retirez | enlevez | supprimez-moi de votre liste", "supprimez mon numéro [de votre liste]"
- "laissez-moi tranquille"

Deliberately not recognised: other objects or extra words ("arrêtez de rire", "ne m'envoyez plus
de photos", "désabonnez-moi de Netflix"), negations ("n'arrêtez pas"), "plus de messages"
(which also means "more messages").
"""

from __future__ import annotations

import re

from shared.keywords.folding import plain_language_form

POLITENESS_WORDS_FR: tuple[str, ...] = (
    "svp",
    "stp",
    "sil vous plait",
    "sil te plait",
    "merci",
    "merci beaucoup",
    "maintenant",
    "tout de suite",
    "immediatement",
)

_POLITE = "(?:" + "|".join(sorted(map(re.escape, POLITENESS_WORDS_FR), key=len, reverse=True)) + ")"
_STOP_VERB = r"(?:arretez|arrete|arreter|cessez|cesse)"
_SEND = r"(?:menvoyer|mecrire|me texter|me contacter|me relancer)"
_MSGS = r"(?:(?:des|les|vos|ces) )?(?:messages|sms|textos|texto|textes|courriels)"
_LIST = r"(?:votre|la|cette|vos|ta) (?:liste|listes|liste denvoi|liste de diffusion)"

_CORE: tuple[str, ...] = (
    r"arretez|arrete|arret|arretez tout|arrete tout",
    rf"{_STOP_VERB} de {_SEND}(?: {_MSGS})?",
    rf"{_STOP_VERB} {_MSGS}",
    r"ne (?:menvoyez|mecrivez|me textez|me contactez|menvoie|mecris|me contacte) plus"
    r"(?: de (?:messages|sms|textos))?",
    r"desabonnez moi|desabonne moi|desabonnement|desinscrivez moi",
    r"(?:je (?:veux|voudrais|souhaite|aimerais|desire)) (?:me desabonner|me desinscrire"
    rf"|etre retire(?:e)? de {_LIST}|ne plus recevoir {_MSGS})",
    rf"(?:retirez|enlevez|supprimez|retire|enleve|supprime) moi(?: de {_LIST})?",
    rf"(?:retirez|enlevez|supprimez) mon numero(?: de {_LIST})?",
    r"laissez moi tranquille|laisse moi tranquille",
)

PLAIN_LANGUAGE_PATTERNS_FR: tuple[re.Pattern[str], ...] = tuple(
    re.compile(rf"(?:{_POLITE} )*(?:{core})(?: {_POLITE})*") for core in _CORE
)
MAX_LENGTH = 200
KEYWORD = "ARRET"  # what the history records for a French plain-language revocation


def is_revocation_fr(text: str) -> bool:
    """Whether the whole message is a French plain-language request to stop."""
    if len(text) > MAX_LENGTH * 4:
        return False
    form = plain_language_form(text)
    if not form or len(form) > MAX_LENGTH:
        return False
    return any(p.fullmatch(form) for p in PLAIN_LANGUAGE_PATTERNS_FR)
