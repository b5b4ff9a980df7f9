"""Text for PostgreSQL without NUL characters.

PostgreSQL's text types cannot hold U+0000, which SQLite stores happily: a NUL that arrives from
outside (a webhook's event name echoed in an outcome, a command's output, a query parameter) would
be an error on one store and not the other. Every string sent to PostgreSQL has its NULs replaced by
U+FFFD, so every input gets the same answer on both stores.
"""

from __future__ import annotations

from typing import Any

from psycopg.adapt import AdaptersMap
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

REPLACEMENT = "\ufffd"


class _NulFreeText(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", REPLACEMENT))


class _NulFreeBinaryText(StrBinaryDumper):
    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", REPLACEMENT))


def register_nul_free_text(adapters: AdaptersMap) -> None:
    adapters.register_dumper(str, _NulFreeText)
    adapters.register_dumper(str, _NulFreeBinaryText)
