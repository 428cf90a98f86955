"""What a run records: drift items, ledger marks, and exceptions in the owners' queues.

- :func:`record_check`, after each check, in one transaction: the drift found (a
  fingerprint a person ignored stays ignored), the ledger rows of postings the ERP lost marked
  so that a retry posts them again (and unmarked when the record is back), and the open items
  in the check's scope that it did not find again closed: ``repaired`` when a person retried
  their exception, else ``resolved``.
- :func:`route`, at the end of a run: one exception per group of open items (the missing
  postings of one submission; otherwise one code of one project, customer or connection) in
  the queue the rules route its code to, with the diff of each item. Postings missing in the
  ERP are the one drift with a repair: their exception names the submission's run, so that
  **Retry** re-runs time-to-bill for it, which posts exactly the marked entries again under
  their keys (never twice), and time-to-bill's own conclusion resolves the exception (its
  dedupe key is the one time-to-bill gives a failure of that submission). Nothing is ever
  deleted in a system of record. An exception a person ignores closes its items as
  ``ignored``; one whose items all agree again is resolved.

What does not belong here: finding drift (:mod:`.checks`).
"""

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from accord.domain import Money
from accord.flows import stepkit
from accord.flows.reconciliation import checks, work
from accord.rules import Rules
from accord.store import exceptions, postings
from accord.store import reconciliation as store
from accord.store.reconciliation import DriftItem

__all__ = ["CODES", "FLOW", "record_check", "resolve_closed", "route"]

FLOW: Final = "reconciliation"
"""The flow's name in exceptions."""
_LISTED: Final = 200
"""Most items one exception lists (the drift table has them all)."""

CODES: Final[dict[str, tuple[str, str, str]]] = {
    # drift code: (exception code, title, what the owner does)
    "missing_in_erp": (
        work.MISSING_CODE,
        "posted to {system}, but no longer there",
        (
            "Retry re-posts them through time-to-bill under the same keys (never twice); or "
            "restore them in the ERP. Nothing is deleted automatically."
        ),
    ),
    "changed_in_erp": (
        "erp.recon.posting_changed",
        "changed in {system} after Accord posted them",
        (
            "The PSA owns time and expense: correct the ERP record to the approved values, or "
            "correct and re-approve in the PSA."
        ),
    ),
    "duplicate_in_erp": (
        "erp.recon.posting_duplicate",
        "held twice in {system}",
        "Reverse the extra record in the ERP (Accord never deletes it).",
    ),
    "extra_in_erp": (
        "erp.recon.posting_extra",
        "in {system} on Accord's projects, not posted by Accord",
        "Record the work in the PSA (it owns time and expense), or reverse it in the ERP.",
    ),
    "not_in_ledger": (
        "recon.approval_not_posted",
        "approved in the PSA, never reached Accord",
        (
            "Check the PSA connection's approval capture; the approval is picked up again once "
            "it is fixed."
        ),
    ),
    "withdrawn_in_psa": (
        "psa.recon.approval_withdrawn",
        "posted, but no longer approved in the PSA",
        "Re-approve in the PSA, or have finance reverse the posting in the ERP.",
    ),
    "changed_in_psa": (
        "psa.recon.entry_changed",
        "changed in the PSA after they were posted",
        "Have finance adjust the ERP posting to the PSA's values, or restore the PSA entry.",
    ),
    "invoiced_twice": (
        "billing.recon.invoiced_twice",
        "invoiced more than once",
        "Credit the extra invoice line in the ERP.",
    ),
    "invoiced_amount_differs": (
        "billing.recon.invoiced_amount",
        "invoiced at another amount than posted",
        "Correct the invoice line (credit note) or the posting.",
    ),
    "psa_budget_differs": (
        "project.recon.psa_budget",
        "PSA budget differs from the deal",
        "The CRM owns the deal: put the budget back in the PSA, or amend the deal in the CRM.",
    ),
    "psa_dates_differ": (
        "project.recon.psa_dates",
        "PSA project dates differ from the deal",
        "Put the dates back in the PSA, or amend the deal's dates in the CRM.",
    ),
    "erp_dates_differ": (
        "erp.recon.project_dates",
        "ERP project dates differ from the deal",
        "Put the dates back in the ERP project, or amend the deal's dates in the CRM.",
    ),
    "plan_total_differs": (
        "billing.recon.plan_total",
        "ERP billing plan does not bill the deal's amount",
        "Correct the billing plan in the ERP, or amend the deal in the CRM.",
    ),
    "fields_differ": (
        "erp.recon.customer_fields",
        "customer fields the CRM owns differ in the ERP",
        (
            "Change the account in the CRM (it owns these fields), or put the CRM's values back "
            "in the ERP."
        ),
    ),
    "dangling_xref": (
        "recon.xref_dangling",
        "references to records that no longer exist",
        "Restore the record, or have the integration team re-link or remove the reference.",
    ),
    "unlinked_record": (
        "recon.unlinked_record",
        "records that look like Accord's, with no reference",
        "Link the record to its canonical object, or remove its Accord key in the ERP.",
    ),
}


