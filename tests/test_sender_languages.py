from __future__ import annotations

import pytest

from shared.domain.model import Language
from shared.domain.phone import parse_e164
from shared.keywords.classify import classify_in
from shared.keywords.sender_languages import (
    COUNTRY_LANGUAGES,
    InvalidLanguages,
    default_languages,
    languages_for,
    parse_languages,
)

EN, FR, ES, PT, IT, DE = (
    Language.EN,
    Language.FR,
    Language.ES,
    Language.PT,
    Language.IT,
    Language.DE,
)

DEFAULTS: list[tuple[str, tuple[Language, ...]]] = [
    ("+18005550100", (EN, ES)),  # US toll-free
    ("+14255550123", (EN, ES)),  # Washington
    ("+14165550123", (EN, FR)),  # Toronto
    ("+15145550100", (EN, FR)),  # Montreal
    ("+16135550199", (EN, FR)),  # Ottawa
    ("+17875550100", (ES, EN)),  # Puerto Rico
    ("+33612345678", (FR,)),
    ("+34612345678", (ES,)),
    ("+351912345678", (PT,)),
    ("+5511987654321", (PT,)),
    ("+393123456789", (IT,)),
    ("+4915123456789", (DE,)),
    ("+436641234567", (DE,)),
    ("+41791234567", (DE, FR, IT)),
    ("+32470123456", (FR, DE)),
    ("+525512345678", (ES,)),
    ("+447700900123", (EN,)),  # UK: English
    ("+819012345678", (EN,)),  # Japan: no pack, English
    ("+80012345678", (EN,)),  # non-geographic
]


@pytest.mark.parametrize(("number", "languages"), DEFAULTS)
def test_default_languages_by_country(number: str, languages: tuple[Language, ...]) -> None:
    sender = parse_e164(number)
    assert languages_for(sender, None) == languages
    assert languages_for(sender, ()) == languages
    assert default_languages(sender.country) == languages


def test_program_choice_wins() -> None:
    sender = parse_e164("+14165550123")
    assert languages_for(sender, (FR,)) == (FR,)
    assert languages_for(sender, [FR, EN]) == (FR, EN)


def test_country_table_is_well_formed() -> None:
    for country, languages in COUNTRY_LANGUAGES.items():
        assert len(country) == 2 and country.isupper()
        assert languages and len(set(languages)) == len(languages)
    assert default_languages("ca") == (EN, FR)


def test_arret_to_a_canadian_sender_is_french_by_default() -> None:
    sender = parse_e164("+14165550123")
    got = classify_in("ARRET", languages_for(sender, None))
    assert got.language is FR and got.keyword == "ARRET"
    assert classify_in("STOP", languages_for(sender, None)).language is EN


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["en"], (EN,)),
        (["fr", "en"], (FR, EN)),
        (["EN", "Fr"], (EN, FR)),
        (("de",), (DE,)),
        (["en", "fr", "es", "pt", "it", "de"], (EN, FR, ES, PT, IT, DE)),
    ],
)
def test_parse_languages(raw: object, expected: tuple[Language, ...]) -> None:
    assert parse_languages(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "non-empty"),
        ("en", "non-empty"),
        (None, "non-empty"),
        ({"en": 1}, "non-empty"),
        (["xx"], "unknown language 'xx'"),
        (["en", 1], "unknown language 1"),
        (["en", "EN"], "twice"),
        (["en-US"], "unknown"),
    ],
)
def test_parse_languages_rejects(raw: object, message: str) -> None:
    with pytest.raises(InvalidLanguages, match=message):
        parse_languages(raw)
