"""How a flow gets its rules: the running event run's pinned version, else the active one.

:func:`governed_rules` is the one place flows resolve rules through (``rules_for`` in
:mod:`accord.flows.shared.settings`, and so :func:`accord.flows.stepkit.rules`, call it):
inside the run of a journaled event (ids ``<seq>.<event id>``, re-runs ``...r<n>``) the run is
pinned to a version on its first read and keeps it to the end; everywhere else (capture, the
API) the active version applies. Outside a launched runtime there is no database to govern
with, and the caller falls back to reading the file.

What does not belong here: the versions, the pins and the file policy themselves
(:mod:`accord.governance.resolve`).
"""

import os
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from dbos import DBOS

from accord.errors import ConfigError
from accord.flows.context import flow_context
from accord.flows.runs import seq_of_run
from accord.governance.resolve import RulesResolver
from accord.governance.settings import governance_settings
from accord.rules import Rules
from accord.store import rulesets

__all__ = ["RESOLVER_KEY", "current_version", "governed_rules", "resolver", "rules_path"]

RESOLVER_KEY: Final = "rules_resolver"
"""Key of the process's :class:`RulesResolver` in the flow context's extras."""


def resolver() -> RulesResolver | None:
    """The process's resolver (built on first use), or None without a launched runtime."""
    try:
        ctx = flow_context()
    except RuntimeError:
        return None
    found = ctx.extras.get(RESOLVER_KEY)
    if found is None:
        config_file = ctx.settings.config_file
        found = RulesResolver(ctx.engine, governance=lambda: governance_settings(config_file))
        # Two threads may build one each at start; either serves, one is kept.
        found = ctx.extras.setdefault(RESOLVER_KEY, found)
    assert isinstance(found, RulesResolver)
    return found


def governed_rules(rules_path: Path) -> Rules | None:
    """The rules in force for the caller (see the module docstring); None without a runtime."""
    found = resolver()
    if found is None:
        return None
    run_id = DBOS.workflow_id
    if run_id is not None and seq_of_run(run_id) is not None:
        return found.for_run(run_id, rules_path)
    return found.current(rules_path)


def current_version(conn: sa.Connection) -> str | None:
    """The version a new run would start with, resolved in the caller's transaction.

    A re-run started with ``rules="current"`` is pinned to it in the same transaction, so an
    edit of the rules file not yet adopted (approval off) is adopted there first. Without a
    runtime (the CLI), it is the active version as stored.
    """
    rulesets.lock(conn)
    found = resolver()
    if found is not None:
        try:
            return found.current(rules_path(flow_context().settings.config_file), conn=conn).version
        except ConfigError:
            pass
    active = rulesets.active(conn)
    return active.version if active is not None else None


def rules_path(config_file: Path | None) -> Path:
    """The rules file ``accord.yaml`` names (``lead_to_project.rules``, else the defaults).

    The one place outside the flows' settings that knows where that setting lives.
    """
    # Imported here: the settings module imports this one (its rules_for calls governed_rules).
    from accord.flows.shared.settings import load_flow_settings  # noqa: PLC0415

    return load_flow_settings(config_file, os.environ).rules_path
