"""Reading a :class:`~accord.errors.Reason` out of a vendor's error text, with its source.

Where a vendor gives a code, a connector's ``errors`` module maps the code. Where it does not
(NetSuite answers most refusals ``USER_ERROR``; Business Central most ``Application_...``), the
text decides, and each text a connector recognises is a :class:`TextRule` that names where the
wording comes from and whether it is ``inferred``: taken from the sandbox emulators because no
public vendor material gives it. docs/connectors.md lists every rule; a test holds the list and
the code together, so an inferred wording cannot hide.

What does not belong here: any one vendor's codes or texts (they live in its package).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from accord.errors import Reason

__all__ = ["TextRule", "reason_from_text", "rule_for"]


@dataclass(frozen=True, slots=True)
class TextRule:
    """One vendor wording and the reason it gives."""

    reason: Reason
    pattern: re.Pattern[str]
    source: str
    """Where the wording comes from: a vendor page, or the reference section that cites one."""
    inferred: bool = False
    """True when no vendor material gives the wording: the emulators' own text, to be checked
    against a real tenant (``pytest -m live``)."""


def rule_for(rules: Iterable[TextRule], text: str | None) -> tuple[TextRule, re.Match[str]] | None:
    """The first rule whose pattern is found in ``text``, with its match."""
    if not text:
        return None
    for rule in rules:
        found = rule.pattern.search(text)
        if found is not None:
            return rule, found
    return None


def reason_from_text(rules: Iterable[TextRule], text: str | None) -> Reason | None:
    """The reason of the first rule found in ``text``, or None."""
    hit = rule_for(rules, text)
    return hit[0].reason if hit else None
