"""Customer master: CRM account changes reach the ERP according to field ownership.

ERP drift of CRM-owned fields is reverted or raised; merges are raised, never applied blindly.

Importing this package registers the ``customer_master`` workflow and its steps with DBOS
(its :mod:`.spec` names the package). See ``docs/flows/customer_master.md``.
"""

from accord.flows.customer_master.workflow import WORKFLOW, customer_master

__all__ = ["WORKFLOW", "customer_master"]
