"""A sender program's business rules (CTIA), independent of how the program arrives.

- Reply texts are templates (`shared/replies.py`): plain `{brand}` / `{help_contact}` fields,
  at most 640 characters.
- The HELP text must tell how to opt out: it mentions STOP.
- Brand and help contact are at most 160 characters (one SMS segment).
"""

from __future__ import annotations

from dataclasses import fields

from shared.model import SenderProgram
from shared.replies import TemplateError, check_template

MAX_FIELD_LENGTH = 160
TEMPLATE_FIELDS = frozenset({"optout_text", "optin_text", "help_text"})
TEXT_FIELDS = tuple(f.name for f in fields(SenderProgram) if f.name != "plain_language_optout")


def program_violations(program: SenderProgram) -> dict[str, str]:
    """Each field of `program` that breaks a rule -> why (empty when the program is valid)."""
    problems: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = getattr(program, name)
        if value is None:
            continue
        if name in TEMPLATE_FIELDS:
            try:
                check_template(value)
            except TemplateError as exc:
                problems[name] = f"The text {exc}."
                continue
            if name == "help_text" and "stop" not in value.lower():
                problems[name] = "HELP text must tell how to opt out (CTIA): mention STOP."
        elif len(value) > MAX_FIELD_LENGTH:
            problems[name] = f"Must be at most {MAX_FIELD_LENGTH} characters."
    return problems
