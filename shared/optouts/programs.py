"""A sender program's business rules (CTIA), independent of how the program arrives.

- Reply texts are templates (`shared/keywords/replies.py`): plain `{brand}` / `{help_contact}`
fields,
  at most 640 characters.
- The HELP text must tell how to opt out: the English one mentions STOP; another language's
  mentions one of its pack's opt-out words (ARRET, BAJA, SAIR, STOPP, ... or STOP).
- Brand and help contact are at most 160 characters (one SMS segment).
- `languages`: distinct known packs, at least one. `group`: a valid group name; `revoke_all`
  needs a group (`shared/domain/groups.py`).

Violations are keyed by attribute path: `help_text`, `texts.fr.help_text`, `group`, ...
"""

from __future__ import annotations

from shared.domain.groups import InvalidGroup, parse_group
from shared.domain.model import Language, ReplyTexts, SenderProgram
from shared.keywords.classify import mentions_opt_out
from shared.keywords.packs import PACKS
from shared.keywords.replies import TemplateError, check_template

MAX_FIELD_LENGTH = 160
TEMPLATE_FIELDS = ("optout_text", "optin_text", "help_text")
TEXT_FIELDS = ("brand", "help_contact")


def template_violation(name: str, value: str, language: Language) -> str | None:
    """Why the reply template `value` (attribute `name`, in `language`) is refused, or None."""
    try:
        check_template(value)
    except TemplateError as exc:
        return f"The text {exc}."
    if name != "help_text":
        return None
    english = language is Language.EN
    if not ("stop" in value.lower() if english else mentions_opt_out(value, language)):
        word = PACKS[language].stop_word
        return f"HELP text must tell how to opt out (CTIA): mention {word}."
    return None


def _texts_violations(prefix: str, texts: ReplyTexts, language: Language) -> dict[str, str]:
    problems: dict[str, str] = {}
    for name in TEMPLATE_FIELDS:
        value = getattr(texts, name)
        if value is not None and (problem := template_violation(name, value, language)):
            problems[prefix + name] = problem
    return problems


def _option_violations(program: SenderProgram) -> dict[str, str]:
    problems: dict[str, str] = {}
    if program.languages is not None and (
        not program.languages or len(set(program.languages)) != len(program.languages)
    ):
        problems["languages"] = "Must list at least one language, each once."
    if program.group is not None:
        try:
            if parse_group(program.group) != program.group:
                problems["group"] = "Must be in lower case."
        except InvalidGroup as exc:
            problems["group"] = f"The group name {exc}."
    if program.revoke_all and program.group is None:
        problems["revoke_all"] = "revokeAll needs a group: name the brand's group."
    return problems


def program_violations(program: SenderProgram) -> dict[str, str]:
    """Each field of `program` that breaks a rule -> why (empty when the program is valid)."""
    problems: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = getattr(program, name)
        if value is not None and len(value) > MAX_FIELD_LENGTH:
            problems[name] = f"Must be at most {MAX_FIELD_LENGTH} characters."
    english = ReplyTexts(program.optout_text, program.optin_text, program.help_text)
    problems.update(_texts_violations("", english, Language.EN))
    for language, texts in program.texts:
        problems.update(_texts_violations(f"texts.{language}.", texts, language))
    problems.update(_option_violations(program))
    return problems