# ----------------------------------------------------------------------- after a check
def record_check(recon_id: int, result: checks.CheckResult) -> dict[str, Any]:
    """Record one check's findings (module docstring); returns its summary."""
    engine = stepkit.engine()
    with engine.begin() as conn:
        ignored = store.ignored_fingerprints(conn, [d.fingerprint for d in result.drifts])
        drifts = [d for d in result.drifts if d.fingerprint not in ignored]
        store.record(conn, recon_id=recon_id, drifts=drifts)
        _mark(conn, result)
        closed = _close_unseen(conn, recon_id, result)
    return {
        "check": result.check,
        "connection": result.connection,
        "checked": result.checked,
        "found": len(drifts),
        "ignored": len(result.drifts) - len(drifts),
        "closed": len(closed),
        "closed_exceptions": sorted(closed),
        "unchecked": result.unchecked,
        "totals": result.totals,
    }


def _mark(conn: sa.Connection, result: checks.CheckResult) -> None:
    """Mark missing postings (with the entry an event retry posts), unmark found ones."""
    if result.missing:
        events = store.event_data(conn, [r.event_id for r in result.missing])
        by_kind: dict[str, dict[str, str | None]] = defaultdict(dict)
        for row in result.missing:
            _, data = events.get(row.event_id, ("", None))
            by_kind[row.kind][row.entry_id] = checks.entry_json(row.kind, row.entry_id, data)
        for kind, entries in by_kind.items():
            postings.mark_missing(
                conn,
                kind=kind,
                entries=entries,
                code=work.MISSING_CODE,
                detail={"found_missing_by": result.connection},
            )
    found: dict[str, list[str]] = defaultdict(list)
    for row in result.found_again:
        found[row.kind].append(row.entry_id)
    for kind, ids in found.items():
        postings.mark_found(conn, kind=kind, entry_ids=ids, code=work.MISSING_CODE)


def _close_unseen(conn: sa.Connection, recon_id: int, result: checks.CheckResult) -> set[int]:
    """Close the scope's open items this run did not find again; their exceptions' ids."""
    if result.close is None:
        return set()
    kind, name, values = result.close
    wanted = set(values)
    exception_ids: set[int] = set()
    for item in store.list_drift(conn, status=store.OPEN, kind=kind, limit=100_000):
        if item.last_recon_id == recon_id or getattr(item, name) not in wanted:
            continue
        status = store.RESOLVED
        if item.exception_id is not None:
            exception_ids.add(item.exception_id)
            _, retries = exceptions.retry_state(conn, id=item.exception_id)
            if retries:
                status = store.REPAIRED
        store.close(conn, id=item.id, status=status)
    return exception_ids


def resolve_closed(exception_ids: Sequence[int]) -> int:
    """Resolve the exceptions none of whose items is open any more; how many."""
    resolved = 0
    with stepkit.engine().begin() as conn:
        still = {i.exception_id for i in store.list_drift(conn, status=store.OPEN, limit=100_000)}
        for exception_id in sorted(set(exception_ids) - still):
            found = exceptions.get(conn, id=exception_id)
            if found is None or found.status is not exceptions.ExceptionStatus.OPEN:
                continue
            resolved += exceptions.auto_resolve(
                conn,
                dedupe_key=found.dedupe_key,
                resolution="reconciliation found the systems in agreement again",
            )
    return resolved


