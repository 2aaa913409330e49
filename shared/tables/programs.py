"""The SenderPrograms table: SenderPrograms on Azure Table Storage.

PartitionKey = sender, RowKey = `program`: the sender's reply texts and options.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from azure.data.tables import UpdateMode

from shared.model import SenderProgram
from shared.sender import SenderId
from shared.tables.base import Entity, TableAdapter, without_none

PROGRAM_ROW = "program"
# SenderProgram attribute -> entity property.
COLUMNS = {
    "brand": "Brand",
    "help_contact": "HelpContact",
    "optout_text": "OptOutText",
    "optin_text": "OptInText",
    "help_text": "HelpText",
    "plain_language_optout": "PlainLanguageOptOut",
}
assert set(COLUMNS) == {f.name for f in fields(SenderProgram)}


def to_entity(sender: SenderId, program: SenderProgram) -> Entity:
    values = {column: getattr(program, attr) for attr, column in COLUMNS.items()}
    return without_none({"PartitionKey": sender.key, "RowKey": PROGRAM_ROW, **values})


def from_entity(e: Any) -> SenderProgram:
    return SenderProgram(**{attr: e.get(column) for attr, column in COLUMNS.items()})


class TablePrograms(TableAdapter):
    def get_program(self, sender: SenderId) -> SenderProgram | None:
        e = self.get_or_none(sender.key, PROGRAM_ROW)
        return None if e is None else from_entity(e)

    def put_program(self, sender: SenderId, program: SenderProgram) -> None:
        entity = to_entity(sender, program)
        self.call(lambda: self._table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def delete_program(self, sender: SenderId) -> None:
        self.delete(sender.key, PROGRAM_ROW)  # idempotent: one request
