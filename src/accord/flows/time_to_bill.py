"""Time-and-expense-to-bill; it lives in :mod:`accord.flows.billing`.

This module is the stable import path the runtime registers ``timesheet.approved`` and
``expense.approved`` with (:data:`accord.flows.runtime.FLOW_MODULES`).
"""

from accord.flows.billing import (
    WORKFLOW,
    enable_hold_release,
    release_holds,
    release_tick,
    time_to_bill,
)

__all__ = ["WORKFLOW", "enable_hold_release", "release_holds", "release_tick", "time_to_bill"]
