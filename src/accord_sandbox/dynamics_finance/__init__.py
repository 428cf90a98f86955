"""Dynamics 365 Finance emulator: OData data entities under ``/data/`` with Entra ID auth.

See ``docs/sandbox/dynamics_finance.md`` for the endpoints and the Dynamics 365 Finance
section of ``docs/connectors.md`` for the behaviour it follows and what is [inferred].
"""

from accord_sandbox.dynamics_finance.emulator import (
    CONCURRENCY_LIMIT,
    DEFAULT_PAGE_SIZE,
    DynamicsFinanceEmulator,
)
from accord_sandbox.dynamics_finance.entities import ENTITY_SETS
from accord_sandbox.dynamics_finance.rules import (
    DIMENSION_DELIMITER,
    DIMENSIONS,
    EXPENSE_CATEGORIES,
    HOUR_CATEGORIES,
    JOURNAL_NAMES,
    LINE_PROPERTIES,
    POSTING_STAGES,
)

__all__ = [
    "CONCURRENCY_LIMIT",
    "DEFAULT_PAGE_SIZE",
    "DIMENSIONS",
    "DIMENSION_DELIMITER",
    "ENTITY_SETS",
    "EXPENSE_CATEGORIES",
    "HOUR_CATEGORIES",
    "JOURNAL_NAMES",
    "LINE_PROPERTIES",
    "POSTING_STAGES",
    "DynamicsFinanceEmulator",
]
