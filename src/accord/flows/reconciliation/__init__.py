"""Reconciliation: prove that the CRM, the PSA and the ERP still agree with what Accord wrote.

Runs compare, in bulk and read-only, time and expense (approved in the PSA = Accord's ledger =
posted in the ERP = invoiced), contracts (the CRM's deal = the PSA's budget and dates = the
ERP's project and billing plan), customers (the fields the CRM owns) and cross-references;
every disagreement is a drift item (:mod:`accord.store.reconciliation`) and an exception in
its owner's queue, with a repair where one is safe. See ``docs/reconciliation.md``.

Modules: :mod:`.settings` (the ``reconciliation:`` section), :mod:`.universe` (what Accord
wrote), :mod:`.checks` (reads), :mod:`.work` and :mod:`.terms` (pure comparisons),
:mod:`.routing` (drift items, ledger marks, exceptions), :mod:`.workflow` (runs, schedule).
Importing this package registers the workflows with DBOS.
"""

from accord.flows.reconciliation.workflow import (
    QUEUE,
    WORKFLOW,
    enable_reconciliation,
    enqueue,
    reconciliation,
    run_here,
    start_run,
)

__all__ = [
    "QUEUE",
    "WORKFLOW",
    "enable_reconciliation",
    "enqueue",
    "reconciliation",
    "run_here",
    "start_run",
]
