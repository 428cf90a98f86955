"""The Salesforce part of the setup kit: SFDX source of Accord's custom fields and permission set.

Written from the declarations of every kind whose kit is the org's (Salesforce, and Certinia on
the same org), so one ``sf project deploy start`` sets the org up::

    salesforce/
      sfdx-project.json
      force-app/main/default/objects/<Object>/fields/<Field>.field-meta.xml
      force-app/main/default/permissionsets/Accord_Integration.permissionset-meta.xml

The permission set gives the integration user read access to every declared field and edit
access to those Accord writes; it can create records of the objects Accord upserts by its
External ID, and edit those it writes back to.
"""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from accord.connectors.requirements import (
    Access,
    CustomField,
    FieldType,
    Requirements,
    ValuesFrom,
    write_files,
)
from accord.connectors.salesforce.requirements import EXTERNAL_ID, PERMISSION_SET

__all__ = ["FOLDER", "field_xml", "permission_set_xml", "write_kit"]

FOLDER = "salesforce"
"""The kit's folder for the org."""
API_VERSION = "60.0"
"""``sourceApiVersion`` of the SFDX project (the connector's default API version)."""
_NS = "http://soap.sforce.com/2006/04/metadata"
_TYPES = {
    FieldType.TEXT: "Text",
    FieldType.LONG_TEXT: "LongTextArea",
    FieldType.NUMBER: "Number",
    FieldType.CURRENCY: "Currency",
    FieldType.DATE: "Date",
    FieldType.CHECKBOX: "Checkbox",
    FieldType.PICKLIST: "Picklist",
}


def _element(name: str, value: str | int) -> str:
    return f"    <{name}>{escape(str(value))}</{name}>"


def _flag(name: str, *, value: bool) -> str:
    return _element(name, str(value).lower())


def _document(root: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{_NS}">\n{body}\n</{root}>\n'


def field_xml(field: CustomField, values: Sequence[str] = ()) -> str:
    """The ``.field-meta.xml`` of one custom field.

    Args:
        field: The declared field.
        values: Its picklist values (declared or the firm's own).
    """
    lines = [
        _element("fullName", field.name),
        _element("label", field.label),
        _element("description", field.purpose[:1000]),
        _element("inlineHelpText", field.purpose[:510]),
        _flag("externalId", value=field.external_id),
        _flag("required", value=False),
        _flag("trackHistory", value=False),
        _element("type", _TYPES[field.type]),
    ]
    if field.type is FieldType.TEXT:
        lines += [_element("length", field.length or 255), _flag("unique", value=field.unique)]
        if field.unique:
            lines.append(_flag("caseSensitive", value=False))
    elif field.type is FieldType.LONG_TEXT:
        lines += [_element("length", field.length or 32768), _element("visibleLines", 3)]
    elif field.type in (FieldType.NUMBER, FieldType.CURRENCY):
        lines += [_element("precision", 18), _element("scale", 2)]
    elif field.type is FieldType.CHECKBOX:
        lines.append(_flag("defaultValue", value=False))
    elif field.type is FieldType.PICKLIST:
        entries = "".join(
            f"            <value>\n                <fullName>{escape(v)}</fullName>\n"
            f"                <default>false</default>\n"
            f"                <label>{escape(v)}</label>\n            </value>\n"
            for v in values
        )
        lines.append(
            "    <valueSet>\n"
            f"        <restricted>{str(field.restricted).lower()}</restricted>\n"
            "        <valueSetDefinition>\n"
            "            <sorted>false</sorted>\n"
            f"{entries}"
            "        </valueSetDefinition>\n"
            "    </valueSet>"
        )
    return _document("CustomField", "\n".join(lines))


def _object_permission(sobject: str, fields: Sequence[CustomField]) -> str:
    writes = any(f.access is Access.WRITE for f in fields)
    creates = any(f.name == EXTERNAL_ID and f.access is Access.WRITE for f in fields)
    flags = [
        ("allowCreate", creates),
        ("allowDelete", False),
        ("allowEdit", writes),
        ("allowRead", True),
        ("modifyAllRecords", False),
    ]
    inner = "".join(f"        <{k}>{str(v).lower()}</{k}>\n" for k, v in flags)
    return (
        f"    <objectPermissions>\n{inner}        <object>{escape(sobject)}</object>\n"
        "        <viewAllRecords>true</viewAllRecords>\n    </objectPermissions>"
    )


def permission_set_xml(fields: Sequence[CustomField]) -> str:
    """The permission set granting Accord's integration user what the declarations need."""
    by_object: dict[str, list[CustomField]] = {}
    for f in fields:
        by_object.setdefault(f.record, []).append(f)
    parts = [
        _element("label", "Accord Integration"),
        _element(
            "description",
            "Read and write access to the fields and objects Accord uses. Assign it to the "
            "integration user Accord connects as.",
        ),
        _flag("hasActivationRequired", value=False),
    ]
    parts += [
        "    <fieldPermissions>\n"
        f"        <editable>{str(f.access is Access.WRITE).lower()}</editable>\n"
        f"        <field>{escape(f.record)}.{escape(f.name)}</field>\n"
        "        <readable>true</readable>\n"
        "    </fieldPermissions>"
        for f in sorted(fields, key=lambda f: (f.record, f.name))
    ]
    parts += [_object_permission(o, fs) for o, fs in sorted(by_object.items())]
    return _document("PermissionSet", "\n".join(parts))


def _merged(declarations: Sequence[Requirements]) -> list[CustomField]:
    """One field per (object, name); a field some kind writes is writable."""
    merged: dict[tuple[str, str], CustomField] = {}
    for declaration in declarations:
        for f in declaration.fields:
            seen = merged.get((f.record, f.name))
            if seen is None or (f.access is Access.WRITE and seen.access is Access.READ):
                merged[f.record, f.name] = f
    return list(merged.values())


def write_kit(
    declarations: Sequence[Requirements],
    out: Path,
    *,
    picklists: Mapping[ValuesFrom, tuple[str, ...]],
    version: str,
) -> list[Path]:
    """Write the SFDX project under ``out`` (the ``salesforce`` folder); return the files."""
    del version  # metadata carries no version: a redeploy updates the fields in place
    fields = _merged(declarations)
    source = out / "force-app" / "main" / "default"
    project = {
        "packageDirectories": [{"path": "force-app", "default": True}],
        "name": "accord-setup-kit",
        "namespace": "",
        "sfdcLoginUrl": "https://login.salesforce.com",
        "sourceApiVersion": API_VERSION,
    }
    files = {out / "sfdx-project.json": json.dumps(project, indent=2) + "\n"}
    for f in fields:
        values = picklists.get(f.values_from, ()) if f.values_from else f.values
        path = source / "objects" / f.record / "fields" / f"{f.name}.field-meta.xml"
        files[path] = field_xml(f, values)
    files[source / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"] = (
        permission_set_xml(fields)
    )
    return write_files(files)
