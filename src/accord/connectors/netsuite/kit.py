"""The NetSuite part of the setup kit: an SDF account customization project of Accord's fields.

::

    netsuite/
      suitecloud.config.js
      src/manifest.xml
      src/deploy.xml
      src/Objects/<scriptid>.xml      entitycustomfield / transactioncolumncustomfield

Deploy with the SuiteCloud CLI (``suitecloud account:setup`` once, then
``suitecloud project:deploy``). A field's object type comes from its script id prefix
(``custentity``, ``custcol``, ``custbody``); what it applies to from the record it is declared
on (``customer``, ``invoice.item``).
"""

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

__all__ = ["FOLDER", "field_xml", "write_kit"]

FOLDER = "netsuite"
"""The kit's folder for NetSuite."""
_TYPES = {
    FieldType.TEXT: "TEXT",
    FieldType.LONG_TEXT: "CLOBTEXT",
    FieldType.NUMBER: "FLOAT",
    FieldType.CURRENCY: "CURRENCY",
    FieldType.DATE: "DATE",
    FieldType.CHECKBOX: "CHECKBOX",
}
_OBJECTS = {
    "custentity": "entitycustomfield",
    "custcol": "transactioncolumncustomfield",
    "custbody": "transactionbodycustomfield",
}
_APPLIES = {
    "customer": "appliestocustomer",
    "job": "appliestoproject",
    "employee": "appliestoemployee",
    "vendor": "appliestovendor",
    # Sale item lines: invoices, cash sales, sales orders (transactioncolumncustomfield).
    "invoice.item": "colsale",
    "invoice": "bodysale",
}


def field_xml(field: CustomField) -> str:
    """The SDF object XML of one custom field.

    Raises:
        ValueError: The field's script id prefix or record has no SDF mapping here.
    """
    prefix = field.name.split("_", 1)[0]
    element = _OBJECTS.get(prefix)
    applies = _APPLIES.get(field.record)
    fieldtype = _TYPES.get(field.type)
    if element is None or applies is None or fieldtype is None:
        raise ValueError(f"no SDF mapping for {field.record}.{field.name} ({field.type})")
    values = {
        "label": field.label,
        "description": field.purpose,
        "fieldtype": fieldtype,
        applies: "T",
        "displaytype": "NORMAL",
        "ismandatory": "F",
        "storevalue": "T",
        # 2: edit; Accord's role needs to see what it only reads, too.
        "accesslevel": "2" if field.access is Access.WRITE else "1",
        "searchlevel": "2",
    }
    if field.type is FieldType.TEXT and field.length:
        values["maxlength"] = str(field.length)
    body = "".join(f"  <{k}>{escape(v)}</{k}>\n" for k, v in values.items())
    return f'<{element} scriptid="{escape(field.name)}">\n{body}</{element}>\n'


_MANIFEST = """<manifest projecttype="ACCOUNTCUSTOMIZATION">
  <projectname>Accord setup kit</projectname>
  <frameworkversion>1.0</frameworkversion>
</manifest>
"""
_DEPLOY = """<deploy>
  <objects>
    <path>~/Objects/*</path>
  </objects>
</deploy>
"""
_CONFIG = """module.exports = {
  defaultProjectFolder: "src",
  commands: {},
};
"""


def write_kit(
    declarations: Sequence[Requirements],
    out: Path,
    *,
    picklists: Mapping[ValuesFrom, tuple[str, ...]],
    version: str,
) -> list[Path]:
    """Write the SDF project under ``out`` (the ``netsuite`` folder); return the files."""
    del picklists, version  # NetSuite's fields are free text; SDF objects carry no version
    files = {
        out / "suitecloud.config.js": _CONFIG,
        out / "src" / "manifest.xml": _MANIFEST,
        out / "src" / "deploy.xml": _DEPLOY,
    }
    for declaration in declarations:
        for field in declaration.fields:
            files[out / "src" / "Objects" / f"{field.name}.xml"] = field_xml(field)
    return write_files(files)
