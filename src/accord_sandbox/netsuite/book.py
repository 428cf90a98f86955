"""The NetSuite emulator's records: create, read, update, upsert, delete, list and SuiteQL rows.

:class:`RecordBook` keeps records in the shared :class:`~accord_sandbox.common.RecordStore` in a
stored form (references as ``{"id": "7"}``), indexes external ids per record type, hands out
numeric internal ids per id space (customers, projects and employees share the entity space;
invoices, sales orders, payments and expense reports share the transaction space, as in
NetSuite) and enforces the business rules of reference section 4.3: references must exist and
be active, postings must not fall in a closed period, a closed or inactive project takes no new
time; the OneWorld rules (shared customers, currency rates, intercompany journals) are
:mod:`accord_sandbox.netsuite.oneworld`'s. HTTP is not handled here;
:mod:`accord_sandbox.netsuite.app` is the only caller.
"""

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any

from accord_sandbox.common import RecordStore
from accord_sandbox.netsuite import delivery, oneworld
from accord_sandbox.netsuite.errors import (
    ACCESS_PREFIX,
    CLOSED_PERIOD_DETAIL,
    CLOSED_POSTING_PERIOD_DETAIL,
    DUPLICATE_DETAIL,
    MULTI_SUBSIDIARY_DISABLED_DETAIL,
    NetSuiteError,
)
from accord_sandbox.netsuite.filters import QueryFilterError, compile_filter
from accord_sandbox.netsuite.identity import ACCORD_CUSTOM_FIELDS, TRAN_PREFIX, natural_keys
from accord_sandbox.netsuite.records import (
    EID_PATTERN,
    EXPENSE_STATUS,
    FIRM_CUSTOM_FIELDS,
    INVOICE_STATUS,
    PAYMENT_STATUS,
    PROJECT_TASK_STATUS,
    RECORD_TYPES,
    SALES_ORDER_STATUS,
    VENDOR_BILL_STATUS,
    FieldNames,
    RecordType,
    decode_body,
)
from accord_sandbox.netsuite.records import ref_id as _ref_id
from accord_sandbox.netsuite.records import stored_money as _money

__all__ = ["RecordBook", "format_stamp"]

Record = dict[str, Any]
RECORD_PATH = "/services/rest/record/v1"
"""Path prefix of the record API (reference section 4.1)."""

_STATUS_NAMES: dict[str, dict[str, str]] = {
    "invoice": INVOICE_STATUS,
    "salesOrder": SALES_ORDER_STATUS,
    "customerPayment": PAYMENT_STATUS,
    "expenseReport": EXPENSE_STATUS,
    "vendorBill": VENDOR_BILL_STATUS,
    "projectTask": PROJECT_TASK_STATUS,
}
"""Read-only ``status`` select of each transaction type."""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


LINE_TABLE = "transactionline"
"""The SuiteQL table of transaction lines (expense lines, item lines)."""
_LINE_COLUMNS = (
    "transaction",
    "linesequencenumber",
    "id",
    "mainline",
    "entity",
    "foreignamount",
    "isbillable",
    "memo",
)
_LINE_CUSTOM_COLUMNS = frozenset(
    name for key, names in ACCORD_CUSTOM_FIELDS.items() if "." in key for name in names
)
"""The account's custom line (column) fields, exposed as columns of ``transactionline``."""


@lru_cache(maxsize=4096)
def _stamp_value(text: str) -> datetime:
    """A stored ``...Z`` stamp as SuiteQL compares it (naive, like NetSuite's).

    Cached: records written in one second share it.
    """
    return datetime.fromisoformat(text.removesuffix("Z"))


def _int_or_text(value: Any) -> Any:  # noqa: ANN401 - a stored reference id
    return int(value) if isinstance(value, str) and value.isdigit() else value


def format_stamp(moment: datetime) -> str:
    """A record timestamp as the REST API renders it ([inferred] ISO 8601, seconds, ``Z``).

    NetSuite keeps second precision, so pollers need an overlap window on lastmodifieddate.
    """
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Context:
    """What a validation needs besides the record: old version and whether it is new."""

    old: Record | None


