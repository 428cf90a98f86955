"""Hash-chained audit log: each row stores the hash of the previous one, keyed and anchorable.

Appends happen inside the caller's transaction so the audit row commits with the change it
describes. Writers are serialised (SQLite: IMMEDIATE transactions; PostgreSQL: a transaction
advisory lock) so that two appends never chain to the same predecessor.

**Keyed.** With an audit key in settings (``ACCORD_AUDIT__KEY`` / ``_KEY_FILE``, see
:class:`accord.settings.AuditSettings`), a row's hash is an HMAC-SHA256 under that key, and the
row records which key (``key_id``, a fingerprint that reveals nothing of the key). Someone who
can write to the database but does not hold the key can no longer rewrite a row, or the rows
after it, so that the chain still verifies. Without a key the hash is plain SHA-256, as rows
written before keys existed are. Once a keyed row exists, an unkeyed row after it is a break.

**Anchored.** :func:`checkpoint` signs the head of the chain (sequence, hash, time) under the
key; kept outside Accord (a ticket, a WORM bucket, an auditor's mailbox), it lets :func:`check`
also detect a deleted or rewritten tail: the chain alone cannot tell a truncated log from a
short one.

What does not belong here: the audit API and pages, and who is audited for what (callers).
"""

import hashlib
import hmac
import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.errors import ConfigError
from accord.store.tables import audit_log
from accord.store.util import as_utc, utc_now, write_lock

__all__ = [
    "GENESIS_HASH",
    "AuditKeys",
    "AuditRow",
    "ChainReport",
    "Checkpoint",
    "append",
    "check",
    "checkpoint",
    "key_id",
    "keys_in_use",
    "list_",
    "use_keys",
    "verify",
]

GENESIS_HASH = "0" * 64
"""The predecessor hash of the first row."""
_LOCK_ID = 0x41554449  # "AUDI"
_KEY_ID_TAG = b"accord.audit.key-id"
_CHECKPOINT_TAG = "accord.audit.checkpoint"


