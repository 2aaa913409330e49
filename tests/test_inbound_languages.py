"""Inbound keywords in the sender's languages: the reply goes out in the language of the keyword
that matched, with that language's pack text or the sender's override for that language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.model import Action, Language, Outcome, ReplyTexts, SenderProgram
from shared.inbound.events import InboundSms
from shared.inbound.processor import InboundProcessor
from shared.keywords.packs import PACKS
from shared.keywords.replies import render
from shared.platform.settings import Settings
from tests.fakes import FakeReplies, FakeRepository

CANADA, US, FRANCE, GERMANY, SPAIN = (
    "+14165550100",
    "+18005550100",
    "+33612345678",
    "+4915123456789",
    "+34612345678",
)
PERSON = "+14255550123"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(access_keys=(), reply_brand="Contoso", reply_help_contact="1-800-555-0100")
VALUES = {"brand": "Contoso", "help_contact": "1-800-555-0100"}
EN, FR, ES, DE = Language.EN, Language.FR, Language.ES, Language.DE


def sms(sender: str, text: str, n: int = 1, person: str = PERSON) -> InboundSms:
    return InboundSms(
        message_id=f"Incoming_{uuid.uuid4().hex}",
        event_id=f"evt-{n}",
        sender=sender,
        recipient=person,
        text=text,
        received_at=T0 + timedelta(seconds=n),
    )


def setup(**programs: SenderProgram) -> tuple[FakeRepository, FakeReplies, InboundProcessor]:
    repo, replies = FakeRepository(), FakeReplies()
    repo.programs.update(programs)
    return repo, replies, InboundProcessor(repo, repo, repo, replies, SETTINGS, groups=repo)


def pack_text(language: Language, action: Action) -> str:
    return render(PACKS[language].template(action), VALUES)


# (sender, text, action, reply language): with each sender's default languages
DEFAULT_CASES = [
    (CANADA, "ARRET", Action.OPT_OUT, FR),
    (CANADA, "Arrêt!", Action.OPT_OUT, FR),
    (CANADA, "STOP", Action.OPT_OUT, EN),
    (CANADA, "AIDE", Action.HELP, FR),
    (CANADA, "HELP", Action.HELP, EN),
    (CANADA, "Désabonnez-moi svp", Action.OPT_OUT, FR),
    (CANADA, "please stop texting me", Action.OPT_OUT, EN),
    (US, "STOP", Action.OPT_OUT, EN),
    (US, "ALTO", Action.OPT_OUT, ES),
    (US, "ayuda", Action.HELP, ES),
    (US, "ARRET", Action.OPT_OUT, FR),  # always on, answered in its own language
    (FRANCE, "STOP", Action.OPT_OUT, FR),
    (FRANCE, "stop 36180", Action.OPT_OUT, FR),
    (GERMANY, "Stopp", Action.OPT_OUT, DE),
    (GERMANY, "HILFE", Action.HELP, DE),
    (GERMANY, "HELP", Action.HELP, EN),
    (SPAIN, "Baja", Action.OPT_OUT, ES),
    (SPAIN, "START", Action.OPT_IN, ES),
]


@pytest.mark.parametrize(("sender", "text", "action", "language"), DEFAULT_CASES)
def test_reply_language_follows_the_keyword(
    sender: str, text: str, action: Action, language: Language
) -> None:
    repo, replies, proc = setup()
    result = proc.handle(sms(sender, text))
    assert result.action is action
    assert replies.sent == [(sender, PERSON, pack_text(language, action))]
    (row,) = repo.history_rows.values()
    assert (row.action, row.language) == (action, language)


def test_words_of_packs_the_sender_does_not_use_are_not_keywords() -> None:
    repo, replies, proc = setup()
    for sender, text in ((FRANCE, "ALTO"), (SPAIN, "basta"), (GERMANY, "sair"), (US, "HALT")):
        assert proc.handle(sms(sender, text)).outcome is Outcome.NO_KEYWORD
    assert replies.sent == [] and repo.history_rows == {} and repo.optouts == {}


def test_program_languages_override_the_country() -> None:
    program = SenderProgram(languages=(FR, EN))
    _repo, replies, proc = setup(**{CANADA: program})
    proc.handle(sms(CANADA, "STOP", 1))
    assert replies.sent[-1][2] == pack_text(FR, Action.OPT_OUT)
    proc.handle(sms(CANADA, "START", 2))
    assert replies.sent[-1][2] == pack_text(FR, Action.OPT_IN)
    # Spanish was not chosen: ALTO is no keyword for this sender
    assert proc.handle(sms(CANADA, "ALTO", 3)).outcome is Outcome.NO_KEYWORD


def test_per_language_override_and_the_english_fields() -> None:
    program = SenderProgram(
        brand="Fabrikam",
        optout_text="{brand}: unsubscribed. START to return.",
        texts=((FR, ReplyTexts(optout_text="{brand} : désabonné. START pour revenir.")),),
    )
    _repo, replies, proc = setup(**{CANADA: program})
    proc.handle(sms(CANADA, "ARRET", 1, person="+14255550001"))
    proc.handle(sms(CANADA, "STOP", 2, person="+14255550002"))
    proc.handle(sms(CANADA, "AIDE", 3, person="+14255550003"))
    texts = [t for _, _, t in replies.sent]
    assert texts[0] == "Fabrikam : désabonné. START pour revenir."
    assert texts[1] == "Fabrikam: unsubscribed. START to return."
    # no French help override: the French pack's text, with the program's brand
    assert texts[2] == render(PACKS[FR].help_text, {**VALUES, "brand": "Fabrikam"})


def test_english_texts_for_language_win_over_the_old_fields() -> None:
    program = SenderProgram(
        optout_text="old: bye", texts=((EN, ReplyTexts(optout_text="new: bye")),)
    )
    _, replies, proc = setup(**{US: program})
    proc.handle(sms(US, "STOP"))
    assert replies.sent[0][2] == "new: bye"


def test_plain_language_off_turns_off_french_phrases_too() -> None:
    _repo, replies, proc = setup(**{CANADA: SenderProgram(plain_language_optout=False)})
    assert proc.handle(sms(CANADA, "Désabonnez-moi")).outcome is Outcome.NO_KEYWORD
    assert proc.handle(sms(CANADA, "ARRET", 2)).outcome is Outcome.APPLIED
    assert replies.sent[0][2] == pack_text(FR, Action.OPT_OUT)


def test_a_redelivered_event_is_answered_once_in_its_language() -> None:
    _, replies, proc = setup()
    event = sms(CANADA, "ARRÊT")
    proc.handle(event)
    assert proc.handle(event).outcome is Outcome.DUPLICATE
    assert [t for _, _, t in replies.sent] == [pack_text(FR, Action.OPT_OUT)]