class RecordBook:
    """Record operations with NetSuite's validation and business rules.

    Args:
        store: where records live (the emulator's store, so ``/__sandbox/records`` shows them).
        base_url: scheme and host used in ``links`` and ``Location``.
        clock: the current time, UTC-aware (injected so tests control ``lastModifiedDate``).
        period_closed: whether a subsidiary's period containing a YYYY-MM-DD day is closed.
    """

    def __init__(
        self,
        store: RecordStore,
        *,
        base_url: str,
        clock: Callable[[], datetime],
        period_closed: Callable[[str, str], bool],
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.clock = clock
        self.period_closed = period_closed
        self.closed_period_detail = CLOSED_PERIOD_DETAIL
        """Detail of a posting dated in a closed period (the reference asks for it configurable)."""
        self.closed_posting_period_detail = CLOSED_POSTING_PERIOD_DETAIL
        """Detail of a posting whose ``postingPeriod`` is closed."""
        self.next_ids: dict[str, int] = {}
        self.eids: dict[str, dict[str, str]] = {}
        self.applied: dict[str, dict[str, float]] = {}
        """invoice id -> payment id -> amount that payment applies to it."""
        self.custom_fields: dict[str, frozenset[str]] = {
            **ACCORD_CUSTOM_FIELDS,
            **{k: frozenset(v) for k, v in FIRM_CUSTOM_FIELDS.items()},
        }
        """Custom fields the account defines: record type (or ``type.sublist`` for column
        fields) -> field ids. Only these are accepted beside the standard fields."""
        self.multi_subsidiary_customer = True
        """The account's Multi-Subsidiary Customer feature (Setup > Company > Enable
        Features): off, a customer cannot be shared with a further subsidiary."""

    # ------------------------------------------------------------------ ids and lookups
    def clear(self) -> None:
        """Forget counters and indexes (the store is cleared by the emulator)."""
        self.next_ids.clear()
        self.eids.clear()
        self.applied.clear()

    def new_id(self, space: str) -> str:
        """The next internal id of an id space, as NetSuite's numeric-string ids."""
        n = self.next_ids.get(space, 1)
        self.next_ids[space] = n + 1
        return str(n)

    def url(self, type_name: str, record_id: str) -> str:
        """The record's canonical URL (``links`` self and ``Location``)."""
        return f"{self.base_url}{RECORD_PATH}/{type_name}/{record_id}"

    def resolve(self, rtype: RecordType, key: str) -> str:
        """The internal id named by ``key`` (``647`` or ``eid:CID001``).

        Raises:
            NetSuiteError: 404 when no such record exists.
        """
        rid = self.eids.get(rtype.name, {}).get(key[4:]) if key.startswith("eid:") else key
        if rid is None or self.store.get(rtype.name, rid) is None:
            raise NetSuiteError.not_found()
        return rid

    def find(self, targets: tuple[str, ...], record_id: str) -> tuple[str, Record] | None:
        """The record of one of ``targets`` with this internal id."""
        for name in targets:
            rec = self.store.get(name, record_id)
            if rec is not None:
                return name, rec
        return None

    def put(self, rtype: RecordType, rec: Record) -> None:
        """Store a record and index its external id (used by seeding too)."""
        self.store.put(rtype.name, rec["id"], rec)
        if rec.get("externalId"):
            self.eids.setdefault(rtype.name, {})[str(rec["externalId"])] = rec["id"]

    def rebuild(self) -> None:
        """Rebuild the external-id and payment indexes from the store (after a state load)."""
        self.eids.clear()
        self.applied.clear()
        for name, rtype in RECORD_TYPES.items():
            for rec in self.store.all(name):
                if rec.get("externalId"):
                    self.eids.setdefault(name, {})[str(rec["externalId"])] = rec["id"]
                if rtype.name == "customerPayment":
                    self._note_applications(rec)

    # ------------------------------------------------------------------ writes
    def decode(self, rtype: RecordType, body: object, names: str | None) -> Record:
        """``body`` in stored form; ``names`` is the ``X-NetSuite-PropertyNameValidation`` header.

        Raises:
            NetSuiteError: a malformed value, or an unknown property under ``Error``.
        """
        custom = FieldNames.from_header(names, self.custom_fields.get(rtype.name, frozenset()))
        lines = {
            sub: self.custom_fields.get(f"{rtype.name}.{sub}", frozenset())
            for sub in rtype.sublists
        }
        return decode_body(rtype, body, names=custom, custom_lines=lines)

    def create(
        self,
        rtype: RecordType,
        body: object,
        *,
        external_id: str | None = None,
        names: str | None = None,
    ) -> Record:
        """Validate and store a new record; the caller answers 204 + Location.

        Raises:
            NetSuiteError: validation, reference, period or duplicate-externalId refusal.
        """
        fields = self.decode(rtype, body, names)
        if external_id is not None:
            fields["externalId"] = external_id
        eid = fields.get("externalId")
        if eid and eid in self.eids.get(rtype.name, {}):
            raise NetSuiteError.user(DUPLICATE_DETAIL)
        rec: Record = {k: v for k, v in rtype.defaults.items() if k not in fields}
        rec.update(fields)
        self._complete(rtype, rec, _Context(old=None))
        rec["id"] = self.new_id(rtype.id_space)
        stamp = format_stamp(self.clock())
        rec["createdDate"] = rec["lastModifiedDate"] = stamp
        if rtype.tran_type and not rec.get("tranId"):
            rec["tranId"] = f"{TRAN_PREFIX[rtype.tran_type]}{int(rec['id']):06d}"
        if rtype.name in ("customer", "job") and not rec.get("entityId"):
            rec["entityId"] = self._entity_name(rec)
        self.put(rtype, rec)
        self._after_write(rtype, rec, None)
        return rec

    def update(
        self, rtype: RecordType, record_id: str, body: object, *, names: str | None = None
    ) -> Record:
        """PATCH semantics: given fields replace stored ones; a sent sublist replaces the sublist.

        Raises:
            NetSuiteError: as :meth:`create`.
        """
        old = self.store.get(rtype.name, record_id)
        if old is None:
            raise NetSuiteError.not_found()
        fields = self.decode(rtype, body, names)
        eid = fields.get("externalId")
        if eid and self.eids.get(rtype.name, {}).get(eid, record_id) != record_id:
            raise NetSuiteError.user(DUPLICATE_DETAIL)
        rec = {**old, **fields}
        self._complete(rtype, rec, _Context(old=old))
        rec["lastModifiedDate"] = format_stamp(self.clock())
        if old.get("externalId") and old.get("externalId") != rec.get("externalId"):
            self.eids.get(rtype.name, {}).pop(str(old["externalId"]), None)
        self.put(rtype, rec)
        self._after_write(rtype, rec, old)
        return rec

    def delete(self, rtype: RecordType, record_id: str) -> None:
        """Remove a record; postings in a closed period cannot be deleted.

        Raises:
            NetSuiteError: 404 or the closed-period refusal.
        """
        rec = self.store.get(rtype.name, record_id)
        if rec is None:
            raise NetSuiteError.not_found()
        if rtype.posting:
            self._check_period(rec)
        self.store.delete(rtype.name, record_id)
        if rec.get("externalId"):
            self.eids.get(rtype.name, {}).pop(str(rec["externalId"]), None)
        self._after_write(rtype, None, rec)

    def natural_key(self, rtype: RecordType, rec: Record) -> list[str]:
        """The identities duplicate counting compares (see :mod:`.identity`)."""
        return natural_keys(rtype, rec)

    # ------------------------------------------------------------------ validation
    def _complete(self, rtype: RecordType, rec: Record, ctx: _Context) -> None:
        """Fill defaults that depend on other records, then apply every rule."""
        self._require(rtype, rec)
        self._check_refs(rtype, rec, ctx)
        self._inherit(rtype, rec)
        self._check_scope(rtype, rec, ctx)
        if rtype.tran_type:
            rec.setdefault("tranDate", self.clock().date().isoformat())
        if rtype.sublists.keys() & {"item", "expense", "line"}:
            lines = (rec.get("item") or rec.get("expense") or rec.get("line") or {}).get(
                "items", []
            )
            if not lines:
                raise NetSuiteError.user(
                    ACCESS_PREFIX + "You must enter at least one line item for this transaction."
                )
        self._specific(rtype, rec, ctx)
        if rtype.posting:
            if ctx.old is not None:
                self._check_period(ctx.old)
            self._check_period(rec)

    def _require(self, rtype: RecordType, rec: Record) -> None:
        required = list(rtype.required)
        if rtype.name == "customer":
            # A person needs first and last names; a company needs its name.
            if rec.get("isPerson"):
                required += [("firstName", "First Name"), ("lastName", "Last Name")]
            else:
                required.append(("companyName", "Company Name"))
        for name, label in required:
            if rec.get(name) in (None, ""):
                # Observed wording (reference section 4.3).
                raise NetSuiteError.user(
                    f"{ACCESS_PREFIX}You must enter a value for {label}.", path=name
                )
        for sub_name, sub in rtype.sublists.items():
            for i, line in enumerate((rec.get(sub_name) or {}).get("items", [])):
                for name, label in sub.required:
                    if line.get(name) in (None, ""):
                        raise NetSuiteError.user(
                            f"{ACCESS_PREFIX}You must enter a value for {label}.",
                            path=f"{sub_name}.items[{i}]",
                        )

    def _check_ref(
        self,
        targets: tuple[str, ...],
        value: Any,  # noqa: ANN401 - stored reference or None
        field: str,
        path: str,
        *,
        changed: bool,
    ) -> Record | None:
        if not targets or not isinstance(value, dict):
            return None
        rid = str(value["id"])
        found = self.find(targets, rid)
        if found is None:
            raise NetSuiteError.invalid_ref(rid, field, path=path)
        # An inactive record may stay on old records but cannot be chosen anew.
        if changed and found[1].get("isInactive") is True:
            raise NetSuiteError.invalid_ref(rid, field, path=path)
        return found[1]

    def _check_refs(self, rtype: RecordType, rec: Record, ctx: _Context) -> None:
        old = ctx.old or {}
        for name, targets in rtype.refs.items():
            changed = rec.get(name) != old.get(name)
            self._check_ref(targets, rec.get(name), name, name, changed=changed)
        for sub_name, sub in rtype.sublists.items():
            old_lines = (old.get(sub_name) or {}).get("items", [])
            for i, line in enumerate((rec.get(sub_name) or {}).get("items", [])):
                prev = old_lines[i] if i < len(old_lines) else {}
                for name, targets in sub.refs.items():
                    # The error path names the line, as in the reference's example.
                    self._check_ref(
                        targets,
                        line.get(name),
                        name,
                        f"{sub_name}.items[{i}]",
                        changed=line.get(name) != prev.get(name),
                    )

    def _check_scope(self, rtype: RecordType, rec: Record, ctx: _Context) -> None:
        """Refuse a newly chosen list value not assigned to the record's subsidiary.

        Departments, classes, locations and items carry the subsidiaries they are assigned to
        (``subsidiary.items``); a value outside the record's subsidiary is refused like an
        unknown one, "Invalid Field Value X for the following field: F" (reference 4.3, whose
        composition for class/location/subsidiary it marks [inferred]).
        """
        sub_id = _ref_id(rec, "subsidiary")
        if sub_id is None:
            return
        old = ctx.old or {}
        checks: list[tuple[tuple[str, ...], Record, Record, str, str]] = [
            (targets, rec, old, name, name) for name, targets in rtype.refs.items()
        ]
        for sub_name, sub in rtype.sublists.items():
            old_lines = (old.get(sub_name) or {}).get("items", [])
            for i, line in enumerate((rec.get(sub_name) or {}).get("items", [])):
                prev = old_lines[i] if i < len(old_lines) else {}
                checks += [
                    (targets, line, prev, name, f"{sub_name}.items[{i}]")
                    for name, targets in sub.refs.items()
                ]
        for targets, holder, prev, name, path in checks:
            value_id = _ref_id(holder, name)
            if value_id is None or holder.get(name) == prev.get(name) or name == "subsidiary":
                continue
            found = self.find(targets, value_id) if targets else None
            allowed = (found[1].get("subsidiary") or {}) if found else {}
            if "items" in allowed and sub_id not in {str(s["id"]) for s in allowed["items"]}:
                raise NetSuiteError.invalid_ref(value_id, name, path=path)

    def _inherit(self, rtype: RecordType, rec: Record) -> None:
        """Default subsidiary and currency from the owning record, and refuse a mismatch.

        A customer takes its subsidiary's currency; a project its customer's subsidiary and
        currency; time and expenses their employee's subsidiary, department and class;
        transactions their entity's subsidiary and currency.
        """
        owner_field = {
            "customer": "subsidiary",
            "job": "parent",
            "timeBill": "employee",
            "expenseReport": "entity",
            "invoice": "entity",
            "salesOrder": "entity",
            "customerPayment": "customer",
            "vendorBill": "entity",
        }.get(rtype.name)
        if owner_field is None:
            return
        owner_id = _ref_id(rec, owner_field)
        found = self.find(rtype.refs[owner_field], owner_id) if owner_id else None
        if found is None:
            return
        owner = found[1]
        names = ["subsidiary", "currency"]
        if found[0] == "employee":
            # Time and expenses take the employee's department and class unless given.
            names += ["department", "class"]
        for name in names:
            if name not in rtype.refs or owner.get(name) is None:
                continue
            if rec.get(name) is None:
                rec[name] = {"id": _ref_id(owner, name)}
            elif name == "subsidiary" and (wanted := _ref_id(rec, name)) != _ref_id(owner, name):
                if found[0] == "customer" and oneworld.shared(self.store, owner, wanted):
                    continue
                # [inferred] The record must belong to its customer's / employee's subsidiary,
                # or to one its customer is shared with (Multi-Subsidiary Customer).
                raise NetSuiteError.invalid_ref(wanted, name)

    def _specific(self, rtype: RecordType, rec: Record, ctx: _Context) -> None:
        if delivery.check(self, rtype, rec):
            return
        if rtype.name == "customerSubsidiaryRelationship":
            if not self.multi_subsidiary_customer:
                raise NetSuiteError(400, "FEATURE_DISABLED", MULTI_SUBSIDIARY_DISABLED_DETAIL)
            oneworld.check_relationship(self.store, rec, ctx.old)
        elif rtype.name == "intercompanyJournalEntry":
            oneworld.check_intercompany(self.store, rec)
            self._check_period({**rec, "subsidiary": rec["toSubsidiary"]})
        elif rtype.name == "timeBill":
            self._check_time_job(rec, ctx)
        elif rtype.name == "expenseReport":
            self._check_expense_jobs(rec)
            total = sum(_money(x.get("amount")) for x in rec["expense"]["items"])
            rec["total"] = float(total)
            rec.setdefault("status", {"id": "F"})
        elif rtype.name in ("invoice", "salesOrder"):
            self._check_credit_hold(rec, ctx)
            total = Decimal(0)
            for line in rec["item"]["items"]:
                if line.get("amount") is None:
                    qty = _money(line.get("quantity", 1))
                    line["amount"] = float(qty * _money(line.get("rate")))
                total += _money(line["amount"])
            rec["subTotal"] = rec["total"] = float(total)
            if rtype.name == "invoice":
                self._refresh_invoice(rec)
            else:
                rec.setdefault("status", {"id": "B"})
        elif rtype.name == "customerPayment":
            self._check_applications(rec)
            rec.setdefault("status", {"id": "B"})

    def _check_time_job(self, rec: Record, ctx: _Context) -> None:
        job_id = _ref_id(rec, "customer")
        job = self.store.get("job", job_id) if job_id else None
        if job is None or (ctx.old is not None and _ref_id(ctx.old, "customer") == job_id):
            return
        # [inferred] A closed project, or one that does not allow time, refuses new time.
        if _ref_id(job, "entityStatus") == "1" or job.get("allowTime") is False:
            raise NetSuiteError.invalid_ref(job_id, "customer")

    def _check_expense_jobs(self, rec: Record) -> None:
        for i, line in enumerate(rec["expense"]["items"]):
            job_id = _ref_id(line, "customer")
            job = self.store.get("job", job_id) if job_id else None
            if job is not None and (
                job.get("allowExpenses") is False or _ref_id(job, "entityStatus") == "1"
            ):
                # Reference 4.5: "Allow Expenses" off refuses expense lines on the project.
                raise NetSuiteError.invalid_ref(job_id, "customer", path=f"expense.items[{i}]")

    def _check_credit_hold(self, rec: Record, ctx: _Context) -> None:
        if ctx.old is not None:
            return
        entity_id = _ref_id(rec, "entity")
        found = self.find(("customer", "job"), entity_id) if entity_id else None
        customer = found[1] if found else None
        if customer is not None and found is not None and found[0] == "job":
            parent_id = _ref_id(customer, "parent")
            customer = self.store.get("customer", parent_id) if parent_id else None
        if customer is not None and _ref_id(customer, "creditHoldOverride") == "ON":
            # [inferred] wording; credit hold "On" blocks new sales orders and invoices.
            raise NetSuiteError.user(ACCESS_PREFIX + "This customer is on credit hold.")

    def _check_applications(self, rec: Record) -> None:
        customer_id = _ref_id(rec, "customer")
        lines = (rec.get("apply") or {}).get("items", [])
        total = Decimal(0)
        for i, line in enumerate(lines):
            doc_id = _ref_id(line, "doc") or ""
            invoice = self.store.get("invoice", doc_id)
            if invoice is None:
                raise NetSuiteError.invalid_ref(doc_id, "doc", path=f"apply.items[{i}]")
            entity_id = _ref_id(invoice, "entity")
            owner = self.find(("customer", "job"), entity_id or "")
            owners = {entity_id, _ref_id(owner[1], "parent") if owner else None}
            if customer_id not in owners:
                raise NetSuiteError.invalid_ref(doc_id, "doc", path=f"apply.items[{i}]")
            line.setdefault("apply", True)
            if not line["apply"]:
                continue
            others = sum(v for k, v in self.applied.get(doc_id, {}).items() if k != rec.get("id"))
            remaining = _money(invoice.get("total")) - _money(others)
            if line.get("amount") is None:
                line["amount"] = float(remaining)
            if _money(line["amount"]) > remaining:
                raise NetSuiteError.user(
                    ACCESS_PREFIX + "The amount applied exceeds the amount due on the invoice.",
                    path=f"apply.items[{i}]",
                )
            total += _money(line["amount"])
        if total > _money(rec.get("payment")):
            raise NetSuiteError.user(
                ACCESS_PREFIX + "The total applied exceeds the payment amount.", path="apply"
            )

    def _check_period(self, rec: Record) -> None:
        sub_id = _ref_id(rec, "subsidiary")
        if sub_id is None:
            return
        period_id = _ref_id(rec, "postingPeriod")
        period = self.store.get("accountingPeriod", period_id) if period_id else None
        if period is not None and self.period_closed(sub_id, str(period["startDate"])):
            raise NetSuiteError.user(self.closed_posting_period_detail, path="postingPeriod")
        day = rec.get("tranDate")
        if day and self.period_closed(sub_id, str(day)):
            raise NetSuiteError.user(self.closed_period_detail, path="tranDate")

    # ------------------------------------------------------------------ payment effects
    def _note_applications(self, payment: Record) -> None:
        for line in (payment.get("apply") or {}).get("items", []):
            doc_id = _ref_id(line, "doc")
            if doc_id and line.get("apply", True):
                per_doc = self.applied.setdefault(doc_id, {})
                per_doc[payment["id"]] = per_doc.get(payment["id"], 0.0) + float(
                    line.get("amount") or 0
                )

    def _refresh_invoice(self, invoice: Record) -> None:
        paid = sum((_money(v) for v in self.applied.get(invoice.get("id", ""), {}).values()),
                   Decimal(0))  # fmt: skip
        remaining = _money(invoice.get("total")) - paid
        invoice["amountPaid"] = float(paid)
        invoice["amountRemaining"] = float(remaining)
        invoice["status"] = {"id": "B" if remaining <= 0 else "A"}

    def _after_write(self, rtype: RecordType, new: Record | None, old: Record | None) -> None:
        delivery.after_write(self, rtype, new, old)
        if rtype.name == "customer" and new is not None and old is None:
            # NetSuite keeps the primary subsidiary as a relationship record of its own.
            self.put(
                RECORD_TYPES["customerSubsidiaryRelationship"],
                {
                    "id": self.new_id("customerSubsidiaryRelationship"),
                    "entity": {"id": new["id"]},
                    "subsidiary": new.get("subsidiary"),
                    "isPrimarySub": True,
                    "primaryCurrency": new.get("currency"),
                    "createdDate": new["createdDate"],
                    "lastModifiedDate": new["lastModifiedDate"],
                },
            )
        if rtype.name != "customerPayment":
            return
        touched: set[str] = set()
        for rec in (old, new):
            for line in ((rec or {}).get("apply") or {}).get("items", []):
                touched.add(_ref_id(line, "doc") or "")
        pid = (new or old or {}).get("id", "")
        for per_doc in self.applied.values():
            per_doc.pop(pid, None)
        if new is not None:
            self._note_applications(new)
        stamp = format_stamp(self.clock())
        for doc_id in touched:
            invoice = self.store.get("invoice", doc_id)
            if invoice is not None:
                self._refresh_invoice(invoice)
                invoice["lastModifiedDate"] = stamp

    # ------------------------------------------------------------------ reads
    def _entity_name(self, rec: Record) -> str:
        if rec.get("companyName"):
            return str(rec["companyName"])
        return f"{rec.get('firstName', '')} {rec.get('lastName', '')}".strip()

    def ref_name(self, type_name: str, rec: Record) -> str | None:
        """The ``refName`` NetSuite shows for a reference to ``rec``."""
        rtype = RECORD_TYPES[type_name]
        if rtype.tran_type:
            return f"{rtype.label} #{rec.get('tranId', rec['id'])}"
        for key in ("entityId", "name", "periodName", "companyName"):
            if rec.get(key):
                return str(rec[key])
        return None

    def _ref_object(self, targets: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
        rid = str(value["id"])
        found = self.find(targets, rid) if targets else None
        if found is None:
            return {"id": rid}
        out: dict[str, Any] = {"id": rid}
        name = self.ref_name(found[0], found[1])
        if name is not None:
            out["refName"] = name
        out["links"] = [{"rel": "self", "href": self.url(found[0], rid)}]
        return out

    def _render_fields(
        self,
        rec: Record,
        refs: Any,  # noqa: ANN401 - Mapping of field -> target types
        selects: Any,  # noqa: ANN401 - Mapping of field -> options
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in rec.items():
            if value is None or key == "id":
                continue  # NetSuite leaves empty fields out of GET answers
            if key in refs and isinstance(value, dict):
                out[key] = self._ref_object(refs[key], value)
            elif isinstance(value, dict) and "id" in value:
                options = selects.get(key, {})
                entry = {"id": value["id"]}
                if str(value["id"]) in options:
                    entry["refName"] = options[str(value["id"])]
                out[key] = entry
            else:
                out[key] = value
        return out

    def render(self, rtype: RecordType, rec: Record, *, expand: bool = False) -> dict[str, Any]:
        """The GET body: ``links``, ``id``, fields, references as ``{id, refName, links}``."""
        self_url = self.url(rtype.name, rec["id"])
        plain = {k: v for k, v in rec.items() if k not in rtype.sublists}
        if rtype.name == "accountingPeriod":
            plain["closed"] = self._period_closed_everywhere(rec)
        selects = {**rtype.selects, **self._status_options(rtype)}
        out: dict[str, Any] = {"links": [{"rel": "self", "href": self_url}], "id": rec["id"]}
        out.update(self._render_fields(plain, rtype.refs, selects))
        for name in rtype.sublists:
            if name not in rec or rec[name] is None:
                continue
            if expand:
                out[name] = self.render_sublist(rtype, rec, name)
            else:
                out[name] = {"links": [{"rel": "self", "href": f"{self_url}/{name}"}]}
        return out

    def render_sublist(self, rtype: RecordType, rec: Record, name: str) -> dict[str, Any]:
        """A sublist as a collection (``expandSubResources`` or ``GET .../{id}/{sublist}``)."""
        sub = rtype.sublists[name]
        items = [
            {"links": [], **self._render_fields(line, sub.refs, {})}
            for line in (rec.get(name) or {}).get("items", [])
        ]
        href = f"{self.url(rtype.name, rec['id'])}/{name}"
        return {
            "links": [{"rel": "self", "href": href}],
            "items": items,
            "totalResults": len(items),
            "count": len(items),
            "hasMore": False,
            "offset": 0,
        }

    def _status_options(self, rtype: RecordType) -> dict[str, dict[str, str]]:
        return {"status": _STATUS_NAMES.get(rtype.name, {})}

    def _period_closed_everywhere(self, period: Record) -> bool:
        subs = [r["id"] for r in self.store.all("subsidiary")]
        return bool(subs) and all(self.period_closed(s, str(period["startDate"])) for s in subs)

    def page_ids(
        self, rtype: RecordType, q: str | None, offset: int, limit: int
    ) -> tuple[int, list[str]]:
        """Total matches and the ids of one page, in id order; O(page) when ``q`` is absent.

        Raises:
            NetSuiteError: 400 for a ``q`` that does not parse.
        """
        records = self.store.objects.get(rtype.name, {})
        if not q:
            return len(records), list(islice(records, offset, offset + limit))
        try:
            predicate = compile_filter(q)
        except QueryFilterError:
            raise NetSuiteError.bad_param(
                f"Invalid search query. The q parameter could not be parsed: {q}", query_param="q"
            ) from None
        ids = [rid for rid, rec in records.items() if predicate(rec)]
        return len(ids), ids[offset : offset + limit]

    # ------------------------------------------------------------------ SuiteQL rows
    def table_columns(self, table: str) -> list[str] | None:
        """The SuiteQL columns of a table, or None when the table is not emulated."""
        if table == LINE_TABLE:
            return [*_LINE_COLUMNS, *sorted(_LINE_CUSTOM_COLUMNS)]
        cols: list[str] = []
        for rtype in RECORD_TYPES.values():
            if rtype.table == table:
                # The account's custom fields are columns of the record's table as well.
                custom = [f.lower() for f in self.custom_fields.get(rtype.name, ())]
                cols += [c for c in [*rtype.columns(), *custom] if c not in cols]
        if table == "transaction" and "entity" not in cols:
            cols.append("entity")
        return cols or None

    def table_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Rows of a SuiteQL table with typed values (dates, stamps, numbers, ``T``/``F``)."""
        if table == LINE_TABLE:
            yield from self._line_rows()
            return
        for rtype in RECORD_TYPES.values():
            if rtype.table != table:
                continue
            for rec in self.store.all(rtype.name):
                yield self._row(rtype, rec)

    def _row(self, rtype: RecordType, rec: Record) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key, stored in rec.items():
            if key in rtype.sublists or stored is None:
                continue
            value: Any = stored
            if isinstance(stored, dict):
                value = stored.get("id")
                value = int(value) if isinstance(value, str) and value.isdigit() else value
            elif isinstance(stored, bool):
                value = "T" if stored else "F"
            elif key in rtype.dates:
                value = date.fromisoformat(str(stored))
            elif key in ("lastModifiedDate", "createdDate"):
                value = _stamp_value(str(stored))
            row[key.lower()] = value
        row["id"] = int(rec["id"])
        if not rtype.tran_type and "createddate" in row:
            row["datecreated"] = row.pop("createddate")
        if rtype.tran_type:
            row["type"] = rtype.tran_type
            row["foreigntotal"] = rec.get("total", rec.get("payment"))
            if "customer" in row:
                row["entity"] = row["customer"]
        if rtype.name == "accountingPeriod":
            row["closed"] = "T" if self._period_closed_everywhere(rec) else "F"
        return row

    def _line_rows(self) -> Iterator[dict[str, Any]]:
        """``transactionline``: one row per sublist line of every transaction.

        [inferred] column names, after SuiteQL's standard table: ``transaction``,
        ``linesequencenumber``, ``entity`` (the line's customer or project), ``foreignamount``,
        ``isbillable``, plus the account's custom line columns.
        """
        for rtype in RECORD_TYPES.values():
            if not rtype.tran_type:
                continue
            for rec in self.store.all(rtype.name):
                for sublist in rtype.sublists:
                    items = (rec.get(sublist) or {}).get("items") or ()
                    for number, line in enumerate(items, start=1):
                        entity = line.get("job") or line.get("customer") or {}
                        amount = line.get("amount")
                        row: dict[str, Any] = {
                            "transaction": int(rec["id"]),
                            "linesequencenumber": number,
                            "id": number,
                            "mainline": "F",
                            "entity": _int_or_text(entity.get("id")),
                            "foreignamount": Decimal(str(amount)) if amount is not None else None,
                            "isbillable": "T" if line.get("isBillable") else "F",
                            "memo": line.get("memo") or line.get("description"),
                        }
                        for custom in _LINE_CUSTOM_COLUMNS:
                            if line.get(custom) is not None:
                                row[custom] = line[custom]
                        yield row

    # ------------------------------------------------------------------ seeding
    def seed_period(self, month: str) -> Record:
        """An account-wide ``accountingPeriod`` for a YYYY-MM month (idempotent)."""
        eid = f"P-{month}"
        existing = self.eids.get("accountingPeriod", {}).get(eid)
        if existing is not None:
            return self.store.objects["accountingPeriod"][existing]
        year, mon = int(month[:4]), int(month[5:7])
        last = calendar.monthrange(year, mon)[1]
        stamp = format_stamp(self.clock())
        rec: Record = {
            "id": self.new_id("accountingPeriod"),
            "externalId": eid,
            "periodName": f"{_MONTHS[mon - 1]} {year}",
            "startDate": f"{month}-01",
            "endDate": f"{month}-{last:02d}",
            "isPosting": True,
            "isQuarter": False,
            "isYear": False,
            "isAdjust": False,
            "closed": False,
            "createdDate": stamp,
            "lastModifiedDate": stamp,
        }
        self.put(RECORD_TYPES["accountingPeriod"], rec)
        return rec

    def seed(self, type_name: str, fields: Record, *, record_id: str | None = None) -> Record:
        """Store a seeded (read-only) record as is, with timestamps; returns it."""
        rtype = RECORD_TYPES[type_name]
        stamp = format_stamp(self.clock())
        rec: Record = {
            "id": record_id or self.new_id(rtype.id_space),
            **fields,
            "createdDate": stamp,
            "lastModifiedDate": stamp,
        }
        if record_id is not None and record_id.isdigit():
            # Keep later generated ids of this space clear of the seeded ones.
            self.next_ids[rtype.id_space] = max(
                self.next_ids.get(rtype.id_space, 1), int(record_id) + 1
            )
        self.put(rtype, rec)
        return rec


def valid_eid(value: str) -> bool:
    """Whether an external id may be used in a URL (reference section 4.2)."""
    return EID_PATTERN.fullmatch(value) is not None