# ----------------------------------------------------------------------- exceptions
def _group(item: DriftItem) -> tuple[str, str]:
    """(dedupe key, business key) of the exception an item belongs to."""
    if item.code == "missing_in_erp":
        kind = item.detail.get("kind", "time")
        submission = item.detail.get("submission_id", "")
        # time-to-bill's key for a failure of this submission: its conclusion resolves it.
        return f"time_to_bill:{kind}:{submission}:{work.MISSING_CODE}", f"project:{item.project_id}"
    if item.project_id:
        return f"{FLOW}:{item.code}:{item.project_id}", f"project:{item.project_id}"
    if item.kind == "customer":
        return f"{FLOW}:{item.code}:{item.business_key}", f"customer:{item.business_key}"
    return f"{FLOW}:{item.code}:{item.connection}", f"connection:{item.connection}"


def _describe(item: DriftItem) -> dict[str, Any]:
    return {
        "drift_id": item.id,
        "code": item.code,
        "record_id": item.record_id,
        "key": item.business_key,
        "expected": str(item.expected) if item.expected is not None else None,
        "found": str(item.found) if item.found is not None else None,
        "currency": item.currency,
        **item.detail,
    }


def _amount(items: Sequence[DriftItem]) -> Money | None:
    currencies = {i.currency for i in items if i.currency}
    if len(currencies) != 1:
        return None
    total = sum((abs(i.difference or Decimal(0)) for i in items), Decimal(0))
    return Money.of(total, currencies.pop()) if total else None


def route(recon_id: int, report: dict[str, Any]) -> dict[str, int]:
    """One exception per group of this run's open items (module docstring)."""
    rules = stepkit.rules()
    opened = ignored = 0
    with stepkit.engine().begin() as conn:
        items = [
            i
            for i in store.list_drift(conn, recon_id=recon_id, status=store.OPEN, limit=100_000)
            if i.last_recon_id == recon_id
        ]
        groups: dict[tuple[str, str], list[DriftItem]] = defaultdict(list)
        for item in items:
            groups[_group(item)].append(item)
        for (dedupe_key, business_key), members in sorted(groups.items()):
            linked = {m.exception_id for m in members}
            only = linked.pop() if len(linked) == 1 else None
            current = exceptions.get(conn, id=only) if only is not None else None
            if current is not None:
                if current.status is exceptions.ExceptionStatus.IGNORED:
                    for m in members:
                        store.close(conn, id=m.id, status=store.IGNORED)
                    ignored += len(members)
                    continue
                listed = {d.get("drift_id") for d in current.detail.get("items", ())}
                if current.status is exceptions.ExceptionStatus.OPEN and listed == {
                    m.id for m in members
                }:
                    continue  # nothing new to tell its owner
            found = _open(
                conn,
                rules,
                dedupe_key=dedupe_key,
                business_key=business_key,
                members=members,
                report=report,
            )
            store.link_exception(conn, ids=[m.id for m in members], exception_id=found)
            opened += 1
    return {"exceptions": opened, "ignored": ignored}


def _open(
    conn: sa.Connection,
    rules: Rules,
    *,
    dedupe_key: str,
    business_key: str,
    members: Sequence[DriftItem],
    report: dict[str, Any],
) -> int:
    first = members[0]
    code, title, action = CODES[first.code]
    target = rules.route(code)
    system = first.connection or first.system or "the system"
    noun = {"time_expense": "entries", "xref": "records"}.get(first.kind, "")
    subject = first.project_id or first.business_key or first.connection or ""
    detail: dict[str, Any] = {
        "reconciliation": first.last_recon_id,
        "check": first.kind,
        "code": first.code,
        "connection": first.connection,
        "project_id": first.project_id,
        "items": [_describe(m) for m in members[:_LISTED]],
        "item_count": len(members),
        "action": action,
    }
    totals = [t for t in report.get("totals", ()) if t.get("project_id") == first.project_id]
    if totals:
        detail["totals"] = totals
    run_id = None
    if first.code == "missing_in_erp":
        run_id = first.detail.get("run_id")
        event = str(first.detail.get("event_id") or "")
        if run_id is None and event:
            run_id = store.event_data(conn, [event]).get(event, (None, None))[0]
        detail["repair"] = "retry"
        detail["retry"] = action
    count = f"{len(members)} {noun}".strip() if noun else ""
    found = exceptions.open_(
        conn,
        queue=target.queue.value,
        severity=target.severity.value,
        flow=FLOW,
        run_id=run_id,
        business_key=business_key,
        code=code,
        title=f"{subject}: {count + ' ' if count else ''}{title.format(system=system)}"[:500],
        detail=detail,
        amount=_amount(members),
        dedupe_key=dedupe_key,
    )
    return found.id
