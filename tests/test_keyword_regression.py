"""What every sender takes for a keyword: a regression table over a broad corpus.

`tests/fixtures/keyword_regression.tsv` holds one row per message text (a JSON string): every
word of every pack in many spellings (case, accents decomposed or dropped, full-width letters,
quotes, punctuation, emoji, odd spaces), each opt-out word with a code, politeness or other words
around it, plain-language revocations, known non-keywords and ordinary sentences in each
language. Each column is a sender; each cell what the production path (`sender_keyword`) makes
of the text for that sender with plain language on:

    optout|optin|help/<keyword>/<language>   a keyword: the action, the keyword recorded and the
                                             language the reply is in
    plain/<keyword>/<language>               a plain-language revocation (an opt-out)
    .                                        no keyword

With plain language off the same cells hold, except that `plain` ones are no keyword.

The table was recorded from the service as it was before the keyword lists were merged into the
packs, and is kept as explicit expectations: a changed cell is a changed behaviour, to be made on
purpose. A new pack word needs its rows (`test_every_pack_word_is_in_the_table`);
`python -m tests.test_keyword_regression TEXT...` prints what the code now gives, to check.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.model import Action, Language, SenderProgram
from shared.domain.sender import parse_inbound_sender
from shared.inbound.events import InboundSms
from shared.inbound.sender_keywords import sender_keyword
from shared.keywords.packs import PACKS
from shared.keywords.replies import reply_text
from shared.platform.settings import Settings
from tests.fakes import FakeRepository

TABLE = Path(__file__).parent / "fixtures" / "keyword_regression.tsv"
L = Language

# column -> (sender number, the program's languages; None: no program, the country's default)
SENDERS: dict[str, tuple[str, tuple[Language, ...] | None]] = {
    "us": ("+18005550100", None),  # en, es
    "ca": ("+14165550100", None),  # en, fr
    "gb": ("+447700900123", None),  # en
    "fr": ("+33612345678", None),
    "es": ("+34612345678", None),
    "br": ("+5511987654321", None),  # pt
    "it": ("+393123456789", None),
    "de": ("+4915123456789", None),
    "ch": ("+41791234567", None),  # de, fr, it
    "short": ("12345", None),  # a short code: no country, en
    "fr,en": ("+18005550101", (L.FR, L.EN)),
    "es,pt": ("+18005550102", (L.ES, L.PT)),
    "pt,es": ("+18005550103", (L.PT, L.ES)),
    "en,pt": ("+18005550104", (L.EN, L.PT)),
    "all": ("+18005550105", tuple(L)),
    "all-rev": ("+18005550106", tuple(reversed(L))),
}

SETTINGS = Settings(access_keys=(), reply_brand="Contoso", reply_help_contact="1-800-555-0100")
# The reply each (action, language) gets from a sender without its own texts.
REPLIES: dict[tuple[Action, Language], str] = {
    (Action.OPT_OUT, L.EN): "Contoso: You are unsubscribed and will receive no more messages. "
    "Reply START to resubscribe.",
    (Action.OPT_IN, L.EN): "Contoso: You are subscribed again. Msg frequency varies. "
    "Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
    (Action.HELP, L.EN): "Contoso: For help, contact 1-800-555-0100. Msg frequency varies. "
    "Msg & data rates may apply. Reply STOP to cancel.",
    (Action.OPT_OUT, L.FR): "Contoso : Vous avez été désabonné(e) et ne recevrez plus de "
    "messages. Répondez START pour vous réabonner.",
    (Action.OPT_IN, L.FR): "Contoso : Vous êtes réabonné(e). Fréquence variable. Frais de msg "
    "et de données possibles. AIDE pour de l'aide, ARRET pour annuler.",
    (Action.HELP, L.FR): "Contoso : Aide : 1-800-555-0100. Fréquence variable. Frais de msg et "
    "de données possibles. Répondez ARRET pour annuler.",
    (Action.OPT_OUT, L.ES): "Contoso: Se ha dado de baja y no recibirá más mensajes. "
    "Responda START para volver a suscribirse.",
    (Action.OPT_IN, L.ES): "Contoso: Se ha suscrito de nuevo. Frecuencia variable. Pueden "
    "aplicarse cargos por msj y datos. AYUDA para ayuda, ALTO para cancelar.",
    (Action.HELP, L.ES): "Contoso: Ayuda: 1-800-555-0100. Frecuencia variable. Pueden "
    "aplicarse cargos por msj y datos. Responda ALTO para cancelar.",
    (Action.OPT_OUT, L.PT): "Contoso: Seu cadastro foi cancelado e você não receberá mais "
    "mensagens. Responda START para voltar a receber.",
    (Action.OPT_IN, L.PT): "Contoso: Inscrição reativada. Frequência variável. Podem ser "
    "cobradas tarifas de msg e dados. AJUDA para ajuda, SAIR para cancelar.",
    (Action.HELP, L.PT): "Contoso: Ajuda: 1-800-555-0100. Frequência variável. Podem ser "
    "cobradas tarifas de msg e dados. Responda SAIR para cancelar.",
    (Action.OPT_OUT, L.IT): "Contoso: La tua iscrizione è stata annullata e non riceverai più "
    "messaggi. Rispondi START per iscriverti di nuovo.",
    (Action.OPT_IN, L.IT): "Contoso: Iscrizione riattivata. Frequenza variabile. Possibili "
    "costi per messaggi e dati. AIUTO per assistenza, STOP per annullare.",
    (Action.HELP, L.IT): "Contoso: Assistenza: 1-800-555-0100. Frequenza variabile. Possibili "
    "costi per messaggi e dati. Rispondi STOP per annullare.",
    (Action.OPT_OUT, L.DE): "Contoso: Sie wurden abgemeldet und erhalten keine weiteren "
    "Nachrichten. Antworten Sie START, um sich wieder anzumelden.",
    (Action.OPT_IN, L.DE): "Contoso: Sie sind wieder angemeldet. Häufigkeit variiert. Es können "
    "Nachrichten- und Datengebühren anfallen. HILFE für Hilfe, STOPP zum Abmelden.",
    (Action.HELP, L.DE): "Contoso: Hilfe: 1-800-555-0100. Häufigkeit variiert. Es können "
    "Nachrichten- und Datengebühren anfallen. Antworten Sie STOPP zum Abmelden.",
}


def _read_table() -> tuple[list[str], list[tuple[str, list[str]]]]:
    lines = TABLE.read_text(encoding="utf-8").rstrip("\n").split("\n")  # texts hold U+2028
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        text, *cells = line.split("\t")
        rows.append((json.loads(text), cells))
    return header[1:], rows


COLUMNS, ROWS = _read_table()
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _programs() -> FakeRepository:
    repo = FakeRepository()
    for number, languages in SENDERS.values():
        if languages is not None:
            repo.programs[parse_inbound_sender(number).key] = SenderProgram(languages=languages)
    return repo


PROGRAMS = _programs()


def _answer(text: str, column: str, *, plain: bool) -> str:
    """The cell for what production makes of `text` for that column's sender; the reply it
    would send is checked on the way."""
    number, _ = SENDERS[column]
    sms = InboundSms("Incoming_1", "evt-1", number, "+14255550123", text, T0)
    got = sender_keyword(sms, PROGRAMS, plain_language_default=plain)
    if got is None:
        return "."
    found, _, _, program = got
    assert found.language is not None and found.keyword, (text, column)
    reply = reply_text(found.action, SETTINGS, program, found.language)
    assert reply == REPLIES[(found.action, found.language)], (text, column)
    kind = "plain" if found.plain_language else found.action.value
    return f"{kind}/{found.keyword}/{found.language.value}"


def test_table_shape() -> None:
    assert list(SENDERS) == COLUMNS
    assert len(ROWS) > 1500
    assert all(len(cells) == len(COLUMNS) for _, cells in ROWS)
    texts = [text for text, _ in ROWS]
    assert len(set(texts)) == len(texts)


def test_every_pack_word_is_in_the_table() -> None:
    texts = {text for text, _ in ROWS}
    for pack in PACKS.values():
        for word in (*pack.opt_out, *pack.opt_in, *pack.help):
            assert {word, word.lower(), f"{word} 🙏"} <= texts, word


_CHUNKS = 8


@pytest.mark.parametrize("chunk", range(_CHUNKS))
@pytest.mark.parametrize("plain", [True, False], ids=["plain-on", "plain-off"])
def test_every_sender_answers_as_recorded(chunk: int, plain: bool) -> None:
    wrong = []
    for text, cells in ROWS[chunk::_CHUNKS]:
        expected = cells if plain else ["." if c.startswith("plain/") else c for c in cells]
        got = [_answer(text, column, plain=plain) for column in COLUMNS]
        if got != expected:
            diff = {c: (e, g) for c, e, g in zip(COLUMNS, expected, got, strict=True) if e != g}
            wrong.append((text, diff))
    assert not wrong, wrong[:10]


if __name__ == "__main__":  # the rows the code now gives for new texts: check each cell by hand
    for new_text in sys.argv[1:]:
        cells = [_answer(new_text, column, plain=True) for column in COLUMNS]
        print("\t".join([json.dumps(new_text, ensure_ascii=False), *cells]))
