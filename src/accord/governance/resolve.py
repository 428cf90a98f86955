"""Which rules version is in force: the active one, and for a run, the one it is pinned to.

The database holds the truth: the active version is the last row of the activation log, and
every version Accord runs with is stored there first. The rules file named in ``accord.yaml``
is only a source of versions:

- on an empty database it **bootstraps** the log (stored, activated, audited as
  ``rules.bootstrap``);
- when approval is not required (the demo) an edit of the file is **adopted**: the new content
  is stored, activated and audited (``rules.adopt``), so that editing the file works as before;
- when approval is required an edited file changes nothing: it is logged once, and becomes
  active only through ``accord rules propose`` / ``approve`` / ``activate``.

A run is **pinned** the first time it reads rules (:meth:`RulesResolver.for_run`): the active
version is recorded for its id and every later read of the run, in any step, on any worker,
after any activation or crash, gets that version. A re-run started by an operator is pinned
when it is started (:func:`accord.flows.replay.rerun`): to its original's version, or to the
active one when the operator chose so.

What does not belong here: proposing, approving and activating (:mod:`accord.governance.changes`).
"""

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import sqlalchemy as sa

from accord.errors import ConfigError
from accord.governance.settings import GovernanceSettings
from accord.rules import (
    DEFAULT_TRANSFORMS,
    Rules,
    TransformRegistry,
    canonical_json,
    load_rules,
    parse_rules,
)
from accord.store import audit, rulesets
from accord.store.rulesets import ActivationKind

__all__ = ["SYSTEM_ACTOR", "RulesResolver", "file_source", "store_rules"]

logger = logging.getLogger(__name__)

SYSTEM_ACTOR: Final = "accord"
"""The audit actor of what Accord does on its own (bootstrap, adopting an edited file)."""
_MAX_PINS: Final = 20_000
"""Pins kept in memory per process (a pin never changes, so any may be dropped and re-read)."""


def file_source(path: Path) -> str:
    """How a version read from a file names its source: the absolute path."""
    return str(path.expanduser().resolve())


def store_rules(
    conn: sa.Connection, rules: Rules, *, source: str | None, actor: str, reason: str
) -> bool:
    """Store a version's canonical JSON (no-op when stored); True when this call stored it."""
    return rulesets.put_version(
        conn,
        version=rules.version,
        document=canonical_json(rules.spec),
        source=source,
        actor=actor,
        reason=reason,
    )


