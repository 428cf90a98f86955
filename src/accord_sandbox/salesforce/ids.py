"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

An id is a 3-character key prefix naming the object (``001`` Account, ``006`` Opportunity, ...),
a 2-character pod, a reserved ``0`` and a 9-character base-62 number; the 18-character form adds
a 3-character checksum that encodes which of the first 15 characters are upper case, so that the
id survives case-insensitive systems (spreadsheets, ERP text fields). Only pure functions here.
"""

import re

__all__ = [
    "ORG_ID",
    "POD",
    "IdFactory",
    "is_well_formed",
    "make_id",
    "to_18",
]

POD = "RO"
"""The pod characters of every emulated id; ``RO`` is the pod of the reference's sample ids."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")


def _checksum(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_CHECKSUM[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of the ``number``-th record with key prefix ``prefix``."""
    digits = ""
    n = number
    while n:
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    id15 = f"{prefix}{POD}0{digits.rjust(9, '0')}"
    return id15 + _checksum(id15)


ORG_ID = make_id("00D", 1)
"""The emulated org's id (``00D`` prefix)."""


def is_well_formed(value: str) -> bool:
    """Whether ``value`` is a 15- or 18-character id whose checksum (if any) is right."""
    if not _SHAPE.match(value):
        return False
    return len(value) == 15 or _checksum(value[:15]) == value[15:]


def to_18(value: str) -> str:
    """The 18-character form of a well-formed id (unchanged when already 18 characters)."""
    return value if len(value) == 18 else value + _checksum(value)


class IdFactory:
    """Hands out increasing ids per key prefix; persisted with the emulator state."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        """A fresh 18-character id for ``prefix``; ids are never reused, even after rollback."""
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return make_id(prefix, n)
