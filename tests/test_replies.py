"""Reply texts, and sending them with the official Python SmsClient to a local ACS double that
verifies the HMAC signature."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from devhost.acs_double import AcsDouble
from shared.domain.delivery import CONFIRMATION_TAG
from shared.domain.model import Action, Reply, ReplyStatus, SenderProgram
from shared.inbound.reply_sender import LoggingReplySender, ReplyFailed, make_reply_sender
from shared.keywords.replies import (
    DEFAULT_HELP_TEXT,
    MAX_REPLY_LENGTH,
    TemplateError,
    check_template,
    reply_text,
)
from shared.platform.settings import Settings, SettingsError, parse_acs_connection_string

SETTINGS = Settings(access_keys=(), reply_brand="Contoso", reply_help_contact="555-0100")


@pytest.fixture
def acs() -> Iterator[AcsDouble]:
    double = AcsDouble().start()
    yield double
    double.stop()


def test_default_texts_follow_ctia() -> None:
    optout = reply_text(Action.OPT_OUT, SETTINGS, None)
    assert optout.startswith("Contoso:") and "START" in optout and "unsubscribed" in optout
    helptext = reply_text(Action.HELP, SETTINGS, None)
    assert "555-0100" in helptext and "STOP" in helptext and "rates may apply" in helptext
    assert "STOP" in reply_text(Action.OPT_IN, SETTINGS, None)


def test_program_overrides_settings_which_override_defaults() -> None:
    settings = Settings(access_keys=(), reply_brand="Contoso", reply_help_text="{brand} help")
    assert reply_text(Action.HELP, settings, None) == "Contoso help"
    program = SenderProgram(brand="Fabrikam", help_text="{brand}: {help_contact}. STOP")
    assert reply_text(Action.HELP, settings, program).startswith("Fabrikam: ")
    assert reply_text(Action.OPT_OUT, settings, program).startswith("Fabrikam:")


def test_bad_stored_template_falls_back_to_the_default() -> None:
    program = SenderProgram(help_text="{unknown} STOP")
    assert reply_text(Action.HELP, SETTINGS, program) == DEFAULT_HELP_TEXT.format(
        brand="Contoso", help_contact="555-0100"
    )


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{name}", "{brand", "x" * 641, "{0}", "{brand:>20000000} STOP", "{brand!r}"],
)
def test_template_check_refuses(text: str) -> None:
    with pytest.raises(TemplateError):
        check_template(text)


def test_replies_never_grow_past_the_limit() -> None:
    # A stored template with a format spec (possible before templates were checked for them)
    # and an oversized brand both fall back, instead of a 20 MB SMS.
    program = SenderProgram(optout_text="{brand:>20000000}: bye")
    assert reply_text(Action.OPT_OUT, SETTINGS, program).startswith("Contoso: You are")
    huge = Settings(access_keys=(), reply_brand="B" * 5000)
    text = reply_text(Action.HELP, huge, None)
    assert len(text) <= MAX_REPLY_LENGTH
    assert "Reply STOP to cancel" in text


def test_connection_string_parsing() -> None:
    assert parse_acs_connection_string("endpoint=https://x.test/;accesskey=abc==") == (
        "https://x.test/",
        "abc==",
    )
    with pytest.raises(SettingsError):
        parse_acs_connection_string("endpoint=https://x.test/")


def test_without_acs_replies_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    sender = make_reply_sender(SETTINGS)
    assert isinstance(sender, LoggingReplySender)
    caplog.set_level("INFO")
    assert sender.send("+18005550100", "+14255550123", "secret text").status == "logged"
    assert "4255550123" not in caplog.text and "secret text" not in caplog.text


def test_official_client_sends_through_the_double(acs: AcsDouble) -> None:
    settings = Settings(access_keys=(), acs_connection_string=acs.connection_string)
    sender = make_reply_sender(settings)
    reply = sender.send("+18005550100", "+14255550123", "Contoso: bye")
    assert [(s.from_, s.to, s.message) for s in acs.sent] == [
        ("+18005550100", "+14255550123", "Contoso: bye")
    ]
    assert reply == Reply(ReplyStatus.SENT, acs.sent[0].message_id)  # ACS's id, for its report
    # The confirmation asks for its delivery report, tagged as one.
    (received,) = acs.received
    assert received.body["smsSendOptions"] == {
        "enableDeliveryReport": True,
        "tag": CONFIRMATION_TAG,
    }
    assert acs.refused == 0


def test_acs_outage_raises_for_retry(acs: AcsDouble) -> None:
    settings = Settings(access_keys=(), acs_connection_string=acs.connection_string)
    acs.fail_next = 10
    with pytest.raises(ReplyFailed):
        make_reply_sender(settings).send("+18005550100", "+14255550123", "x")
    assert acs.sent == []


def test_wrong_acs_key_is_refused_by_the_double_and_retried(acs: AcsDouble) -> None:
    wrong = base64.b64encode(b"not-the-acs-key-0123456789abcdef").decode()
    settings = Settings(
        access_keys=(), acs_connection_string=f"endpoint={acs.endpoint};accesskey={wrong}"
    )
    with pytest.raises(ReplyFailed):
        make_reply_sender(settings).send("+18005550100", "+14255550123", "x")
    assert acs.refused >= 1 and acs.sent == []


def test_a_malformed_acs_connection_string_fails_each_reply_for_retry() -> None:
    settings = Settings.from_env({"ACS_CONNECTION_STRING": "endpoint=https://x.test/"})
    sender = make_reply_sender(settings)  # building it does not fail: the STOP is applied
    with pytest.raises(ReplyFailed) as info:
        sender.send("+18005550100", "+14255550123", "text")
    assert "ACS_CONNECTION_STRING" in str(info.value) and "x.test" not in str(info.value)
