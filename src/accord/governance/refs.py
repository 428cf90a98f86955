"""Naming a rules version: a hash prefix, a proposal id, ``active``, ``file`` or a file path.

A hash prefix needs seven hex characters or more (as git's short hashes); a proposal is ``3``
or ``#3``; ``active`` is the active version; ``file`` is the rules file ``accord.yaml`` names,
and a path (``.yaml``, ``.yml``, ``.json`` or an existing file) is read as it is. Files are
only accepted where the caller allows them (the CLI, not the API).
"""

from pathlib import Path

import sqlalchemy as sa

from accord.errors import GovernanceError
from accord.governance.resolve import RulesResolver
from accord.rules import Rules, load_rules
from accord.store import rulesets

__all__ = ["UnknownRefError", "load_ref"]


class UnknownRefError(GovernanceError):
    """The reference names no stored version, proposal or file (or several versions)."""


def load_ref(
    engine: sa.Engine,
    resolver: RulesResolver,
    ref: str | None,
    *,
    rules_path: Path | None,
    files: bool,
) -> tuple[str, Rules]:
    """A label for people and the rules ``ref`` names (default ``active``).

    Raises:
        UnknownRefError: Nothing (or more than one version) matches.
        ConfigError: A named file is unreadable or invalid.
    """
    text = (ref or "active").strip()
    if text == "active":
        rules = resolver.current(rules_path)
        return f"active {rules.version[:12]}", rules
    path = rules_path if text == "file" else Path(text)
    if (
        files
        and path is not None
        and (text == "file" or path.suffix in {".yaml", ".yml", ".json"} or path.is_file())
    ):
        rules = load_rules(path)
        return f"{'file ' if text == 'file' else ''}{path} ({rules.version[:12]})", rules
    number = text.removeprefix("#")
    with engine.connect() as conn:
        if number.isdigit() and len(number) < 7:
            proposal = rulesets.get_proposal(conn, id=int(number))
            if proposal is None:
                raise UnknownRefError(f"no rules proposal #{number}")
            label = f"proposal #{number} ({proposal.version[:12]})"
            return label, resolver.version(proposal.version)
        found = rulesets.find_versions(conn, prefix=text) if len(text) >= 7 else []
    if len(found) != 1:
        why = "is ambiguous" if found else "names no stored version or proposal"
        raise UnknownRefError(f"{text!r} {why}")
    return found[0][:12], resolver.version(found[0])
