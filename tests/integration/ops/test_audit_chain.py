"""The audit chain an auditor accepts: keyed with an HMAC, anchored by signed checkpoints.

Each test tampers with the database the way someone with write access but without the key
would, and the verification names what happened: a rewritten row, a deleted row, a truncated
tail, a re-keyed or unkeyed rewrite, an altered checkpoint.
"""

import hashlib
import json
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.support import accord_cmd, accord_env

from accord.store import audit
from accord.store.audit import AuditKeys
from accord.store.tables import audit_log
from accord.store.util import as_utc

KEY = b"an audit key of thirty-two bytes!"


@pytest.fixture
def keyed() -> Iterator[AuditKeys]:
    keys = AuditKeys(current=KEY)
    audit.use_keys(keys)
    yield keys
    audit.use_keys(None)


def _append(engine: sa.Engine, n: int) -> list[int]:
    with engine.begin() as conn:
        return [
            audit.append(conn, actor="key:ann", action="exception.assign", target=f"exception:{i}")
            for i in range(n)
        ]


def _check(engine: sa.Engine, anchor: audit.Checkpoint | None = None) -> audit.ChainReport:
    with engine.connect() as conn:
        return audit.check(conn, anchor=anchor)


def _rehash(engine: sa.Engine, seq: int, *, key: bytes | None, key_id: str | None) -> None:
    """Recompute one row's hash as a forger would (with a key of their own, or none)."""
    with engine.begin() as conn:
        r = conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).one()
        at = as_utc(r.at)
        digest = audit._digest(
            r.prev_hash, at, r.actor, r.action, r.target, r.before, r.after, key=key
        )
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == seq).values(hash=digest, key_id=key_id)
        )


def test_a_keyed_chain_verifies(engine, keyed):
    _append(engine, 4)
    report = _check(engine)
    assert report.ok
    assert report.rows == report.keyed_rows == 4
    with engine.connect() as conn:
        assert {r.key_id for r in audit.list_(conn)} == {keyed.current_id}


def test_a_rewritten_row_is_named(engine, keyed):
    seqs = _append(engine, 4)
    with engine.begin() as conn:
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == seqs[1]).values(actor="key:mallory")
        )
    report = _check(engine)
    assert report.first_broken_seq == seqs[1]
    assert "rewritten" in (report.problem or "")


def test_a_rewrite_without_the_key_does_not_verify(engine, keyed):
    seqs = _append(engine, 3)
    with engine.begin() as conn:
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == seqs[2]).values(actor="key:mallory")
        )
    # The forger recomputes the last row's hash: unkeyed, or with a key of their own.
    _rehash(engine, seqs[2], key=None, key_id=None)
    assert "unkeyed after keyed" in (_check(engine).problem or "")
    forged = b"the forger's own key" * 2
    _rehash(engine, seqs[2], key=forged, key_id=audit.key_id(forged))
    assert "not configured" in (_check(engine).problem or "")
    _rehash(engine, seqs[2], key=forged, key_id=keyed.current_id)
    assert _check(engine).first_broken_seq == seqs[2]


def test_a_deleted_row_is_named(engine, keyed):
    seqs = _append(engine, 4)
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == seqs[1]))
    report = _check(engine)
    assert report.first_broken_seq == seqs[2]
    assert "deleted" in (report.problem or "")


def test_a_truncated_tail_needs_the_checkpoint_and_is_found_with_it(engine, keyed):
    seqs = _append(engine, 5)
    with engine.connect() as conn:
        anchor = audit.checkpoint(conn)
    assert anchor is not None
    assert anchor.seq == seqs[-1]
    assert _check(engine, anchor).ok
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq >= seqs[3]))
    assert _check(engine).ok  # a short log looks intact on its own
    report = _check(engine, anchor)
    assert not report.ok
    assert "tail was deleted" in (report.problem or "")


def test_a_tail_rewritten_by_the_key_holder_differs_from_the_checkpoint(engine, keyed):
    seqs = _append(engine, 3)
    with engine.connect() as conn:
        anchor = audit.checkpoint(conn)
    # Even someone holding the key cannot rewrite up to the checkpoint unnoticed.
    with engine.begin() as conn:
        conn.execute(
            sa.update(audit_log).where(audit_log.c.seq == seqs[2]).values(target="exception:x")
        )
    _rehash(engine, seqs[2], key=KEY, key_id=keyed.current_id)
    assert _check(engine).ok
    assert "differs from the checkpoint" in (_check(engine, anchor).problem or "")


def test_an_altered_checkpoint_is_refused(engine, keyed):
    _append(engine, 2)
    with engine.connect() as conn:
        anchor = audit.checkpoint(conn)
    assert anchor is not None
    data = json.loads(anchor.to_json())
    data["seq"] -= 1
    altered = audit.Checkpoint.from_json(json.dumps(data))
    assert "signature" in (_check(engine, altered).problem or "")


def test_rows_from_before_the_key_still_verify(engine):
    audit.use_keys(AuditKeys())
    try:
        _append(engine, 2)  # unkeyed, as before keys existed
        audit.use_keys(AuditKeys(current=KEY))
        _append(engine, 2)
        report = _check(engine)
        assert report.ok
        assert (report.rows, report.keyed_rows) == (4, 2)
        # After a change of key the old one, listed as previous, still verifies its rows.
        audit.use_keys(AuditKeys(current=hashlib.sha256(b"next").digest(), previous=(KEY,)))
        _append(engine, 1)
        assert _check(engine).ok
        audit.use_keys(AuditKeys(current=hashlib.sha256(b"next").digest()))
        assert "not configured" in (_check(engine).problem or "")
    finally:
        audit.use_keys(None)


def _run(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        accord_cmd(*args),
        env=accord_env(db_url, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_checkpoint_and_verify_against_it(db_url, tmp_path):
    env = {"ACCORD_AUDIT__KEY": KEY.decode()}
    for name in ("a", "b", "c"):
        made = _run(db_url, "keys", "create", "--role", "viewer", "--name", name, **env)
        assert made.returncode == 0, made.stderr
    unkeyed = _run(db_url, "audit", "checkpoint")
    assert unkeyed.returncode == 1
    assert "ACCORD_AUDIT__KEY" in unkeyed.stderr
    path = tmp_path / "head.json"
    taken = _run(db_url, "audit", "checkpoint", "--out", str(path), **env)
    assert taken.returncode == 0, taken.stderr
    ok = _run(db_url, "audit", "verify", "--checkpoint", str(path), **env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "OK"
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one()
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == last))
    engine.dispose()
    assert _run(db_url, "audit", "verify", **env).returncode == 0
    cut = _run(db_url, "audit", "verify", "--checkpoint", str(path), **env)
    assert cut.returncode == 1
    assert "tail was deleted" in cut.stderr
    assert len(cut.stderr.strip().splitlines()) == 1
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}", encoding="utf-8")
    bad = _run(db_url, "audit", "verify", "--checkpoint", str(garbage), **env)
    assert bad.returncode == 1
    assert "not an Accord audit checkpoint" in bad.stderr
