"""Time-and-expense-to-bill: approved time and expenses post to the ERP exactly once.

Modules: :mod:`.settings` (the ``time_to_bill:`` section of ``accord.yaml``),
:mod:`.validation` (pure checks and the billable rule), :mod:`.erp` (cached ERP reads and the
NetSuite PUT), :mod:`.post` (posting units in parallel, classifying refusals), :mod:`.steps`
(the one posting step: ledger, lineage and exceptions), :mod:`.workflow` (the durable run)
and :mod:`.hold` (posting held entries when their period reopens). Importing the package
registers the workflows.
"""

from accord.flows.time_to_bill.hold import enable_hold_release, release_holds, release_tick
from accord.flows.time_to_bill.workflow import WORKFLOW, time_to_bill

__all__ = ["WORKFLOW", "enable_hold_release", "release_holds", "release_tick", "time_to_bill"]