class RulesResolver:
    """Resolves the rules in force for this process (thread-safe; one per database).

    Args:
        engine: Accord's database.
        governance: Returns the current governance settings (re-read when ``accord.yaml``
            changes).
        transforms: The transforms rules documents may call.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        governance: Callable[[], GovernanceSettings],
        transforms: TransformRegistry = DEFAULT_TRANSFORMS,
    ) -> None:
        self.engine = engine
        self.governance = governance
        self.transforms = transforms
        self._lock = threading.Lock()
        self._parsed: dict[str, Rules] = {}
        self._files: dict[str, float | None] = {}
        self._warned: set[str] = set()
        self._pins: OrderedDict[str, str] = OrderedDict()

    # ------------------------------------------------------------------ versions
    def version(self, version: str, *, conn: sa.Connection | None = None) -> Rules:
        """A stored version, parsed (and checked against its hash) once per process.

        Raises:
            ConfigError: The version is not stored, or its document no longer hashes to it.
        """
        with self._lock:
            cached = self._parsed.get(version)
        if cached is not None:
            return cached
        with _using(self.engine, conn) as c:
            stored = rulesets.get_version(c, version=version)
        if stored is None:
            raise ConfigError(f"rules version {version[:12]} is not stored in this database")
        rules = parse_rules(json.loads(stored.document), transforms=self.transforms)
        if rules.version != version:
            raise ConfigError(f"stored rules version {version[:12]} does not match its content")
        self._remember(rules)
        return rules

    def _remember(self, rules: Rules) -> None:
        with self._lock:
            self._parsed.setdefault(rules.version, rules)

    def active_version(self, *, conn: sa.Connection | None = None) -> str | None:
        """The active version's hash, or None before the first activation."""
        with _using(self.engine, conn) as c:
            found = rulesets.active(c)
        return found.version if found else None

    # ------------------------------------------------------------------ in force
    def current(self, rules_path: Path | None, *, conn: sa.Connection | None = None) -> Rules:
        """The active version (after bootstrapping or adopting the rules file, see the module).

        With ``conn`` (a transaction the caller holds, which must have taken
        :func:`accord.store.rulesets.lock` or a write lock), a bootstrap or adoption happens
        in that transaction, so that a version pinned in it is the one it commits.

        Raises:
            ConfigError: Nothing is active yet and the rules file cannot be read.
        """
        if rules_path is not None:
            self._follow(rules_path, conn)
        version = self.active_version(conn=conn)
        if version is None:
            raise ConfigError("no rules version is active and no rules file was given")
        return self.version(version, conn=conn)

    def for_run(self, run_id: str, rules_path: Path | None) -> Rules:
        """The version ``run_id`` is pinned to; pins it to the active version on first use."""
        with self._lock:
            version = self._pins.get(run_id)
        if version is None:
            if rules_path is not None:
                self._follow(rules_path, None)
            with self.engine.connect() as conn:
                found = rulesets.get_pin(conn, run_id=run_id)
                active = rulesets.active(conn) if found is None else None
            if found is None:
                if active is None:
                    raise ConfigError("no rules version is active and no rules file was given")
                # A write-only transaction (the pin reads back after its insert): on SQLite a
                # read that turns into a write can fail at once when another worker wrote.
                with self.engine.begin() as conn:
                    found = rulesets.pin(
                        conn, run_id=run_id, version=active.version, choice="start"
                    )
            version = found.version
            with self._lock:
                self._pins[run_id] = version
                while len(self._pins) > _MAX_PINS:
                    self._pins.popitem(last=False)
        return self.version(version)

    # ------------------------------------------------------------------ the rules file
    def _follow(self, path: Path, conn: sa.Connection | None) -> None:
        """Bootstrap from, or adopt, the rules file when it changed since this process looked."""
        source = file_source(path)
        try:
            stamp: float | None = path.stat().st_mtime
        except OSError:
            stamp = None
        with self._lock:
            if source in self._files and self._files[source] == stamp:
                return
        if stamp is None:
            if self.active_version(conn=conn) is None:
                raise ConfigError(f"rules file {path} is not readable")
            self._seen(source, stamp, conn)
            return
        try:
            rules = load_rules(path, transforms=self.transforms)
        except ConfigError:
            if self.active_version(conn=conn) is None:
                raise
            # The active version keeps running; a broken edit must not stop the flows.
            logger.exception("rules file %s is invalid; the active version stays in force", path)
            self._seen(source, stamp, conn)
            return
        self._remember(rules)
        if conn is not None:
            self._reconcile(conn, rules, source)
        else:
            with self.engine.begin() as own:
                rulesets.lock(own)
                self._reconcile(own, rules, source)
        self._seen(source, stamp, conn)

    def _seen(self, source: str, stamp: float | None, conn: sa.Connection | None) -> None:
        # In a caller's transaction the outcome is not ours to trust yet (it may roll back):
        # look again next time, which is idempotent.
        if conn is None:
            with self._lock:
                self._files[source] = stamp

    def _reconcile(self, conn: sa.Connection, rules: Rules, source: str) -> None:
        current = rulesets.active(conn)
        if current is None:
            _activate_file(conn, rules, source, ActivationKind.BOOTSTRAP)
            return
        if self.governance().approval_required:
            if rules.version != current.version and rules.version not in self._warned:
                self._warned.add(rules.version)
                logger.warning(
                    "rules file %s (version %s) differs from the active version %s; "
                    "approval is required: propose it with 'accord rules propose'",
                    source,
                    rules.version[:12],
                    current.version[:12],
                )
            return
        adopted = [
            a
            for a in rulesets.activations(conn, limit=500)
            if a.kind in (ActivationKind.BOOTSTRAP, ActivationKind.FILE) and a.source == source
        ]
        # Adopt only an edit: a version activated or rolled back by hand since the file was
        # last adopted stays active until the file itself changes again.
        if adopted and adopted[0].version == rules.version:
            return
        if rules.version != current.version:
            _activate_file(conn, rules, source, ActivationKind.FILE)


@contextmanager
def _using(engine: sa.Engine, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    """The caller's connection, or a short-lived one of our own."""
    if conn is not None:
        yield conn
        return
    with engine.connect() as own:
        yield own


def _activate_file(conn: sa.Connection, rules: Rules, source: str, kind: ActivationKind) -> None:
    what = "bootstrap" if kind is ActivationKind.BOOTSTRAP else "adopt"
    reason = (
        "the rules file seeded an empty database"
        if kind is ActivationKind.BOOTSTRAP
        else "the rules file changed and approval is not required"
    )
    store_rules(conn, rules, source=source, actor=SYSTEM_ACTOR, reason=reason)
    activation = rulesets.record_activation(
        conn, version=rules.version, kind=kind, actor=SYSTEM_ACTOR, reason=reason, source=source
    )
    audit.append(
        conn,
        actor=SYSTEM_ACTOR,
        action=f"rules.{what}",
        target=f"rules:version:{rules.version}",
        before={"version": activation.previous_version},
        after={"version": rules.version, "source": source, "reason": reason},
    )
    logger.info("rules version %s activated (%s from %s)", rules.version[:12], what, source)
