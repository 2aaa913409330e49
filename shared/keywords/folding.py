"""The forms in which inbound texts and keyword words are compared. Pure logic, no I/O.

- `keyword_form`, for the whole-message keyword rule (`shared.keywords.classify`): case and accents
  folded (Unicode NFKD, combining marks dropped, so "arrêt" is "arret" and full-width letters
  are ASCII), anything that is not a letter or digit trimmed from both ends (punctuation,
  quotes, emoji, Unicode whitespace), and inner runs of whitespace, hyphens and underscores
  made one space ("OPT   OUT", "OPT-OUT", "opt_out" are "opt out").
- `plain_language_form`, for the plain-language rules (`shared.keywords.plain_language_en`,
  `shared.keywords.plain_language_fr`): folded the same way, apostrophes dropped ("don't" is
  "dont"),
  every other run of non-alphanumerics one space.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def fold(text: str) -> str:
    """Casefold and drop accents (NFKD, combining marks removed)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# Whitespace, underscores and any dash; all treated as one space inside a keyword.
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015\u2212\u2043\ufe58\ufe63\uff0d]+")


def keyword_form(text: str) -> str:
    """Folded text with non-alphanumerics trimmed from both ends and separators collapsed."""
    folded = fold(text)
    start, end = 0, len(folded)
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    return _SEPARATORS.sub(" ", folded[start:end])


def canonical(word: str) -> str:
    """The keyword recorded for a word: its keyword form in upper case ("Arrêt" -> "ARRET")."""
    return keyword_form(word).upper()


_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc\u02b9\u0060\u00b4]")
_NON_ALNUM = re.compile(r"[\W_]+")


def plain_language_form(text: str) -> str:
    """Lowercase, accents folded, apostrophes dropped ("don't" -> "dont"), every other run of
    non-alphanumerics turned into one space, trimmed."""
    folded = _APOSTROPHES.sub("", fold(text))
    return _NON_ALNUM.sub(" ", folded).strip()


def alternation(phrases: Iterable[str]) -> str:
    """Regex alternation of literal phrases, longest first (so "thank you" before "thank u")."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
