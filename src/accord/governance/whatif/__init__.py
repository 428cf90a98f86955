"""What-if: journaled events replayed through a proposed rules version, writing nothing.

:func:`run_whatif` evaluates each event of a window under the rules version its run used and
under the proposal, and reports per record what would differ (:class:`WhatIfReport`). The
flows' own decision and posting code runs against connectors whose transport holds every
write back (:mod:`~accord.governance.whatif.dryrun`). Flows with a what-if: lead-to-project
(``opportunity.won``) and time-to-bill (``timesheet.approved``, ``expense.approved``); events
of other types are counted as skipped.
"""

from accord.governance.whatif.dryrun import DryRunTransport, HeldWrite, WriteRecorder, is_read
from accord.governance.whatif.report import (
    STATUSES,
    Outcome,
    RecordResult,
    RecordStatus,
    WhatIfReport,
    compare,
)
from accord.governance.whatif.run import MAX_EVENTS, evaluators, parse_since, run_whatif

__all__ = [
    "MAX_EVENTS",
    "STATUSES",
    "DryRunTransport",
    "HeldWrite",
    "Outcome",
    "RecordResult",
    "RecordStatus",
    "WhatIfReport",
    "WriteRecorder",
    "compare",
    "evaluators",
    "is_read",
    "parse_since",
    "run_whatif",
]
