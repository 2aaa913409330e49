"""The SenderPrograms table: SenderPrograms on Azure Table Storage.

PartitionKey = sender, RowKey = `program`: the sender's reply texts and options, its languages
(`Languages`, comma-separated, in order), per-language texts (`OptOutText_fr`, ...) and its
revoke-all group (`Group`, `RevokeAll`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from azure.data.tables import UpdateMode

from shared.domain.model import Language, ReplyTexts, SenderProgram
from shared.domain.sender import SenderId
from shared.tables.base import Entity, TableAdapter, without_none

PROGRAM_ROW = "program"
# SenderProgram attribute -> entity property (scalar values).
COLUMNS = {
    "brand": "Brand",
    "help_contact": "HelpContact",
    "optout_text": "OptOutText",
    "optin_text": "OptInText",
    "help_text": "HelpText",
    "plain_language_optout": "PlainLanguageOptOut",
    "group": "Group",
    "revoke_all": "RevokeAll",
    "mirror_to_acs": "MirrorToAcs",
}
LANGUAGES_COLUMN = "Languages"  # "en,fr": order matters (the first language wins)
# Per-language texts: one property per language and text, e.g. `OptOutText_fr`.
TEXTS_COLUMNS = {"optout_text": "OptOutText", "optin_text": "OptInText", "help_text": "HelpText"}
assert set(COLUMNS) | {"languages", "texts"} == {f.name for f in fields(SenderProgram)}


def _texts_to_properties(program: SenderProgram) -> Entity:
    return {
        f"{column}_{lang}": getattr(texts, attr)
        for lang, texts in program.texts
        for attr, column in TEXTS_COLUMNS.items()
    }


def _texts_from_entity(e: Any) -> tuple[tuple[Language, ReplyTexts], ...]:
    texts = []
    for lang in Language:
        values = {attr: e.get(f"{column}_{lang}") for attr, column in TEXTS_COLUMNS.items()}
        if any(v is not None for v in values.values()):
            texts.append((lang, ReplyTexts(**values)))
    return tuple(texts)


def to_entity(sender: SenderId, program: SenderProgram) -> Entity:
    values = {column: getattr(program, attr) for attr, column in COLUMNS.items()}
    languages = ",".join(program.languages) if program.languages else None
    return without_none(
        {
            "PartitionKey": sender.key,
            "RowKey": PROGRAM_ROW,
            **values,
            LANGUAGES_COLUMN: languages,
            **_texts_to_properties(program),
        }
    )


def from_entity(e: Any) -> SenderProgram:
    languages = e.get(LANGUAGES_COLUMN)
    return SenderProgram(
        **{attr: e.get(column) for attr, column in COLUMNS.items()},
        languages=tuple(Language(code) for code in languages.split(",")) if languages else None,
        texts=_texts_from_entity(e),
    )


class TablePrograms(TableAdapter):
    def get_program(self, sender: SenderId) -> SenderProgram | None:
        e = self.get_or_none(sender.key, PROGRAM_ROW)
        return None if e is None else from_entity(e)

    def put_program(self, sender: SenderId, program: SenderProgram) -> None:
        entity = to_entity(sender, program)
        self.call(lambda: self._table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def delete_program(self, sender: SenderId) -> None:
        self.delete(sender.key, PROGRAM_ROW)  # idempotent: one request

    def revoke_all_senders(self, group: str) -> list[str]:
        """A query across the programs' partitions (one row per sender), every page."""
        params = {"group": group, "row": PROGRAM_ROW}
        query = "RowKey eq @row and Group eq @group and RevokeAll eq true"

        def read() -> list[str]:
            rows = self._table.query_entities(query, parameters=params, select=["PartitionKey"])
            return sorted(e["PartitionKey"] for e in rows)

        return self.call(read)

    def mirrored_senders(self) -> list[str]:
        """A query across the programs' partitions (one row per sender), every page."""
        params = {"row": PROGRAM_ROW}
        query = "RowKey eq @row and MirrorToAcs eq true"

        def read() -> list[str]:
            rows = self._table.query_entities(query, parameters=params, select=["PartitionKey"])
            return sorted(e["PartitionKey"] for e in rows)

        return self.call(read)
