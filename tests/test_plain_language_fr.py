"""French plain-language revocation: positives, and ordinary French sentences that must not
fire (the same guard as the English rules)."""

from __future__ import annotations

import pytest

from shared.domain.model import Action, Language
from shared.keywords.classify import NO_MATCH, LocalizedClassification, classify_in
from shared.keywords.plain_language_fr import is_revocation_fr

EN, FR, ES = Language.EN, Language.FR, Language.ES

POSITIVES: list[str] = [
    "Arrêtez",
    "arrêtez svp",
    "Arrête, merci",
    "Arrêt s'il vous plaît",
    "arrêtez tout",
    "Arrêtez de m'envoyer des messages",
    "arrêtez de m\u2019écrire",
    "Cessez de me contacter svp",
    "arrête de me texter",
    "arrêtez les textos",
    "Ne m'envoyez plus de messages",
    "ne m'envoyez plus",
    "Ne me contactez plus.",
    "ne m'écrivez plus svp",
    "Désabonnez-moi",
    "désabonnez moi svp",
    "désabonnement",
    "Je veux me désabonner",
    "je voudrais me désinscrire",
    "Je souhaite ne plus recevoir vos messages",
    "Retirez-moi de votre liste",
    "enlevez-moi de la liste svp",
    "supprimez mon numéro",
    "Supprimez mon numéro de votre liste, merci",
    "Laissez-moi tranquille!",
]


@pytest.mark.parametrize("text", POSITIVES)
def test_positive(text: str) -> None:
    assert is_revocation_fr(text)
    got = classify_in(text, [EN, FR])
    assert got.action is Action.OPT_OUT and got.plain_language
    assert got.language is FR


# Positives the English plain-language rules recognise too (for every sender).
ENGLISH_RULES_TOO = {"Arrêt s'il vous plaît"}


@pytest.mark.parametrize("text", POSITIVES)
def test_only_for_french_senders_and_only_when_on(text: str) -> None:
    """Without the fr pack, or with plain language off, the French rules do not run. What was
    recognised before them still is: "Arrêt s'il vous plaît" (the English rules know the
    always-on ARRET and French politeness), with plain language on."""
    english = LocalizedClassification(Action.OPT_OUT, "ARRET", True, FR)
    expected = english if text in ENGLISH_RULES_TOO else NO_MATCH
    assert classify_in(text, [EN, ES]) == expected
    assert classify_in(text, [EN, FR], plain_language=False) == NO_MATCH


NEGATIVES: list[str] = [
    "arrêtez de rire",
    "arrête de faire ça",
    "n'arrêtez pas",
    "n'arrêtez pas svp",
    "ne m'envoyez plus de photos",
    "ne m'envoyez plus de factures papier",
    "désabonnez-moi de Netflix",
    "je veux me désabonner de la salle de sport",
    "plus de messages svp",
    "je veux plus de messages",
    "retirez-moi de la photo",
    "supprimez mon numéro de votre fichier client et rappelez-moi",
    "laissez-moi tranquille avec vos histoires, on en parle demain",
    "à l'arrêt de bus",
    "l'arrêt est à 5 minutes",
    "arrêtez-vous au dépanneur",
    "cessez le feu",
    "merci",
    "svp",
    "je souhaite recevoir vos messages",
    "envoyez-moi des messages",
    "on arrête tout ce soir?",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    assert not is_revocation_fr(text)
    assert classify_in(text, [EN, FR]) == NO_MATCH
    assert classify_in(text, tuple(Language)) == NO_MATCH


def test_long_messages_never_match() -> None:
    assert not is_revocation_fr("svp " * 100 + "arrêtez")
    assert not is_revocation_fr("x" * 10_000)
    assert not is_revocation_fr("")


def test_record_keyword_is_arret() -> None:
    assert classify_in("désabonnez-moi", [FR]) == LocalizedClassification(
        Action.OPT_OUT, "ARRET", True, FR
    )
