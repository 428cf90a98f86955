"""What Business Central's rule modules share: refusals, blank values, numbering of invoices.

:mod:`.rules` (sales), :mod:`.delivery` (purchases, projects) and :mod:`.intercompany` refuse
business data the same way and read JSON values the same way; they import it from here, and
a new sales or purchase invoice is numbered and dated by one function.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from accord_sandbox.business_central.entities import BLANK_DATE, BLANK_GUID, ENTITY_SETS
from accord_sandbox.business_central.errors import BCError

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = [
    "DUE_DAYS",
    "VALIDATION",
    "blank",
    "dec",
    "find_by_id",
    "find_by_number",
    "invalid",
    "next_line_number",
    "number_and_date_invoice",
    "refuse_posted",
]

Record = dict[str, Any]

VALIDATION = "Application_FieldValidationException"
"""BC's code for refused business data: an AL ``Error()`` in validation (reference 5.2)."""
DUE_DAYS = 30  # [inferred] stands in for payment terms, which the sandbox does not model


def invalid(message: str) -> BCError:
    """A 400 ``Application_FieldValidationException`` saying ``message``."""
    return BCError(400, VALIDATION, message)


def dec(value: Any) -> Decimal:  # noqa: ANN401 - a JSON number
    """A JSON number (``None`` or blank: zero) as a ``Decimal``."""
    return Decimal(str(value or 0))


def blank(value: Any) -> bool:  # noqa: ANN401 - a JSON value
    """Whether ``value`` is unset as BC shows it: null, empty, the blank GUID or date."""
    return value in (None, "", BLANK_GUID, BLANK_DATE)


def refuse_posted(invoice: Record, kind: str) -> None:
    """Refuse a change to a ``kind`` (sales, purchase) invoice that is no longer a draft."""
    if invoice.get("status") != "Draft":
        raise invalid(f"The {kind} invoice {invoice['number']} is posted and cannot be changed.")


def next_line_number(siblings: Iterable[Record], field: str = "lineNumber") -> int:
    """BC's line numbering: 10000 past the highest ``field`` of the sibling lines."""
    return max((int(r.get(field) or 0) for r in siblings), default=0) + 10000


def _not_found(label: str, identification: str) -> BCError:
    return BCError(
        404,
        "Internal_RecordNotFound",
        f"The {label} does not exist. Identification fields and values: {identification}",
    )


def find_by_id(
    emu: "BusinessCentralEmulator",
    cid: str,
    set_name: str,
    label: str,
    record_id: object,
    *,
    key: str,
) -> Record:
    """The record stored as ``key`` in company ``cid``, or BC's 404 naming ``record_id``."""
    found = emu.store.get(set_name, key)
    if found is None or found.get("_companyId") != cid:
        raise _not_found(label, f"Id='{record_id}'")
    return found


def find_by_number(
    emu: "BusinessCentralEmulator", cid: str, set_name: str, label: str, number: object
) -> Record:
    """The record numbered ``number`` in company ``cid``, or BC's 404 naming the number."""
    found = emu.find_by(ENTITY_SETS[set_name], cid, "number", str(number)) if number else None
    if found is None:
        raise _not_found(label, f"No.='{number}'")
    return found


def number_and_date_invoice(
    emu: "BusinessCentralEmulator",
    cid: str,
    rec: Record,
    *,
    creating: bool,
    series: str,
    start: int,
) -> None:
    """Number a new invoice (a draft) from ``series``; default its invoice, posting, due dates.

    The invoice date defaults to the work date on create, the posting date to the invoice
    date, the due date to :data:`DUE_DAYS` after it.
    """
    if creating:
        rec["number"] = emu.next_number(cid, series, start=start, width=6)
        rec["status"] = "Draft"
        if blank(rec.get("invoiceDate")):
            rec["invoiceDate"] = emu.today()
    if blank(rec.get("postingDate")):
        rec["postingDate"] = rec["invoiceDate"]
    if blank(rec.get("dueDate")):
        rec["dueDate"] = emu.days_after(rec["invoiceDate"], DUE_DAYS)
