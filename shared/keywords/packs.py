"""Keyword packs: per language, the opt-out / opt-in / help words and the reply templates.

Pure data, and the only list of keyword words: the whole-message rule (`shared.keywords.classify`)
and the plain-language rules (`shared.keywords.plain_language_en`) take their words from here.
Words are
in canonical spelling; matching folds case, accents and punctuation (`shared.keywords.folding`), so
ARRÊT and ARRET are one word, listed twice only for readability.

Sources (public material found while building this; "platform practice" means a messaging
platform documents or uses the word, not that a regulator or carrier mandates it):

- [CTIA]   CTIA Short Code Monitoring Handbook / Messaging Principles: STOP, END, CANCEL,
           UNSUBSCRIBE, QUIT; HELP; opt-in confirmation; HELP reply = brand, contact,
           frequency, "Msg & data rates may apply", how to stop.
- [FCC]    47 CFR 64.1200(a)(10) (2025): stop, quit, end, revoke, opt out, cancel, unsubscribe
           are per se reasonable revocations.
- [TWL]    Twilio "Twilio support for opt-out keywords": STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
           QUIT, REVOKE, OPTOUT; START, YES, UNSTOP; HELP, INFO.
- [TWLP]   Twilio Proxy "Opt-out keywords": opt-out messages include ARRETT, ARRET, ARRETE.
- [CWTA]   CWTA Canadian Common Short Code Application Guidelines v3.9, as summarised by
           Infobip ("Canadian mandatory keyword responses") and Twilio ("Industry standards for
           mandatory keyword responses required in Canada"): STOP, ARRET, HELP, AIDE, INFO are
           mandatory; the ARRET/AIDE replies must be in French, STOP/HELP in English.
- [TWLES]  Twilio "What are the requirements for a Spanish-language short code?" (US carriers):
           Spanish programs must answer ALTO and AYUDA.
- [ES]     sent.dm "Spain SMS guide": keywords STOP/ALTO/BAJA/AYUDA.
- [BR]     sent.dm "Brazil SMS guide": respond to PARE, SAIR, AJUDA.
- [AGCOM]  AGCOM delibera 108/19/CONS (CASP 4.0), in force 2020-01-20: replying "ANNULLA"
           cancels a premium SMS subscription (Il Sole 24 Ore, key4biz, 2020).
- [DE]     Brevo "Eine Abmeldeoption in Ihre SMS integrieren": "Antworten Sie STOPP";
           ActiveCampaign "Anforderungen an SMS-STOP-Klauseln": STOPP, ABMELDEN, ABBESTELLEN;
           Austria (heise 2006): SMS subscriptions must end on "Stopp" or "Stop".
- [REF8]   The team's reference §8 ("words platforms use by language; verify each"): used only
           where nothing better was found, and marked so.

No opt-in word other than START was found documented for the non-English packs, so they use
START (what Canadian bilingual programs advertise in both languages, and what every reply here
tells the person to send), never a common word such as SI/OUI/JA.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.model import Action, Language


@dataclass(frozen=True)
class KeywordPack:
    language: Language
    opt_out: tuple[str, ...]
    opt_in: tuple[str, ...]
    help: tuple[str, ...]
    # Opt-out words that may be followed by a program number / short code ("STOP 12345",
    # "STOP #12345"): keyword syntax, so on even when plain language is off. Not every opt-out
    # word: "cancel 123" is more likely an order or an appointment. Opt-in and help words
    # never take a code (only a revocation must never be missed).
    code_suffix: tuple[str, ...]
    # The words the replies tell a person to send; a sender's own HELP text must name `stop`.
    stop_word: str
    # Reply templates (placeholders {brand} and {help_contact}), CTIA-shaped: the opt-out
    # confirmation carries no marketing; help gives brand, contact, frequency, rates, how to stop.
    optout_text: str
    optin_text: str
    help_text: str

    def template(self, action: Action) -> str:
        """This pack's default reply template for a keyword action (not NONE)."""
        return {
            Action.OPT_OUT: self.optout_text,
            Action.OPT_IN: self.optin_text,
            Action.HELP: self.help_text,
        }[action]


