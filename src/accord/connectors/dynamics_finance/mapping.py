"""Canonical postings as finance and operations journal lines, and the keys Accord owns.

Pure functions, no I/O. A posting's reference (:func:`posting_ref`) is what the line
carries so that what finance and operations holds can be found again: an hour line's
``TransactionID`` (which the posted project transaction keeps) and an expense line's
``Document``. Dates are date fields (``2026-09-01T12:00:00Z``), amounts JSON numbers.
"""

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from accord.connectors.dynamics_finance.config import DynamicsFinanceConfig
from accord.connectors.roles.erp import PostingTerms
from accord.connectors.roles.recon import held_date
from accord.domain import Expense, Money, ProjectStatus, TimeEntry

__all__ = [
    "date_day",
    "date_field",
    "dimension_display_value",
    "expense_line",
    "fo_key",
    "hour_line",
    "line_terms",
    "posting_ref",
    "resource_id",
    "stage_status",
    "status_stage",
]

REF_LENGTH = 20
"""``TransactionID`` and ``Document`` hold 20 characters."""


def posting_ref(key: str) -> str:
    """The reference of a posting key: ``AC`` + 18 base32 characters of its SHA-256."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode()
    return "AC" + digest[: REF_LENGTH - 2]


def fo_key(canonical_id: str, length: int = 20) -> str:
    """The F&O key Accord owns for a canonical id: readable and upper case when it fits.

    Keys compare case-insensitively in F&O, so they are upper-cased; ids too long or not
    plain ASCII become ``AC`` + hash characters.
    """
    readable = canonical_id.upper()
    if len(readable) <= length and readable.isascii() and " " not in readable:
        return readable
    digest = base64.b32encode(hashlib.sha256(canonical_id.encode()).digest()).decode()
    return "AC" + digest[: length - 2]


def date_day(value: object) -> dt.date | None:
    """The day of an F&O date field; ``None`` for the empty date (``1900-01-01``) or none."""
    return None if str(value).startswith("1900-01-01") else held_date(value)


def resource_id(canonical_id: str) -> str:
    """The F&O resource id of a canonical resource: its id upper-cased (``EMP-0007``)."""
    return canonical_id.upper()[:25]


def date_field(day: object) -> str:
    """A date as F&O's date fields carry it (midday UTC)."""
    text = day.isoformat() if hasattr(day, "isoformat") else str(day)
    return f"{text[:10]}T12:00:00Z"


def dimension_display_value(dimensions: Mapping[str, str], config: DynamicsFinanceConfig) -> str:
    """``DimensionDisplayValue`` in the integration format (``DATA-EMEA``); '' when none.

    Trailing empty segments are dropped, as the display value shows them.
    """
    by_name = {config.dimensions[k]: v for k, v in dimensions.items() if k in config.dimensions}
    segments = [by_name.get(name, "") for name in config.dimension_format]
    while segments and not segments[-1]:
        segments.pop()
    return config.dimension_delimiter.join(segments)


def _number(amount: Decimal) -> float:
    return float(amount)


def hour_line(
    entry: TimeEntry,
    *,
    journal: str,
    project: str,
    area: str,
    ref: str,
    dimensions: str,
    config: DynamicsFinanceConfig,
) -> dict[str, Any]:
    """An hour journal line for an approved time entry (already shaped for posting).

    Non-billable time carries the non-billable line property and a zero sales price.
    """
    billable = entry.billable and entry.bill_rate is not None
    line: dict[str, Any] = {
        "dataAreaId": area,
        "JournalId": journal,
        "TransactionID": ref,
        "ProjectID": project,
        "ProjectDate": date_field(entry.date),
        "Hours": _number(entry.hours),
        "Resource": resource_id(entry.resource_id),
        "ResourceCompanyId": area,
        "Category": config.hour_category,
        "LineProperty": (
            config.billable_line_property if billable else config.non_billable_line_property
        ),
        "SalesPrice": _number(entry.bill_rate.amount) if billable and entry.bill_rate else 0,
        "Description": (entry.notes or f"Time {entry.date.isoformat()}")[:60],
    }
    if billable and entry.bill_rate is not None:
        line["CurrencyId"] = entry.bill_rate.currency
    if dimensions:
        line["DimensionDisplayValue"] = dimensions
    return line