# ---------------------------------------------------------------------- keys
def key_id(key: bytes) -> str:
    """The public fingerprint of an audit key (what rows and checkpoints record)."""
    return hmac.new(key, _KEY_ID_TAG, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKeys:
    """The key new rows are made with (None: unkeyed) and older ones that still verify."""

    current: bytes | None = None
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str | None:
        """The current key's fingerprint, or None when unkeyed."""
        return key_id(self.current) if self.current is not None else None

    def by_id(self) -> dict[str, bytes]:
        """Every known key by fingerprint."""
        found = {key_id(k): k for k in self.previous}
        if self.current is not None:
            found[key_id(self.current)] = self.current
        return found


_installed: AuditKeys | None = None
_installed_lock = threading.Lock()


def use_keys(keys: AuditKeys | None) -> None:
    """Install this process's audit keys (None: read them from settings on next use)."""
    global _installed  # noqa: PLW0603 - one keyring per process, like its settings
    with _installed_lock:
        _installed = keys


def keys_in_use() -> AuditKeys:
    """The installed keys, else the ones the environment's settings name (read once).

    Raises:
        ConfigError: The settings are invalid or the key file cannot be read.
    """
    global _installed  # noqa: PLW0603 - see use_keys
    with _installed_lock:
        if _installed is None:
            from accord.settings import Settings  # noqa: PLC0415 - settings only when unset

            try:
                current, previous = Settings().audit.secrets()
            except (ValueError, OSError) as exc:
                raise ConfigError("cannot read the audit key from the settings") from exc
            _installed = AuditKeys(current=current, previous=tuple(previous))
        return _installed


# ---------------------------------------------------------------------- rows
@dataclass(frozen=True)
class AuditRow:
    """One audit entry as read back."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str
    key_id: str | None = None


def _digest(prev_hash: str, at: datetime, *fields: str, key: bytes | None) -> str:
    material = json.dumps([prev_hash, at.isoformat(), *fields], separators=(",", ":")).encode()
    if key is None:
        return hashlib.sha256(material).hexdigest()
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def _dump(value: Any) -> str:  # noqa: ANN401 - audit payloads are arbitrary JSON
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def append(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,  # noqa: ANN401 - arbitrary JSON
    after: Any = None,  # noqa: ANN401 - arbitrary JSON
    now: datetime | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its sequence number.

    ``now`` is the clock, injected by tests (the entry's ``at``).
    """
    keys = keys_in_use()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    elif not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        # First statement of the transaction: take the write lock before reading the chain.
        write_lock(conn)
    prev = conn.execute(
        sa.select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = prev or GENESIS_HASH
    # Microseconds are dropped so the timestamp hashes the same after a database round trip.
    at = (now or utc_now()).replace(microsecond=0)
    b, a = _dump(before), _dump(after)
    digest = _digest(prev_hash, at, actor, action, target, b, a, key=keys.current)
    result = conn.execute(
        sa.insert(audit_log).values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            before=b,
            after=a,
            prev_hash=prev_hash,
            hash=digest,
            key_id=keys.current_id,
        )
    )
    pk = result.inserted_primary_key
    return int(pk[0]) if pk else 0


def _row(r: sa.Row[*tuple[Any, ...]]) -> AuditRow:
    return AuditRow(
        seq=r.seq,
        at=as_utc(r.at) or utc_now(),
        actor=r.actor,
        action=r.action,
        target=r.target,
        before=json.loads(r.before) if r.before else None,
        after=json.loads(r.after) if r.after else None,
        prev_hash=r.prev_hash,
        hash=r.hash,
        key_id=r.key_id,
    )


def list_(
    conn: sa.Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    target_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditRow]:
    """Newest first, filtered (``since`` inclusive, ``until`` exclusive)."""
    q = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action == action)
    if target:
        q = q.where(audit_log.c.target == target)
    if target_prefix is not None:
        escaped = target_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(audit_log.c.target.like(f"{escaped}%", escape="\\"))
    # Audit times are stored without microseconds (they are hashed), so compare at seconds.
    if since:
        q = q.where(audit_log.c.at >= since.replace(microsecond=0))
    if until:
        q = q.where(audit_log.c.at < until)
    if before_seq is not None:
        q = q.where(audit_log.c.seq < before_seq)
    return [_row(r) for r in conn.execute(q)]