ENGLISH = KeywordPack(
    language=Language.EN,
    # [FCC] [CTIA] [TWL]; STOPALL, OPTOUT from [TWL]
    opt_out=(
        "STOP",
        "QUIT",
        "END",
        "REVOKE",
        "OPT OUT",
        "OPTOUT",
        "CANCEL",
        "UNSUBSCRIBE",
        "STOPALL",
    ),
    opt_in=("START", "UNSTOP", "YES"),  # [CTIA] START; [TWL] YES, UNSTOP
    help=("HELP", "INFO"),  # [CTIA] HELP; [TWL] [CWTA] INFO
    code_suffix=("STOP", "STOPALL", "QUIT", "REVOKE", "OPT OUT", "OPTOUT", "UNSUBSCRIBE"),
    stop_word="STOP",
    optout_text=(
        "{brand}: You are unsubscribed and will receive no more messages. "
        "Reply START to resubscribe."
    ),
    optin_text=(
        "{brand}: You are subscribed again. Msg frequency varies. Msg & data rates may apply. "
        "Reply HELP for help, STOP to cancel."
    ),
    help_text=(
        "{brand}: For help, contact {help_contact}. Msg frequency varies. "
        "Msg & data rates may apply. Reply STOP to cancel."
    ),
)

FRENCH = KeywordPack(
    language=Language.FR,
    # ARRET [CWTA]; ARRETE, ARRETT [TWLP]; STOP: French marketing SMS must carry "STOP au
    # <code>" (reference §8), so French speakers send STOP too.
    opt_out=("ARRET", "ARRÊT", "ARRETE", "ARRÊTE", "ARRETT", "STOP"),
    opt_in=("START",),  # no French opt-in word is mandated in Canada; START is advertised
    help=("AIDE", "INFO"),  # [CWTA]
    code_suffix=("ARRET", "ARRÊT", "STOP"),
    stop_word="ARRET",
    optout_text=(
        "{brand} : Vous avez été désabonné(e) et ne recevrez plus de messages. "
        "Répondez START pour vous réabonner."
    ),
    optin_text=(
        "{brand} : Vous êtes réabonné(e). Fréquence variable. Frais de msg et de données "
        "possibles. AIDE pour de l'aide, ARRET pour annuler."
    ),
    help_text=(
        "{brand} : Aide : {help_contact}. Fréquence variable. Frais de msg et de données "
        "possibles. Répondez ARRET pour annuler."
    ),
)

SPANISH = KeywordPack(
    language=Language.ES,
    # ALTO [TWLES] [ES]; BAJA [ES]; DETENER, CANCELAR: platform practice only [REF8];
    # STOP [ES].
    opt_out=("BAJA", "ALTO", "DETENER", "CANCELAR", "STOP"),
    opt_in=("START",),
    help=("AYUDA",),  # [TWLES] [ES]
    code_suffix=("BAJA", "STOP"),
    stop_word="ALTO",
    optout_text=(
        "{brand}: Se ha dado de baja y no recibirá más mensajes. "
        "Responda START para volver a suscribirse."
    ),
    optin_text=(
        "{brand}: Se ha suscrito de nuevo. Frecuencia variable. Pueden aplicarse cargos por "
        "msj y datos. AYUDA para ayuda, ALTO para cancelar."
    ),
    help_text=(
        "{brand}: Ayuda: {help_contact}. Frecuencia variable. Pueden aplicarse cargos por "
        "msj y datos. Responda ALTO para cancelar."
    ),
)

