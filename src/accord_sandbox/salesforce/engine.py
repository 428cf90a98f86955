"""The emulated org's data layer: typed writes, validation, derived fields, rollback.

Records are kept in the common :class:`~accord_sandbox.common.RecordStore` in their API shape
(dates ``YYYY-MM-DD``, datetimes ``2026-01-05T10:00:00.000+0000``, numbers as JSON numbers).
Deleted records stay, flagged ``IsDeleted``, so that ``queryAll`` can answer them. Every failure
is an :class:`SfError` carrying the HTTP status and Salesforce ``errorCode``; turning it into a
response (and counting stats) is ``app.py``'s job, so composite and collections reuse this code.
"""

import calendar
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from accord_sandbox.common import RecordStore, business_key
from accord_sandbox.salesforce.ids import IdFactory, is_well_formed, to_18
from accord_sandbox.salesforce.schema import (
    NUMBER_TYPES,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    Schema,
    read_value,
)
from accord_sandbox.salesforce.soql import parse_datetime

__all__ = ["BUSINESS_IDENTITY", "Engine", "MultipleMatchesError", "SfError", "format_datetime"]

Record = dict[str, Any]
NOT_FOUND_MESSAGE = "The requested resource does not exist"
BUSINESS_IDENTITY: dict[str, tuple[str, ...]] = {
    "pse__Proj__c": ("pse__Account__c", "Name"),
    "pse__Milestone__c": ("pse__Project__c", "Name"),
    "pse__Billing_Event__c": (
        "pse__Project__c",
        "pse__Invoice_Number__c",
        "pse__Summary_Amount__c",
    ),
    "pse__Assignment__c": ("pse__Project__c", "pse__Resource__c", "pse__Schedule__c"),
}
"""Fields that make two records one business fact, by object (issue 21, deliver 6)."""

