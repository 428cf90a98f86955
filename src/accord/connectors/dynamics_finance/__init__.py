"""Dynamics 365 Finance (ERP) over OData data entities with Entra ID client credentials.

Objects: ``CustomersV3``, ``ProjectContractHeaders``, ``Projects``, on-account (milestone)
transactions, hour and project expense journals and their lines (posted with
``PostJournal``), posted project transactions, sales and free text invoices, customer
payment journals, and reference data (resources, fiscal periods, dimension values,
currencies, legal entities). Company-specific entities are read with ``cross-company=true``
and a ``dataAreaId`` filter; ids are key predicates. Idempotency: natural keys and
verify-before-create on a reference field; ``$batch`` changesets for all-or-nothing writes.
See the Dynamics 365 Finance section of ``docs/connectors.md``.
"""

from accord.connectors.dynamics_finance.batch import BatchRequest, BatchResponse
from accord.connectors.dynamics_finance.config import DynamicsFinanceConfig, scope_for
from accord.connectors.dynamics_finance.connector import (
    MAX_PAGE_SIZE,
    RESOURCES,
    DynamicsFinanceConnector,
    FinResource,
    odata_string,
)
from accord.connectors.dynamics_finance.errors import FinErrorBody, parse_error, refusal_reason

__all__ = [
    "MAX_PAGE_SIZE",
    "RESOURCES",
    "BatchRequest",
    "BatchResponse",
    "DynamicsFinanceConfig",
    "DynamicsFinanceConnector",
    "FinErrorBody",
    "FinResource",
    "odata_string",
    "parse_error",
    "refusal_reason",
    "scope_for",
]