def expense_line(
    expense: Expense,
    *,
    journal: str,
    project: str,
    area: str,
    ref: str,
    dimensions: str,
    config: DynamicsFinanceConfig,
) -> dict[str, Any]:
    """A project expense journal line: one unit at the expense's amount.

    A non-billable expense carries the non-billable line property and no sales price.
    """
    amount = _number(expense.amount.amount)
    line: dict[str, Any] = {
        "dataAreaId": area,
        "JournalBatchNumber": journal,
        "ProjId": project,
        "ProjectDate": date_field(expense.date),
        "ProjectCategory": config.expense_categories[expense.category],
        "ProjectLineProperty": (
            config.billable_line_property if expense.billable else config.non_billable_line_property
        ),
        "ProjectCostQuantity": 1,
        "DebitAmount": amount,
        "ProjectSalesPrice": amount if expense.billable else 0,
        "CurrencyCode": expense.amount.currency,
        "Text": (expense.description or f"Expense {expense.date.isoformat()}")[:60],
        "Document": ref,
    }
    if expense.resource_id:
        line["Resource"] = resource_id(expense.resource_id)
    if dimensions:
        line["DimensionDisplayValue"] = dimensions
    return line


def line_terms(line: Mapping[str, Any], config: DynamicsFinanceConfig) -> PostingTerms:
    """A journal line (:func:`hour_line` or :func:`expense_line`) read back in canonical terms.

    F&O's own fields say what it books: hours and sales price, the line property, the
    category, the dimension segments in the integration format's order. A mapping that loses
    a value (a dimension the format does not carry, two categories on one F&O category)
    reads back as what F&O would hold, so a migration's diff shows it.
    """
    dimensions = _display_dimensions(str(line.get("DimensionDisplayValue") or ""), config)
    billable = line.get("LineProperty", line.get("ProjectLineProperty")) == (
        config.billable_line_property
    )
    day = date_day(line.get("ProjectDate")) or dt.date.min
    resource = str(line["Resource"]) if line.get("Resource") else None
    if "Hours" in line:
        hours = Decimal(str(line["Hours"]))
        price = Decimal(str(line.get("SalesPrice") or 0))
        currency = line.get("CurrencyId")
        amount = Money.of(hours * price, str(currency)) if billable and currency else None
        return PostingTerms(
            kind="time",
            erp_project=str(line.get("ProjectID")),
            date=day,
            resource_id=resource,
            hours=hours,
            amount=amount,
            billable=billable,
            dimensions=dimensions,
        )
    code = str(line.get("ProjectCategory"))
    named = [c.value for c, n in config.expense_categories.items() if n == code]
    return PostingTerms(
        kind="expense",
        erp_project=str(line.get("ProjId")),
        date=day,
        resource_id=resource,
        hours=None,
        amount=Money.of(Decimal(str(line["DebitAmount"])), str(line["CurrencyCode"])),
        billable=billable,
        category=named[0] if len(named) == 1 else code,
        dimensions=dimensions,
    )


def _display_dimensions(display: str, config: DynamicsFinanceConfig) -> dict[str, str]:
    """Canonical dimension -> value of a ``DimensionDisplayValue`` (empty segments left out)."""
    # Trailing empty segments are dropped from a display value: fewer values than names.
    values = display.split(config.dimension_delimiter)
    segments = dict(zip(config.dimension_format, values, strict=False))
    return {
        canonical: segments[name]
        for canonical, name in config.dimensions.items()
        if segments.get(name)
    }


def stage_status(stage: str, config: DynamicsFinanceConfig) -> ProjectStatus:
    """A project stage in canonical terms (a posting stage is active; see the module)."""
    if stage in config.posting_stages:
        return ProjectStatus.ACTIVE
    if stage == config.inactive_stage:
        return ProjectStatus.COMPLETED
    if stage == config.on_hold_stage:
        return ProjectStatus.ON_HOLD
    return ProjectStatus.PLANNED


def status_stage(status: ProjectStatus, config: DynamicsFinanceConfig) -> str:
    """The stage a project in ``status`` takes (see the module)."""
    return {
        ProjectStatus.ACTIVE: config.active_stage,
        ProjectStatus.COMPLETED: config.inactive_stage,
        ProjectStatus.CANCELLED: config.inactive_stage,
        ProjectStatus.ON_HOLD: config.on_hold_stage,
    }.get(status, config.planned_stage)
