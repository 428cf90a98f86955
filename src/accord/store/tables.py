"""Table definitions (SQLAlchemy Core). Alembic migrations create them; this module describes them.

Times are stored as UTC-aware ``DateTime(timezone=True)``; on SQLite SQLAlchemy stores ISO
text without the offset, so :func:`accord.store.util.as_utc` restores the zone when reading.
"""

import sqlalchemy as sa

__all__ = [
    "alerts",
    "api_keys",
    "archives",
    "audit_log",
    "budget_leases",
    "budget_state",
    "connection_tokens",
    "cursors",
    "exceptions",
    "journal",
    "leases",
    "lineage",
    "metadata",
    "outbox",
    "postings",
    "rate_buckets",
    "reconciliation_drift",
    "reconciliation_runs",
    "rules_activations",
    "rules_proposals",
    "rules_versions",
    "run_rules",
    "secrets",
    "shadow_outcomes",
    "webhook_replays",
    "xref",
]

metadata = sa.MetaData()
_TS = sa.DateTime(timezone=True)

journal = sa.Table(
    "accord_journal",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("ce_id", sa.String(512), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(512)),
    sa.Column("business_key", sa.String(512), nullable=False),
    sa.Column("time", _TS),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("source", "ce_id", name="uq_journal_source_ce_id"),
)
sa.Index("ix_journal_business_key", journal.c.business_key, journal.c.seq)
sa.Index("ix_journal_type_received", journal.c.type, journal.c.received_at)