# ---------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """A signed head of the chain: keep it outside Accord, verify the log against it later."""

    seq: int
    hash: str
    at: str
    """The head row's time (ISO 8601)."""
    made_at: str
    """When the checkpoint was taken (ISO 8601)."""
    key_id: str
    signature: str = field(default="")

    def _material(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return (_CHECKPOINT_TAG + "\x1f" + json.dumps(fields, sort_keys=True)).encode()

    def signed(self, key: bytes) -> "Checkpoint":
        """This checkpoint with its signature under ``key``."""
        mac = hmac.new(key, self._material(), hashlib.sha256).hexdigest()
        return Checkpoint(**{**asdict(self), "signature": mac})

    def valid(self, keys: AuditKeys) -> bool:
        """Whether the signature verifies under the key it names."""
        key = keys.by_id().get(self.key_id)
        if key is None:
            return False
        return hmac.compare_digest(self.signed(key).signature, self.signature)

    def to_json(self) -> str:
        """The file form (one JSON object)."""
        return json.dumps({"accord_audit_checkpoint": 1, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Checkpoint":
        """Parse the file form.

        Raises:
            ValueError: Not a checkpoint.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("accord_audit_checkpoint", None) != 1:
            raise ValueError("not an Accord audit checkpoint")
        try:
            return cls(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                at=str(data["at"]),
                made_at=str(data["made_at"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(
                "an audit checkpoint needs seq, hash, at, made_at, key_id and signature"
            ) from exc


def checkpoint(conn: sa.Connection, *, keys: AuditKeys | None = None) -> Checkpoint | None:
    """The signed head of the chain now; None when the log is empty.

    Raises:
        ConfigError: No audit key is configured (an unsigned checkpoint proves nothing).
    """
    keys = keys or keys_in_use()
    if keys.current is None or keys.current_id is None:
        raise ConfigError("set ACCORD_AUDIT__KEY (or _KEY_FILE) to sign audit checkpoints")
    head = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).first()
    if head is None:
        return None
    at = as_utc(head.at) or utc_now()
    unsigned = Checkpoint(
        seq=int(head.seq),
        hash=str(head.hash),
        at=at.isoformat(),
        made_at=utc_now().replace(microsecond=0).isoformat(),
        key_id=keys.current_id,
    )
    return unsigned.signed(keys.current)


# ---------------------------------------------------------------------- verification
@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found."""

    rows: int
    last_seq: int | None
    keyed_rows: int
    first_broken_seq: int | None = None
    problem: str | None = None
    """One line saying what is wrong; None when intact."""

    @property
    def ok(self) -> bool:
        """Whether the chain (and the checkpoint, if any) verified."""
        return self.problem is None


def check(  # noqa: PLR0911 - one branch per way a chain breaks
    conn: sa.Connection, *, keys: AuditKeys | None = None, anchor: Checkpoint | None = None
) -> ChainReport:
    """Walk the chain from the first row, and compare its head with ``anchor`` if given.

    Detects a rewritten row (its hash no longer matches), a deleted row (the next one's
    predecessor hash no longer matches), an unkeyed row after keyed ones, and, with a
    checkpoint, a truncated or rewritten tail.
    """
    keys = keys or keys_in_use()
    by_id = keys.by_id()
    if anchor is not None and not anchor.valid(keys):
        return ChainReport(
            rows=0,
            last_seq=None,
            keyed_rows=0,
            problem="the checkpoint's signature does not verify (another key, or an altered file)",
        )
    prev_hash, prev_seq = GENESIS_HASH, None
    rows = keyed = 0
    anchor_hash: str | None = None

    def broken(seq: int, problem: str) -> ChainReport:
        return ChainReport(rows, prev_seq, keyed, first_broken_seq=seq, problem=problem)

    for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)):
        seq = int(r.seq)
        at = as_utc(r.at)
        if at is None or r.prev_hash != prev_hash:
            where = f"row {prev_seq}" if prev_seq is not None else "the start of the log"
            return broken(seq, f"row {seq} does not follow {where}: a row was deleted or rewritten")
        key: bytes | None = None
        if r.key_id is not None:
            key = by_id.get(r.key_id)
            if key is None:
                return broken(seq, f"row {seq} was made with audit key {r.key_id}, not configured")
            keyed += 1
        elif keyed:
            return broken(seq, f"row {seq} is unkeyed after keyed rows: rewritten")
        fields = (r.actor, r.action, r.target, r.before or "null", r.after or "null")
        expected = _digest(prev_hash, at, *fields, key=key)
        if not hmac.compare_digest(expected, r.hash):
            return broken(seq, f"row {seq} does not match its hash: rewritten")
        if anchor is not None and seq == anchor.seq:
            anchor_hash = r.hash
        prev_hash, prev_seq = r.hash, seq
        rows += 1
    if anchor is not None:
        if prev_seq is None or prev_seq < anchor.seq:
            end = f"row {prev_seq}" if prev_seq is not None else "no row at all"
            return ChainReport(
                rows,
                prev_seq,
                keyed,
                first_broken_seq=anchor.seq,
                problem=f"the log ends at {end}, before the checkpoint's row {anchor.seq}: "
                "its tail was deleted",
            )
        if anchor_hash != anchor.hash:
            what = "is missing" if anchor_hash is None else "differs from the checkpoint"
            return ChainReport(
                rows,
                prev_seq,
                keyed,
                first_broken_seq=anchor.seq,
                problem=f"row {anchor.seq} {what}: the log was rewritten up to it",
            )
    return ChainReport(rows, prev_seq, keyed)


def verify(conn: sa.Connection) -> int | None:
    """Walk the chain; return the sequence number of the first broken row, or None if intact."""
    return check(conn).first_broken_seq
