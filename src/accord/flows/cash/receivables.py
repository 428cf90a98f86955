"""The CRM status a customer's receivables mean.

The CRM's receivable fields are written as absolute values computed from the ERP's current
state (never incremented per event): steps are at-least-once and events may arrive out of
order, so only a recomputation from the source of truth is idempotent. The ERP role reads
the receivables (:meth:`~accord.connectors.roles.Erp.receivables`); this module says what
they mean to sales.
"""

from accord.connectors.roles import Receivables, ReceivableStatus

__all__ = ["ar_status"]


def ar_status(items: Receivables) -> ReceivableStatus:
    """How a customer's receivables stand, for its CRM account.

    ``overdue`` when anything open is past due; ``paid`` when invoices were posted and
    nothing is due; else ``current``. It depends on the ERP's state only, never on which event
    asked: runs about different invoices may finish in any order.
    """
    if items.overdue > 0:
        return ReceivableStatus.OVERDUE
    if items.balance == 0 and items.posted > 0:
        return ReceivableStatus.PAID
    return ReceivableStatus.CURRENT
