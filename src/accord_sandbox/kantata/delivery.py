"""What delivery needs of the Kantata emulator: vendors, custom fields, team and task effects.

- The firm's **vendors** are seeded as ``vendors``, each keyed by the firm's vendor key as an
  external reference (``service_name`` ``accord``, ``service_model`` ``vendor``) [inferred:
  stands for the firm's vendor set-up, as consultants' users are keyed].
- Two **custom fields** on workspaces, ``Delivery Health`` and ``Customer PO`` [inferred: the
  sandbox account's settings; ``rules/default.yaml`` maps them as ``delivery_health`` and
  ``customer_po``].
- A **participation** puts its user on the workspace's ``participant_ids`` (and leaving takes
  them off); an **assignment** is listed on its story's ``assignment_ids``; a time entry on a
  story adds to the story's logged minutes (billable or not), as Kantata's story totals do.

Each effect on another record is an ``updated`` event of that record, as everywhere else.
"""

from typing import TYPE_CHECKING, Any

from accord_sandbox.firm import Firm
from accord_sandbox.kantata.models import Resource, accord_reference

if TYPE_CHECKING:
    from accord_sandbox.kantata.app import KantataEmulator

__all__ = ["PROJECT_FIELDS", "after_change", "seed_delivery"]

Record = dict[str, Any]

PROJECT_FIELDS: tuple[str, ...] = ("Delivery Health", "Customer PO")
"""The account's custom fields on workspaces ([inferred] set-up of the sandbox account)."""


def seed_delivery(emu: "KantataEmulator", firm: Firm) -> None:
    """Seed the firm's vendors (keyed by external reference) and the custom fields; idempotent."""
    fields = {f["name"] for f in emu.store.all("custom_fields")}
    for name in PROJECT_FIELDS:
        if name not in fields:
            emu.insert("custom_fields", {"name": name, "subject_type": "Workspace"})
    keyed = {
        r["service_model_ref"]
        for r in emu.store.all("external_references")
        if r["subject_type"] == "Vendor" and r["service_model"] == "vendor"
    }
    for vendor in firm.vendors:
        if vendor.id in keyed:
            continue
        record = emu.insert("vendors", {"name": vendor.name, "email_address": vendor.email})
        reference = accord_reference("Vendor", record["id"], "vendor", vendor.id)
        emu.insert("external_references", reference)


def after_change(
    emu: "KantataEmulator", resource: Resource, record: Record, before: Record | None, action: str
) -> None:
    """Effects of a create, update or delete of ``record`` on the records it belongs to."""
    if resource.plural == "participations":
        _team(emu, record, joined=action != "deleted")
    elif resource.plural == "assignments":
        _story_assignments(emu, record, assigned=action != "deleted")
    elif resource.plural == "time_entries":
        stories = {record.get("story_id"), (before or {}).get("story_id")}
        for story_id in sorted(s for s in stories if s):
            _log_story_time(emu, story_id)


def _team(emu: "KantataEmulator", participation: Record, *, joined: bool) -> None:
    workspace = emu.store.get("workspaces", participation["workspace_id"] or "")
    if workspace is None:
        return
    user = participation["user_id"]
    members = [m for m in workspace["participant_ids"] if m != user]
    if joined:
        members.append(user)
    if members != workspace["participant_ids"]:
        emu.touch("workspaces", workspace, {"participant_ids": members})


def _story_assignments(emu: "KantataEmulator", assignment: Record, *, assigned: bool) -> None:
    story = emu.store.get("stories", assignment["story_id"] or "")
    if story is None:
        return
    ids = [i for i in story["assignment_ids"] if i != assignment["id"]]
    if assigned:
        ids.append(assignment["id"])
    emu.touch("stories", story, {"assignment_ids": ids})


def _log_story_time(emu: "KantataEmulator", story_id: str) -> None:
    story = emu.store.get("stories", story_id)
    if story is None:
        return
    entries = [e for e in emu.store.all("time_entries") if e.get("story_id") == story_id]
    billable = sum(int(e["time_in_minutes"] or 0) for e in entries if e["billable"])
    other = sum(int(e["time_in_minutes"] or 0) for e in entries if not e["billable"])
    if (story["logged_billable_time_in_minutes"], story["logged_nonbillable_time_in_minutes"]) != (
        billable,
        other,
    ):
        emu.touch(
            "stories",
            story,
            {
                "logged_billable_time_in_minutes": billable,
                "logged_nonbillable_time_in_minutes": other,
            },
        )