# [inferred] the standard stage defaults of a new org.
_STAGE_PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 10,
    "Needs Analysis": 20,
    "Value Proposition": 50,
    "Id. Decision Makers": 60,
    "Perception Analysis": 70,
    "Proposal/Price Quote": 75,
    "Negotiation/Review": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SfError(Exception):
    """One Salesforce error: status, ``errorCode``, message and the fields concerned."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        """The REST error body: ``[{"message", "errorCode", "fields"}]``."""
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def collection_error(self) -> dict[str, Any]:
        """The error as sObject collections report it (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class MultipleMatchesError(SfError):
    """An external id matched several records (HTTP 300); ``ids`` lists them."""

    def __init__(self, obj: str, ids: list[str]) -> None:
        super().__init__(300, "MULTIPLE_CHOICES", f"More than one record found for {obj}")
        self.obj = obj
        self.ids = ids


def format_datetime(value: datetime) -> str:
    """Salesforce's datetime format: milliseconds and a ``+0000`` offset."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def not_found() -> SfError:
    """The platform's 404."""
    return SfError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


class Engine:
    """Reads and writes of the emulated org, with savepoints for allOrNone."""

    def __init__(
        self,
        schema: Schema,
        store: RecordStore,
        ids: IdFactory,
        clock: Callable[[], datetime],
        user_id: str,
    ) -> None:
        self.schema = schema
        self.store = store
        self.ids = ids
        self.clock = clock
        self.user_id = user_id
        self.lock_rows = 0
        """Writes still to refuse with UNABLE_TO_LOCK_ROW (the lock_rows control knob)."""
        self.autonumbers: dict[str, int] = {}
        self.journal: list[tuple[str, str, Record | None]] | None = None
        self._index: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )

    # ------------------------------------------------------------------ indexes and journal
    def rebuild_index(self) -> None:
        """Re-index external-id fields after the store was loaded or cleared."""
        self._index.clear()
        for o in self.schema.objects.values():
            for rec in self.store.all(o.name):
                self._reindex(o, None, rec)

    def _reindex(self, o: ObjectDef, old: Record | None, new: Record | None) -> None:
        for f in o.fields.values():
            if not f.external_id:
                continue
            idx = self._index[(o.name, f.name)]
            if old is not None and old.get(f.name) is not None and not old.get("IsDeleted"):
                idx[str(old[f.name]).lower()].discard(old["Id"])
            if new is not None and new.get(f.name) is not None and not new.get("IsDeleted"):
                idx[str(new[f.name]).lower()].add(new["Id"])

    def _put(self, o: ObjectDef, rec: Record) -> None:
        prev = self.store.get(o.name, rec["Id"])
        if self.journal is not None:
            self.journal.append((o.name, rec["Id"], dict(prev) if prev is not None else None))
        self._reindex(o, prev, rec)
        self.store.put(o.name, rec["Id"], rec)

    def begin(self) -> tuple[bool, int]:
        """Open a savepoint; the token goes back to :meth:`finish`."""
        outer = self.journal is None
        if self.journal is None:
            self.journal = []
        return outer, len(self.journal)

    def finish(self, token: tuple[bool, int], *, rollback: bool) -> None:
        """Close a savepoint, undoing every write since it when ``rollback`` is set."""
        outer, mark = token
        journal = self.journal or []
        if rollback:
            for obj, record_id, prev in reversed(journal[mark:]):
                o = self.schema.objects[obj]
                current = self.store.get(obj, record_id)
                self._reindex(o, current, prev)
                if prev is None:
                    self.store.delete(obj, record_id)
                else:
                    self.store.put(obj, record_id, prev)
            del journal[mark:]
        if outer:
            self.journal = None

    # ------------------------------------------------------------------ reads
    def sobject(self, name: str) -> ObjectDef:
        """An object by name; unknown ones answer the platform's 404."""
        o = self.schema.get(name)
        if o is None:
            raise not_found()
        return o

    def lookup(self, obj: str, record_id: str) -> Record | None:
        """A live (not deleted) record, or None; used by SOQL relationship paths."""
        if not record_id or not is_well_formed(record_id):
            return None
        rec = self.store.get(obj, to_18(record_id))
        return None if rec is None or rec.get("IsDeleted") else rec

    def get(self, o: ObjectDef, raw_id: str) -> Record:
        """One live record by id (MALFORMED_ID, NOT_FOUND or ENTITY_IS_DELETED otherwise)."""
        if not is_well_formed(raw_id):
            raise SfError(
                400, "MALFORMED_ID", f"{o.label} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        rec = self.store.get(o.name, to_18(raw_id))
        if rec is None:
            raise not_found()
        if rec.get("IsDeleted"):
            raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return rec

    def by_external(self, o: ObjectDef, f: FieldDef, value: str) -> list[Record]:
        """Live records whose external id equals ``value`` (case-insensitively, as the platform)."""
        if f.type == "id":
            rec = self.lookup(o.name, value)
            return [rec] if rec is not None else []
        ids = sorted(self._index[(o.name, f.name)].get(value.lower(), set()))
        return [r for i in ids if (r := self.store.get(o.name, i)) is not None]

    def ext_field(self, o: ObjectDef, name: str) -> FieldDef:
        """The field named in an external-id URL; it must be ``Id`` or flagged External ID."""
        f = o.field(name)
        if f is None or not (f.external_id or f.type == "id"):
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return f

    def render(
        self, o: ObjectDef, rec: Record, version: str, fields: list[str] | None = None
    ) -> Record:
        """A record as ``GET /sobjects/{X}/{id}`` answers it."""
        out: Record = {
            "attributes": {
                "type": o.name,
                "url": f"/services/data/v{version}/sobjects/{o.name}/{rec['Id']}",
            }
        }
        if fields is None:
            chosen = list(o.fields.values())
        else:
            chosen = []
            for name in fields:
                f = o.field(name)
                if f is None:
                    raise SfError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{o.name}'. If you are attempting to "
                        "use a custom field, be sure to append the '__c' after the custom field "
                        "name. Please reference your WSDL or the describe call for the "
                        "appropriate names.",
                    )
                chosen.append(f)
        for f in chosen:
            out[f.name] = read_value(f, rec)
        return out

    def natural_key(self, o: ObjectDef, rec: Record) -> list[str]:
        """The identities duplicate counting compares (see ``accord_sandbox.common``).

        The first external id set on the record, and the business identity of
        :data:`BUSINESS_IDENTITY` (issue 21): the fields that make two records one business
        fact whatever their external ids.
        """
        keys: list[str] = []
        for f in o.fields.values():
            if f.external_id and rec.get(f.name) not in {None, ""}:
                keys.append(f"eid:{f.name}={str(rec[f.name]).lower()}")
                break
        fields = BUSINESS_IDENTITY.get(o.name)
        if fields is not None:
            key = business_key(*(rec.get(name) for name in fields))
            if key is not None:
                keys.append(key)
        return keys

    # ------------------------------------------------------------------ writes
    def _take_lock(self, record_id: str | None) -> None:
        if self.lock_rows > 0:
            self.lock_rows -= 1
            suffix = f": {record_id}" if record_id else ""
            raise SfError(
                400,
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records{suffix}",
            )

    def create(self, o: ObjectDef, body: Record) -> Record:
        """Insert one record; returns it as stored."""
        self._take_lock(None)
        values = self._clean(o, body, creating=True)
        for f in o.fields.values():
            if f.name not in values and f.createable and f.default is not None:
                values[f.name] = f.default
        missing = [
            f.name for f in o.fields.values() if f.required and values.get(f.name) in {None, ""}
        ]
        if missing:
            raise _required(missing)
        now = format_datetime(self.clock())
        rec: Record = {"Id": self.ids.next(o.prefix), "IsDeleted": False}
        if "OwnerId" in o.fields:
            rec["OwnerId"] = self.user_id
        rec.update(values)
        rec.update(
            CreatedDate=now,
            CreatedById=self.user_id,
            LastModifiedDate=now,
            LastModifiedById=self.user_id,
            SystemModstamp=now,
        )
        if "CurrencyIsoCode" in o.fields and rec.get("CurrencyIsoCode") is None:
            rec["CurrencyIsoCode"] = "USD"
        for f in o.fields.values():
            if f.auto_number is not None:
                n = self.autonumbers.get(f"{o.name}.{f.name}", 0) + 1
                self.autonumbers[f"{o.name}.{f.name}"] = n
                rec[f.name] = _auto_number(f.auto_number, n)
        self._rules(o, rec, None)
        self._derive(o, rec, None, set(values))
        self._check_unique(o, rec)
        self._put(o, rec)
        self._after_write(o, rec)
        return rec

    def update(self, o: ObjectDef, raw_id: str, body: Record) -> Record:
        """Partially update one record; returns it as stored."""
        current = self.get(o, raw_id)
        self._take_lock(current["Id"])
        body = {
            k: v
            for k, v in body.items()
            if not (k == "Id" and v and to_18(str(v)) == current["Id"])
        }
        values = self._clean(o, body, creating=False)
        missing = [
            name for name, v in values.items() if v in {None, ""} and o.fields[name].required
        ]
        if missing:
            raise _required(missing)
        rec = {**current, **values}
        now = format_datetime(self.clock())
        rec.update(LastModifiedDate=now, LastModifiedById=self.user_id, SystemModstamp=now)
        self._rules(o, rec, current)
        self._derive(o, rec, current, set(values))
        self._check_unique(o, rec)
        self._put(o, rec)
        self._after_write(o, rec)
        return rec

    def delete(self, o: ObjectDef, raw_id: str) -> Record:
        """Move one record to the recycle bin (it stays visible to ``queryAll``)."""
        current = self.get(o, raw_id)
        self._take_lock(current["Id"])
        if o.name == "pse__Billing_Event__c" and current.get("pse__Invoiced__c"):
            # Reference section 2: orgs forbid deleting invoiced billing events.
            raise SfError(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "You cannot delete this Billing Event as it has already been invoiced.",
            )
        now = format_datetime(self.clock())
        rec = {**current, "IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now}
        self._put(o, rec)
        self._after_write(o, rec)
        return rec

    def merge(self, master_raw: str, loser_raw: str) -> Record:
        """Merge one account into another, as the UI (or SOAP ``merge()``) does; returns the master.

        [inferred] (not in the reference, whose REST API has no merge): the loser's
        opportunities, contacts and child accounts are re-pointed to the master, the loser gets
        ``MasterRecordId`` and goes to the recycle bin (``queryAll`` still answers it), and the
        master is saved (a new ``SystemModstamp``).
        """
        o = self.schema.objects["Account"]
        master = self.get(o, master_raw)
        loser = self.get(o, loser_raw)
        if master["Id"] == loser["Id"]:
            raise SfError(400, "INVALID_OPERATION", "Cannot merge a record with itself", [])
        for name, field_name in (
            ("Opportunity", "AccountId"),
            ("Contact", "AccountId"),
            ("Account", "ParentId"),
        ):
            for rec in self.store.all(name):
                pointed = rec.get(field_name) == loser["Id"] and not rec.get("IsDeleted")
                if pointed and rec["Id"] != master["Id"]:
                    self.update(self.schema.objects[name], rec["Id"], {field_name: master["Id"]})
        self._put(o, {**loser, "MasterRecordId": master["Id"]})
        self.delete(o, loser["Id"])
        return self.update(o, master["Id"], {})

    def upsert(
        self, o: ObjectDef, field_name: str, value: str, body: Record, *, update_only: bool = False
    ) -> tuple[Record, bool]:
        """Create or update by external id; returns the record and whether it was created."""
        f = self.ext_field(o, field_name)
        body = dict(body)
        for key in [k for k in body if k.lower() == f.name.lower()]:
            if str(body.pop(key)).lower() != value.lower():
                # [inferred] the platform refuses a body whose external id contradicts the URL.
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"The external ID field value in the body does not match the URL: {f.name}",
                    [f.name],
                )
        matches = self.by_external(o, f, value)
        if len(matches) > 1:
            raise MultipleMatchesError(o.name, [r["Id"] for r in matches])
        if matches:
            return self.update(o, matches[0]["Id"], body), False
        if update_only or f.type == "id":
            raise not_found()
        return self.create(o, {**body, f.name: value}), True

    # ------------------------------------------------------------------ validation
    def _clean(self, o: ObjectDef, body: Record, *, creating: bool) -> Record:
        """Check names, access and types of the body's fields; returns API names to values."""
        values: Record = {}
        refused: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = o.field(key)
            if f is None:
                rel = o.relationship(key)
                if rel is not None and isinstance(raw, dict):
                    values[rel.name] = self._resolve_parent(rel, raw)
                    continue
                raise SfError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {o.name}", []
                )
            if not (f.createable if creating else f.updateable):
                refused.append(f.name)
                continue
            values[f.name] = self._coerce(f, raw)
        if refused:
            raise SfError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                refused,
            )
        return values

    def _resolve_parent(self, rel: FieldDef, ref: Record) -> str:
        """``"Account": {"Accord_Id__c": "X"}`` in a body: the parent found by its external id."""
        target = self.sobject(rel.reference_to[0])
        keys = [k for k in ref if k != "attributes"]
        if len(keys) != 1:
            raise SfError(
                400,
                "INVALID_FIELD",
                "A foreign key reference needs exactly one external ID field: "
                f"{rel.relationship_name}",
            )
        f = self.ext_field(target, keys[0])
        value = str(ref[keys[0]])
        matches = self.by_external(target, f, value)
        if len(matches) != 1:
            word = "not found" if not matches else "matched more than one record"
            raise SfError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} {word} for field {f.name} "
                f"in entity {target.name}",
                [],
            )
        return str(matches[0]["Id"])

    def _coerce(self, f: FieldDef, raw: Any) -> Any:  # noqa: ANN401, PLR0911, PLR0912 - one branch per type
        if raw is None:
            return None
        if f.type in TEXT_TYPES:
            if isinstance(raw, (dict, list)):
                raise _parse_error(f, raw)
            text = str(raw).lower() if isinstance(raw, bool) else str(raw)
            limit = f.length or 255
            if len(text) > limit:
                raise SfError(
                    400,
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {text[:40]} (max length={limit})",
                    [f.name],
                )
            if f.type == "email" and text and ("@" not in text or " " in text):
                raise SfError(
                    400,
                    "INVALID_EMAIL_ADDRESS",
                    f"{f.label}: invalid email address: {text}",
                    [f.name],
                )
            if f.type == "picklist" and f.restricted and text and text not in f.picklist:
                raise SfError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text
        if f.type == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in {"true", "false"}:
                return raw.lower() == "true"
            raise _parse_error(f, raw)
        if f.type in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise _parse_error(f, raw)
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise _parse_error(f, raw) from None
            return int(number) if f.type == "int" else number
        if f.type == "date":
            try:
                return date.fromisoformat(str(raw)).isoformat()
            except ValueError:
                raise _parse_error(f, raw) from None
        if f.type == "datetime":
            try:
                return format_datetime(parse_datetime(str(raw)))
            except ValueError:
                raise _parse_error(f, raw) from None
        if f.type == "reference":
            return self._check_reference(f, raw)
        return raw

    def _check_reference(self, f: FieldDef, raw: Any) -> str | None:  # noqa: ANN401 - a JSON value
        text = str(raw)
        if text == "":
            return None
        if not is_well_formed(text):
            raise SfError(
                400, "MALFORMED_ID", f"{f.label}: id value of incorrect type: {text}", [f.name]
            )
        value = to_18(text)
        target = self.schema.get(f.reference_to[0])
        if target is None:
            return value  # [inferred] an object the emulator does not model: shape-checked only
        if value[:3] != target.prefix:
            raise SfError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{f.label}: id value of incorrect type: {text}",
                [f.name],
            )
        if self.lookup(target.name, value) is None:
            raise SfError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name]
            )
        return value

    def _check_unique(self, o: ObjectDef, rec: Record) -> None:
        for f in o.fields.values():
            if not f.unique or rec.get(f.name) in {None, ""}:
                continue
            if f.external_id:
                others = [
                    r for r in self.by_external(o, f, str(rec[f.name])) if r["Id"] != rec["Id"]
                ]
            else:
                others = [
                    r
                    for r in self.store.all(o.name)
                    if not r.get("IsDeleted")
                    and r["Id"] != rec["Id"]
                    and str(r.get(f.name)).lower() == str(rec[f.name]).lower()
                ]
            if others:
                raise SfError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: "
                    f"{others[0]['Id']}",
                    [],
                )

    def _rules(self, o: ObjectDef, rec: Record, current: Record | None) -> None:
        """Business rules of the org: Certinia's checks that connectors commonly trip over."""
        if o.name == "pse__Assignment__c":
            resource = self.lookup("Contact", rec.get("pse__Resource__c") or "")
            if resource is not None and not resource.get("pse__Is_Resource__c"):
                # [inferred] message; Certinia requires the Contact to be a resource.
                raise SfError(
                    400,
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "Resource must be a Contact with Is Resource checked.",
                    ["pse__Resource__c"],
                )
        if o.name in {"pse__Timecard_Header__c", "pse__Expense__c"} and current is None:
            project = self.lookup("pse__Proj__c", rec.get("pse__Project__c") or "")
            flag = (
                "pse__Closed_for_Time_Entry__c"
                if o.name == "pse__Timecard_Header__c"
                else "pse__Closed_for_Expense_Entry__c"
            )
            if project is not None and project.get(flag):
                kind = "time" if o.name == "pse__Timecard_Header__c" else "expense"
                # [inferred] message; the flag itself is from the reference.
                raise SfError(
                    400,
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    f"Project {project.get('Name')} is closed for {kind} entry.",
                    ["pse__Project__c"],
                )
        if o.name == "OpportunityLineItem" and current is None:
            if rec.get("UnitPrice") is not None and rec.get("TotalPrice") is not None:
                # Reference 1.9 [inferred]: only one of UnitPrice or TotalPrice can be set.
                raise SfError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: TotalPrice "
                    "(only one of unit price or total price may be specified)",
                    ["TotalPrice"],
                )
            if rec.get("UnitPrice") is None and rec.get("TotalPrice") is None:
                raise _required(["UnitPrice"])

    def _derive(self, o: ObjectDef, rec: Record, current: Record | None, written: set[str]) -> None:
        """Fields the platform computes (formula, roll-up and workflow-like behaviour)."""
        if o.name in {"Contact", "User"}:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        elif o.name == "Opportunity":
            stage = rec.get("StageName")
            rec["IsClosed"] = stage in {"Closed Won", "Closed Lost"}
            rec["IsWon"] = stage == "Closed Won"
            if "Probability" not in written and (
                current is None or current.get("StageName") != stage
            ):
                rec["Probability"] = _STAGE_PROBABILITY.get(str(stage))
            rec["ForecastCategoryName"] = (
                "Closed" if rec["IsWon"] else "Omitted" if rec["IsClosed"] else "Pipeline"
            )
            close = date.fromisoformat(rec["CloseDate"])
            rec["FiscalYear"] = close.year
            rec["FiscalQuarter"] = (close.month - 1) // 3 + 1
            rec.setdefault("HasOpportunityLineItem", False)
        elif o.name == "OpportunityLineItem":
            opp = self.lookup("Opportunity", rec["OpportunityId"]) or {}
            product = self.lookup("Product2", rec.get("Product2Id") or "") or {}
            rec["Name"] = " ".join(str(p) for p in (opp.get("Name"), product.get("Name")) if p)
            rec["ProductCode"] = product.get("ProductCode")
            rec["CurrencyIsoCode"] = opp.get("CurrencyIsoCode", rec.get("CurrencyIsoCode"))
            qty = float(rec.get("Quantity") or 0)
            if (
                "TotalPrice" in written
                and "UnitPrice" not in written
                and rec.get("TotalPrice") is not None
            ):
                rec["UnitPrice"] = round(float(rec["TotalPrice"]) / qty, 2) if qty else 0.0
            elif rec.get("UnitPrice") is not None:
                rec["TotalPrice"] = round(float(rec["UnitPrice"]) * qty, 2)
        elif o.name == "Contract":
            self._derive_contract(rec, current)
        elif o.name == "pse__Timecard_Header__c":
            rec["pse__Total_Hours__c"] = sum(
                float(rec.get(f"pse__{d}_Hours__c") or 0) for d in _DAYS
            )
            if rec.get("pse__End_Date__c") is None:
                # [inferred] a timecard spans one week from its start date.
                start = date.fromisoformat(rec["pse__Start_Date__c"])
                rec["pse__End_Date__c"] = (start + timedelta(days=6)).isoformat()
            if "pse__Status__c" in written or current is None:
                # [inferred] the approval flags follow the status, as Certinia's approval
                # process sets them.
                status = rec.get("pse__Status__c")
                rec["pse__Submitted__c"] = status in {"Submitted", "Approved"} or (
                    status != "Saved" and bool(rec.get("pse__Submitted__c"))
                )
                rec["pse__Approved__c"] = status == "Approved"
        elif o.name == "pse__Assignment__c":
            schedule = self.lookup("pse__Schedule__c", rec.get("pse__Schedule__c") or "") or {}
            rec["pse__Start_Date__c"] = schedule.get("pse__Start_Date__c")
            rec["pse__End_Date__c"] = schedule.get("pse__End_Date__c")

    def _derive_contract(self, rec: Record, current: Record | None) -> None:
        start, term = rec.get("StartDate"), rec.get("ContractTerm")
        if start and term:
            rec["EndDate"] = (
                _add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)
            ).isoformat()
        else:
            rec["EndDate"] = None
        status = rec.get("Status") or "Draft"
        rec["StatusCode"] = {"In Approval Process": "InApproval"}.get(status, status)
        if status == "Activated" and (current is None or current.get("Status") != "Activated"):
            rec["ActivatedDate"] = rec["LastModifiedDate"]
            rec["ActivatedById"] = self.user_id

    def _after_write(self, o: ObjectDef, rec: Record) -> None:
        """Roll-ups onto parents (Opportunity.HasOpportunityLineItem)."""
        if o.name != "OpportunityLineItem":
            return
        opp = self.store.get("Opportunity", rec["OpportunityId"])
        if opp is None:
            return
        has = any(
            r.get("OpportunityId") == opp["Id"] and not r.get("IsDeleted")
            for r in self.store.all("OpportunityLineItem")
        )
        if opp.get("HasOpportunityLineItem") != has:
            self._put(self.schema.objects["Opportunity"], {**opp, "HasOpportunityLineItem": has})


def _required(names: list[str]) -> SfError:
    return SfError(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(names)}]", names
    )


def _parse_error(f: FieldDef, raw: Any) -> SfError:  # noqa: ANN401 - the offending JSON value
    kind = {"boolean": "boolean", "date": "date", "datetime": "datetime", "int": "int"}.get(
        f.type, "double"
    )
    if f.type in TEXT_TYPES:
        kind = "string"
    return SfError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from VALUE_STRING value {raw} or request may be "
        f"missing a required field at [line:1, column:1] ({f.name})",
        [],
    )


def _add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _auto_number(fmt: str, n: int) -> str:
    head, _, rest = fmt.partition("{")
    zeros, _, tail = rest.partition("}")
    return f"{head}{str(n).zfill(len(zeros))}{tail}"
