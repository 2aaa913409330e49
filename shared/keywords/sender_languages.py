"""Which keyword packs a sender uses: its program's `languages`, else its number's country.

Defaults (first language first; it wins for words several packs share, such as STOP):

- US: English, then Spanish. About 13% of US residents speak Spanish at home (Census ACS) and
  US carriers' Spanish-language program rules ask for ALTO/AYUDA answers; none of the Spanish
  words is an English whole-message reply, and a wrong match could only opt someone *out*.
- Canada: English, then French (CWTA: STOP/HELP answered in English, ARRET/AIDE in French).
- Puerto Rico: Spanish, then English. Switzerland: German, French, Italian. Belgium,
  Luxembourg: French, German. France and French-speaking countries: French. Spain and Spanish-
  speaking Latin America: Spanish. Portugal, Brazil and Lusophone Africa: Portuguese. Italy, San
  Marino, Vatican: Italian. Germany, Austria, Liechtenstein: German. Elsewhere: English.

Whatever the choice, the always-on words (`packs.ALWAYS_ON`) are recognised too.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.model import Language
from shared.domain.sender import SenderId

# Countries whose main language is one of the packs' (ISO 3166-1 alpha-2).
_SPANISH = frozenset("ES MX AR CO CL PE VE EC GT CU BO DO HN PY SV NI CR PA UY GQ".split())  # noqa: SIM905
_FRENCH = frozenset(
    "FR MC GP MQ GF RE YT PM BL MF NC PF WF SN CI ML BF NE TG BJ GA CG CD CM MG HT".split()  # noqa: SIM905
)
_PORTUGUESE = frozenset("PT BR AO MZ CV GW ST TL".split())  # noqa: SIM905
EN, FR, ES, PT, IT, DE = (
    Language.EN,
    Language.FR,
    Language.ES,
    Language.PT,
    Language.IT,
    Language.DE,
)

COUNTRY_LANGUAGES: dict[str, tuple[Language, ...]] = {
    **dict.fromkeys(_SPANISH, (ES,)),
    **dict.fromkeys(_FRENCH, (FR,)),
    **dict.fromkeys(_PORTUGUESE, (PT,)),
    **dict.fromkeys(("IT", "SM", "VA"), (IT,)),
    **dict.fromkeys(("DE", "AT", "LI"), (DE,)),
    "US": (EN, ES),
    "CA": (EN, FR),
    "PR": (ES, EN),
    "CH": (DE, FR, IT),
    "BE": (FR, DE),
    "LU": (FR, DE),
}
DEFAULT_LANGUAGES: tuple[Language, ...] = (EN,)
MAX_LANGUAGES = len(Language)


class InvalidLanguages(ValueError):
    """A `languages` value that is not a non-empty list of distinct known codes."""


def default_languages(country: str) -> tuple[Language, ...]:
    """The packs for a sender number's country (ISO 3166-1 alpha-2)."""
    return COUNTRY_LANGUAGES.get(country.upper(), DEFAULT_LANGUAGES)


def languages_for(sender: SenderId, chosen: Sequence[Language] | None) -> tuple[Language, ...]:
    """The program's choice if it made one, else the default for the sender's country."""
    return tuple(chosen) if chosen else default_languages(sender.country)


def parse_languages(raw: object) -> tuple[Language, ...]:
    """Validate a program's `languages` (e.g. ["en", "fr"]); order is kept (first wins)."""
    if not isinstance(raw, list | tuple) or not raw:
        raise InvalidLanguages('must be a non-empty list of language codes, e.g. ["en", "fr"]')
    known = ", ".join(lang.value for lang in Language)
    result: list[Language] = []
    for item in raw:
        if not isinstance(item, str) or item.lower() not in Language._value2member_map_:
            raise InvalidLanguages(f"has an unknown language {item!r}; known: {known}")
        lang = Language(item.lower())
        if lang in result:
            raise InvalidLanguages(f"lists {lang.value!r} twice")
        result.append(lang)
    return tuple(result)
