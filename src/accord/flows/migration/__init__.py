"""ERP migrations per legal entity, as the runtime sees them: scheduled cut-overs.

A cut-over scheduled with ``accord migration cutover ENTITY --at TIME`` is made, once its time
has come, by a DBOS scheduled workflow (:mod:`.schedule`) that every worker registers; the
cut-over itself is :func:`accord.governance.migration.perform_due_cutovers`.
"""

from accord.flows.migration.schedule import cutover_tick, enable_migration_schedule

__all__ = ["cutover_tick", "enable_migration_schedule"]