PORTUGUESE = KeywordPack(
    language=Language.PT,
    # SAIR, PARE [BR]; PARAR, CANCELAR: platform practice only [REF8]; STOP: platform practice.
    opt_out=("PARAR", "PARE", "SAIR", "CANCELAR", "STOP"),
    opt_in=("START",),
    help=("AJUDA",),  # [BR]
    code_suffix=("SAIR", "STOP"),
    stop_word="SAIR",
    optout_text=(
        "{brand}: Seu cadastro foi cancelado e você não receberá mais mensagens. "
        "Responda START para voltar a receber."
    ),
    optin_text=(
        "{brand}: Inscrição reativada. Frequência variável. Podem ser cobradas tarifas de msg "
        "e dados. AJUDA para ajuda, SAIR para cancelar."
    ),
    help_text=(
        "{brand}: Ajuda: {help_contact}. Frequência variável. Podem ser cobradas tarifas de "
        "msg e dados. Responda SAIR para cancelar."
    ),
)

ITALIAN = KeywordPack(
    language=Language.IT,
    # ANNULLA [AGCOM]; FERMA, BASTA: platform practice only [REF8]; STOP: Italian marketing
    # SMS say "rispondi STOP" (platform practice).
    opt_out=("ANNULLA", "FERMA", "BASTA", "STOP"),
    opt_in=("START",),
    help=("AIUTO",),  # platform practice only [REF8]
    code_suffix=("STOP",),
    stop_word="STOP",
    optout_text=(
        "{brand}: La tua iscrizione è stata annullata e non riceverai più messaggi. "
        "Rispondi START per iscriverti di nuovo."
    ),
    optin_text=(
        "{brand}: Iscrizione riattivata. Frequenza variabile. Possibili costi per messaggi e "
        "dati. AIUTO per assistenza, STOP per annullare."
    ),
    help_text=(
        "{brand}: Assistenza: {help_contact}. Frequenza variabile. Possibili costi per "
        "messaggi e dati. Rispondi STOP per annullare."
    ),
)

GERMAN = KeywordPack(
    language=Language.DE,
    # STOPP, ABMELDEN, ABBESTELLEN [DE]; STOP [DE] (Austria). HALT is deliberately absent:
    # "halt" is an everyday German filler word ("ist halt so") and an English word.
    opt_out=("STOPP", "ABMELDEN", "ABBESTELLEN", "STOP"),
    opt_in=("START",),
    help=("HILFE",),  # platform practice only [REF8]
    code_suffix=("STOPP", "STOP", "ABMELDEN"),
    stop_word="STOPP",
    optout_text=(
        "{brand}: Sie wurden abgemeldet und erhalten keine weiteren Nachrichten. "
        "Antworten Sie START, um sich wieder anzumelden."
    ),
    optin_text=(
        "{brand}: Sie sind wieder angemeldet. Häufigkeit variiert. Es können Nachrichten- und "
        "Datengebühren anfallen. HILFE für Hilfe, STOPP zum Abmelden."
    ),
    help_text=(
        "{brand}: Hilfe: {help_contact}. Häufigkeit variiert. Es können Nachrichten- und "
        "Datengebühren anfallen. Antworten Sie STOPP zum Abmelden."
    ),
)

PACKS: dict[Language, KeywordPack] = {
    pack.language: pack for pack in (ENGLISH, FRENCH, SPANISH, PORTUGUESE, ITALIAN, GERMAN)
}

# Always recognised, whatever languages a sender chose: the English pack's words plus the
# Canadian mandatory ARRET/AIDE (every word recognised before the packs existed), so that
# choosing languages can never make a STOP that used to work go unanswered. Each keeps its own
# pack's language (and action).
ALWAYS_ON: tuple[tuple[Language, tuple[str, ...]], ...] = (
    (Language.EN, ENGLISH.opt_out + ENGLISH.opt_in + ENGLISH.help),
    (Language.FR, ("ARRET", "ARRÊT", "AIDE")),
)
# The always-on words that may be followed by a program number / short code ("STOP 12345").
ALWAYS_ON_CODE_SUFFIX: tuple[str, ...] = (*ENGLISH.code_suffix, "ARRET", "ARRÊT")
# The always-on opt-out words: what the English plain-language rules build on ("stop please").
ALWAYS_ON_OPT_OUT: tuple[str, ...] = tuple(
    word for language, words in ALWAYS_ON for word in words if word in PACKS[language].opt_out
)
