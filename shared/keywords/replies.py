"""Replies to keywords: the texts (CTIA-shaped defaults, per-sender overrides). Pure logic; the
senders that deliver them are in `shared/inbound/reply_sender.py`.

Texts are templates with two placeholders, `{brand}` and `{help_contact}`. The opt-out
confirmation carries no marketing (FCC: one confirmation, no marketing); HELP gives brand,
contact, frequency and rates notice and STOP instructions (CTIA).
"""

from __future__ import annotations

import logging
import string
from typing import TYPE_CHECKING

from shared.domain.model import Action, Language, SenderProgram
from shared.keywords.packs import ENGLISH, PACKS

if TYPE_CHECKING:
    from shared.platform.settings import Settings

log = logging.getLogger(__name__)

# The English defaults (each language's are in its pack, `shared/keywords/packs.py`).
DEFAULT_OPTOUT_TEXT = ENGLISH.optout_text
DEFAULT_OPTIN_TEXT = ENGLISH.optin_text
DEFAULT_HELP_TEXT = ENGLISH.help_text
PLACEHOLDERS = frozenset({"brand", "help_contact"})
MAX_TEXT_LENGTH = 640
MAX_REPLY_LENGTH = 1000  # a rendered reply; longer ones fall back to the default text


class TemplateError(ValueError):
    pass


def _fields(text: str) -> list[tuple[str, str | None]]:
    """(literal, field) pieces of a template; TemplateError for anything but plain
    `{brand}` / `{help_contact}` fields (no format specs or conversions: `{brand:>99999}` would
    make a reply of any size)."""
    pieces: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"is not a valid template: {exc}") from exc
    for literal, name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            raise TemplateError("placeholders take no format spec or conversion")
        if name is not None and name not in PLACEHOLDERS:
            raise TemplateError(
                f"uses an unknown placeholder {{{name}}}; allowed: {{brand}}, {{help_contact}}"
            )
        pieces.append((literal, name))
    return pieces


def check_template(text: str) -> None:
    """Raise TemplateError unless `text` is a usable reply template."""
    if not text.strip():
        raise TemplateError("must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise TemplateError(f"must be at most {MAX_TEXT_LENGTH} characters")
    _fields(text)


def render(template: str, values: dict[str, str]) -> str:
    return "".join(lit + (values[name] if name else "") for lit, name in _fields(template))


def _templates(
    action: Action, settings: Settings, p: SenderProgram, language: Language
) -> list[str | None]:
    """The candidate templates, best first: the program's text for that language; for English
    also the program's top-level texts and the REPLY_*_TEXT settings; last, the pack's own."""
    candidates = [p.texts_for(language).for_action(action)]
    if language is Language.EN:
        candidates += {
            Action.OPT_OUT: [p.optout_text, settings.reply_optout_text],
            Action.OPT_IN: [p.optin_text, settings.reply_optin_text],
            Action.HELP: [p.help_text, settings.reply_help_text],
        }[action]
    return [*candidates, PACKS[language].template(action)]


def reply_text(
    action: Action,
    settings: Settings,
    program: SenderProgram | None,
    language: Language = Language.EN,
) -> str:
    """The reply to a keyword in `language` (the language of the keyword that matched)."""
    p = program or SenderProgram()
    templates = _templates(action, settings, p, language)
    values = {
        "brand": p.brand or settings.reply_brand,
        "help_contact": p.help_contact or settings.reply_help_contact,
    }
    for template in templates:
        if not template:
            continue
        try:
            text = render(template, values)
        except TemplateError:
            log.error("A %s reply template is invalid; using the next one", action)
            continue
        if len(text) <= MAX_REPLY_LENGTH:
            return text
        log.error("A %s reply is over %d characters; using the next one", action, MAX_REPLY_LENGTH)
    return render(templates[-1], {k: v[:160] for k, v in values.items()})