xref = sa.Table(
    "accord_xref",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entity_type", sa.String(64), nullable=False),
    sa.Column("canonical_id", sa.String(256), nullable=False),
    sa.Column("system", sa.String(64), nullable=False),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("external_id", sa.String(256), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.UniqueConstraint("entity_type", "connection", "external_id", name="uq_xref_external"),
    sa.UniqueConstraint("entity_type", "canonical_id", "connection", name="uq_xref_canonical"),
)
sa.Index("ix_xref_external_id", xref.c.external_id)

lineage = sa.Table(
    "accord_lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("from_type", sa.String(64), nullable=False),
    sa.Column("from_id", sa.String(256), nullable=False),
    sa.Column("to_type", sa.String(64), nullable=False),
    sa.Column("to_id", sa.String(256), nullable=False),
    sa.Column("relation", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(128)),
    sa.Column("event_id", sa.String(64)),
    sa.Column("status", sa.String(32)),
    sa.Column("created_at", _TS, nullable=False),
    # When the link reached its current status (NULL on rows older than revision 0009).
    sa.Column("status_at", _TS),
    sa.UniqueConstraint(
        "from_type", "from_id", "to_type", "to_id", "relation", name="uq_lineage_edge"
    ),
)
sa.Index("ix_lineage_from", lineage.c.from_type, lineage.c.from_id)
sa.Index("ix_lineage_to", lineage.c.to_type, lineage.c.to_id)
sa.Index("ix_lineage_relation_status_at", lineage.c.relation, lineage.c.status_at)

exceptions = sa.Table(
    "accord_exceptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("queue", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(128)),
    sa.Column("business_key", sa.String(512), nullable=False),
    sa.Column("dedupe_key", sa.String(512), nullable=False),
    sa.Column("code", sa.String(128), nullable=False),
    sa.Column("title", sa.String(512), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("amount", sa.Numeric(18, 4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("assignee", sa.String(128)),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("resolved_at", _TS),
    sa.Column("resolution", sa.String(512)),
    sa.Column("escalated_at", _TS),
    sa.Column("escalated_to", sa.String(128)),
)
sa.Index(
    "ix_exceptions_queue_status_created",
    exceptions.c.queue,
    exceptions.c.status,
    exceptions.c.created_at,
)
sa.Index("ix_exceptions_dedupe", exceptions.c.dedupe_key, exceptions.c.status)
sa.Index("ix_exceptions_business_key", exceptions.c.business_key)
sa.Index("ix_exceptions_resolved_at", exceptions.c.resolved_at)

audit_log = sa.Table(
    "accord_audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("at", _TS, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # Which audit key the row's HMAC was made with; NULL: an unkeyed SHA-256 (see store.audit).
    sa.Column("key_id", sa.String(32)),
)
sa.Index("ix_audit_at", audit_log.c.at)

api_keys = sa.Table(
    "accord_api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("revoked_at", _TS),
    sa.Column("expires_at", _TS),
    sa.Column("last_used_at", _TS),
    # Set when the key was rotated: this secret keeps working until its expires_at.
    sa.Column("superseded_at", _TS),
)
sa.Index("ix_api_keys_name", api_keys.c.name)
sa.Index(
    "uq_api_keys_current_name",
    api_keys.c.name,
    unique=True,
    sqlite_where=api_keys.c.superseded_at.is_(None),
    postgresql_where=api_keys.c.superseded_at.is_(None),
)

rate_buckets = sa.Table(
    "accord_rate_buckets",
    metadata,
    sa.Column("bucket", sa.String(160), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("refilled_at", sa.Float, nullable=False),
)

webhook_replays = sa.Table(
    "accord_webhook_replays",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("seen_at", sa.Float, nullable=False),
)
sa.Index("ix_webhook_replays_seen_at", webhook_replays.c.seen_at)

secrets = sa.Table(
    "accord_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)

cursors = sa.Table(
    "accord_cursors",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("resource", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("high_watermark", _TS),
    sa.Column("seen_ids", sa.Text, nullable=False, server_default="[]"),
    sa.Column("updated_at", _TS, nullable=False),
)

budget_state = sa.Table(
    "accord_budget_state",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("rate_per_s", sa.Float, nullable=False),
    sa.Column("max_rate_per_s", sa.Float, nullable=False),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("refilled_at", sa.Float, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("throttled_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("acquired_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("paused_until", sa.Float, nullable=False, server_default="0"),
    # Lanes: until when a caller of a higher lane waits for a slot (lower lanes take none
    # meanwhile), calls granted per lane, and the day's calls against a daily allowance.
    sa.Column("demand_interactive", sa.Float, nullable=False, server_default="0"),
    sa.Column("demand_flow", sa.Float, nullable=False, server_default="0"),
    sa.Column("demand_bulk", sa.Float, nullable=False, server_default="0"),
    sa.Column("lane_interactive", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lane_flow", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lane_bulk", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lane_background", sa.Integer, nullable=False, server_default="0"),
    sa.Column("day_key", sa.String(10), nullable=False, server_default=""),
    sa.Column("day_used", sa.Integer, nullable=False, server_default="0"),
)

budget_leases = sa.Table(
    "accord_budget_leases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
sa.Index("ix_budget_leases_connection", budget_leases.c.connection, budget_leases.c.expires_at)

alerts = sa.Table(
    "accord_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("instance_key", sa.String(512), nullable=False),
    # "<rule>|<instance_key>" while firing, NULL once resolved: the unique constraint is what
    # makes one notification per alert instance hold across every worker evaluating rules.
    sa.Column("active_key", sa.String(660), unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("summary", sa.String(512), nullable=False),
    sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
    sa.Column("value", sa.Float),
    sa.Column("fired_at", _TS, nullable=False),
    sa.Column("last_seen_at", _TS, nullable=False),
    sa.Column("resolved_at", _TS),
    sa.Column("fired_sent_at", _TS),
    sa.Column("resolved_sent_at", _TS),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(512)),
    sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),
)
sa.Index("ix_alerts_status_fired", alerts.c.status, alerts.c.fired_at)
sa.Index("ix_alerts_rule_status", alerts.c.rule, alerts.c.status)
sa.Index("ix_lineage_event_id", lineage.c.event_id)

postings = sa.Table(
    "accord_postings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("entry_id", sa.String(256), nullable=False),
    sa.Column("submission_id", sa.String(256), nullable=False),
    sa.Column("project_id", sa.String(256), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(128)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("code", sa.String(128)),
    sa.Column("erp", sa.String(32)),
    sa.Column("erp_connection", sa.String(128)),
    sa.Column("erp_record_id", sa.String(256)),
    sa.Column("external_id", sa.String(256)),
    sa.Column("entry_date", sa.Date, nullable=False),
    sa.Column("posted_date", sa.Date),
    sa.Column("hours", sa.Numeric(12, 2)),
    sa.Column("amount", sa.Numeric(18, 4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("entry_json", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    # The outcome of the entry's first pass, and when it first became ``posted`` (revision
    # 0009; the KPIs' first-time-right rate and approval-to-posting time read them).
    sa.Column("first_status", sa.String(16)),
    sa.Column("posted_at", _TS),
    sa.UniqueConstraint("kind", "entry_id", name="uq_postings_entry"),
)
sa.Index("ix_postings_submission", postings.c.submission_id)
sa.Index("ix_postings_status", postings.c.status, postings.c.project_id)

leases = sa.Table(
    "accord_leases",
    metadata,
    # A named lease held by one holder until it expires: mutual exclusion across processes for
    # work that must not run twice at once (a Business Central posting batch, a dispatcher).
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("holder", sa.String(256), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("acquired_at", _TS, nullable=False),
)

outbox = sa.Table(
    "accord_outbox",
    metadata,
    # Outbound work handed from a run to its connection's dispatcher, in the run's transaction:
    # a crash loses nothing (the row stays) and doubles nothing (each item is idempotent at the
    # target by its key, and the row leaves only with its recorded outcome).
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("connection", sa.String(128), nullable=False),
    sa.Column("lane", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("batch_id", sa.String(256), nullable=False),
    sa.Column("item_key", sa.String(256), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("taken_by", sa.String(128)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("not_before", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", _TS, nullable=False),
    sa.UniqueConstraint("connection", "batch_id", "item_key", name="uq_outbox_item"),
)
sa.Index("ix_outbox_take", outbox.c.connection, outbox.c.status, outbox.c.lane, outbox.c.id)
sa.Index("ix_outbox_batch", outbox.c.batch_id)
shadow_outcomes = sa.Table(
    "accord_shadow_outcomes",
    metadata,
    # What the shadow ERP of a migrating legal entity made of each posting the system of
    # record accepted (revision 0018): one row per entry and mode, whatever the redeliveries.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("entry_id", sa.String(256), nullable=False),
    sa.Column("project_id", sa.String(256), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("hours", sa.Numeric(12, 2)),
    sa.Column("amount", sa.Numeric(18, 4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(128)),
    sa.Column("message", sa.Text),
    sa.Column("shadow_connection", sa.String(128), nullable=False),
    sa.Column("sor_connection", sa.String(128), nullable=False),
    sa.Column("shadow_record_id", sa.String(256)),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.UniqueConstraint("kind", "entry_id", "mode", name="uq_shadow_outcome"),
)
sa.Index("ix_shadow_outcomes_entity_day", shadow_outcomes.c.entity, shadow_outcomes.c.day)
connection_tokens = sa.Table(
    "accord_connection_tokens",
    metadata,
    sa.Column("connection", sa.String(128), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("authorized_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)
"""Tokens of connections authorized by a consent step (Kantata), Fernet-encrypted."""
archives = sa.Table(
    "accord_archives",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("data_class", sa.String(32), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("first_key", sa.String(256)),
    sa.Column("last_key", sa.String(256)),
    sa.Column("cutoff", _TS),
    # False for the audit log, which is archived but never purged.
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)
sa.Index("ix_archives_class_created", archives.c.data_class, archives.c.created_at)
# Governed rules (docs/governance.md): every version Accord runs with, the proposals to change
# them, the activation log (the active version is its last row) and each run's pinned version.
rules_versions = sa.Table(
    "accord_rules_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("source", sa.String(1024)),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("reason", sa.Text),
)

rules_proposals = sa.Table(
    "accord_rules_proposals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("base_version", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(1024)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("proposed_by", sa.String(128), nullable=False),
    sa.Column("proposed_at", _TS, nullable=False),
    sa.Column("approved_by", sa.String(128)),
    sa.Column("approved_at", _TS),
    sa.Column("activated_by", sa.String(128)),
    sa.Column("activated_at", _TS),
)
sa.Index("ix_rules_proposals_status", rules_proposals.c.status, rules_proposals.c.id)

rules_activations = sa.Table(
    "accord_rules_activations",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("previous_version", sa.String(64)),
    sa.Column("proposal_id", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source", sa.String(1024)),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", _TS, nullable=False),
)

run_rules = sa.Table(
    "accord_run_rules",
    metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("choice", sa.String(16), nullable=False),
    sa.Column("source_run_id", sa.String(128)),
    sa.Column("pinned_at", _TS, nullable=False),
)
sa.Index("ix_postings_posted_at", postings.c.posted_at)
sa.Index("ix_postings_created_at", postings.c.created_at)

reconciliation_runs = sa.Table(
    "accord_reconciliation_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("scope", sa.Text, nullable=False, server_default="{}"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(128)),
    sa.Column("checked", sa.Integer, nullable=False, server_default="0"),
    sa.Column("drift_found", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", _TS, nullable=False),
    sa.Column("finished_at", _TS),
    sa.Column("error", sa.String(512)),
    # What the run compared and found, per project and currency and per check (revision 0017).
    sa.Column("report", sa.Text),
)
sa.Index("ix_reconciliation_runs_started", reconciliation_runs.c.started_at)

reconciliation_drift = sa.Table(
    "accord_reconciliation_drift",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "recon_id", sa.Integer, sa.ForeignKey("accord_reconciliation_runs.id"), nullable=False
    ),
    sa.Column("last_recon_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(512), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("project_id", sa.String(256)),
    sa.Column("business_key", sa.String(512)),
    sa.Column("system", sa.String(64)),
    sa.Column("connection", sa.String(128)),
    sa.Column("record_id", sa.String(256)),
    sa.Column("expected_amount", sa.Numeric(18, 4)),
    sa.Column("found_amount", sa.Numeric(18, 4)),
    sa.Column("currency", sa.String(3)),
    sa.Column("exception_id", sa.Integer),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Column("found_at", _TS, nullable=False),
    sa.Column("last_seen_at", _TS, nullable=False),
    sa.Column("closed_at", _TS),
)
sa.Index("ix_reconciliation_drift_found", reconciliation_drift.c.found_at)
sa.Index(
    "ix_reconciliation_drift_fingerprint",
    reconciliation_drift.c.fingerprint,
    reconciliation_drift.c.status,
)
sa.Index(
    "ix_reconciliation_drift_status", reconciliation_drift.c.status, reconciliation_drift.c.kind
)
