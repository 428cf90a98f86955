"""NetSuite's rules for project tasks and vendor bills, as the emulator applies them.

- A **project task**'s ``actualWork`` is the time booked to it (``timeBill.caseTaskEvent``),
  ``remainingWork`` its estimate less that (never below zero) and ``percentWorkComplete`` the
  actual over the estimate, in percent, rounded to one place [inferred: NetSuite derives them
  from tracked time; the rounding is the sandbox's]. A parent task must be on the same project.
- A **vendor bill** takes its vendor's subsidiary and currency (see the book's ``_inherit``);
  its total is the sum of its expense lines; its status is Open once approved, Pending Approval
  before [inferred codes]; an expense line may not charge a closed project (as expense reports
  may not, reference 4.5).

HTTP and storage stay in :mod:`accord_sandbox.netsuite.book`, which calls :func:`check` before a
write is stored and :func:`after_write` after.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from accord_sandbox.netsuite.errors import NetSuiteError
from accord_sandbox.netsuite.records import RECORD_TYPES, RecordType

if TYPE_CHECKING:
    from accord_sandbox.netsuite.book import RecordBook

__all__ = ["after_write", "check"]

Record = dict[str, Any]
_CLOSED = "1"


def _ref(rec: Record, name: str) -> str | None:
    value = rec.get(name)
    return str(value["id"]) if isinstance(value, dict) and value.get("id") is not None else None


def _dec(value: Any) -> Decimal:  # noqa: ANN401 - a stored JSON number
    return Decimal(str(value or 0))


def check(book: "RecordBook", rtype: RecordType, rec: Record) -> bool:
    """Apply the rules of a project task or vendor bill; ``False`` for other record types."""
    if rtype.name == "projectTask":
        parent_id = _ref(rec, "parent")
        parent = book.store.get("projectTask", parent_id) if parent_id else None
        if parent is not None and (
            _ref(parent, "company") != _ref(rec, "company") or parent_id == rec.get("id")
        ):
            raise NetSuiteError.invalid_ref(parent_id, "parent")
        if _dec(rec.get("estimatedWork")) < 0:
            raise NetSuiteError.user(
                "Error while accessing a resource. Invalid Field Value for estimatedWork.",
                path="estimatedWork",
            )
        _progress(book, rec)
        return True
    if rtype.name == "vendorBill":
        total = Decimal(0)
        for i, line in enumerate(rec["expense"]["items"]):
            job_id = _ref(line, "customer")
            job = book.store.get("job", job_id) if job_id else None
            if job is not None and _ref(job, "entityStatus") == _CLOSED:
                raise NetSuiteError.invalid_ref(job_id, "customer", path=f"expense.items[{i}]")
            total += _dec(line.get("amount"))
        rec["total"] = float(total)
        approved = _ref(rec, "approvalStatus") in (None, "2")
        rec["status"] = {"id": "A" if approved else "D"}
        return True
    return False


def _progress(book: "RecordBook", task: Record) -> None:
    """Set a task's actual, remaining and percent-complete work from the time booked to it."""
    task_id = task.get("id")
    actual = sum(
        (
            _dec(bill.get("hours"))
            for bill in book.store.all("timeBill")
            if task_id is not None and _ref(bill, "caseTaskEvent") == task_id
        ),
        Decimal(0),
    )
    estimate = _dec(task.get("estimatedWork"))
    task["actualWork"] = float(actual)
    task["remainingWork"] = float(max(estimate - actual, Decimal(0)))
    percent = (actual * 100 / estimate).quantize(Decimal("0.1"), ROUND_HALF_UP) if estimate else 0
    task["percentWorkComplete"] = float(percent)


def after_write(
    book: "RecordBook", rtype: RecordType, new: Record | None, old: Record | None
) -> None:
    """Keep the tasks that time was booked to (or taken from) up to date."""
    if rtype.name != "timeBill":
        return
    tasks = {_ref(rec, "caseTaskEvent") for rec in (new, old) if rec is not None}
    for task_id in sorted(t for t in tasks if t):
        task = book.store.get("projectTask", task_id)
        if task is not None:
            _progress(book, task)
            book.put(RECORD_TYPES["projectTask"], task)
