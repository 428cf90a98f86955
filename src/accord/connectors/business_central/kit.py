"""The Business Central part of the setup kit: an AL extension with Accord's custom API pages.

::

    business_central/
      app.json
      src/AccordJob.TableExt.al            fields Accord adds to tables (billing model)
      src/Accord<Set>.Page.al              one API page per declared entity set
      src/AccordIntegration.PermissionSet.al

Build it with the AL Language extension (``AL: Package``) against the environment's symbols and
publish it (``AL: Publish`` or the Extension Management page); the pages then answer at
``/api/accord/psa/v1.0/companies({id})/{set}``. Object ids are taken from 50100 up; change the
``idRanges`` in ``app.json`` if the tenant already uses them. [inferred] The AL is written from
Microsoft's documented API page pattern and has not been compiled in this repository (no AL
compiler runs in CI); the declaration test checks its content, not its compilation.
"""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from accord.connectors.business_central.requirements import API_ROUTE
from accord.connectors.requirements import (
    Access,
    ApiPage,
    CustomField,
    FieldType,
    Requirements,
    ValuesFrom,
    write_files,
)

__all__ = ["APP_ID", "FOLDER", "page_al", "page_name", "write_kit"]

FOLDER = "business_central"
"""The kit's folder for Business Central."""
APP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://accord.invalid/setup-kit/business-central"))
"""The extension's app id: stable, so a newer kit upgrades the installed extension."""
_FIRST_ID = 50100
_PUBLISHER, _GROUP, _VERSION = API_ROUTE.split("/")
_AL_TYPES = {FieldType.TEXT: "Text[{n}]", FieldType.NUMBER: "Decimal", FieldType.DATE: "Date"}


def page_name(page: ApiPage) -> str:
    """The AL object name of a page: ``Accord Project Planning Lines`` (30 characters at most)."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", page.entity_set).split()
    name = "Accord " + " ".join(w.capitalize() for w in words)
    if len(name) > 30:
        raise ValueError(f"AL object name {name!r} is longer than 30 characters")
    return name


def page_al(page: ApiPage, object_id: int, children: Sequence[tuple[ApiPage, int]] = ()) -> str:
    """The AL source of one API page (and the parts of the pages nested under it)."""
    rows = []
    for f in page.fields:
        source = f.source if f.variable else f"Rec.{f.source}"
        editable = "\n                    Editable = false;" if f.read_only else ""
        rows.append(
            f"                field({f.name}; {source})\n                {{\n"
            f"                    Caption = '{f.name}', Locked = true;{editable}\n"
            "                }"
        )
    for child, _ in children:
        link = ", ".join(f"{c} = field({p})" for c, p in child.parent_link)
        rows.append(
            f'                part({child.entity_set}; "{page_name(child)}")\n                {{\n'
            f"                    Caption = '{child.entity_set}', Locked = true;\n"
            f"                    EntityName = '{child.entity_name}';\n"
            f"                    EntitySetName = '{child.entity_set}';\n"
            f"                    SubPageLink = {link};\n"
            "                }"
        )
    split = "\n    AutoSplitKey = true;" if page.parent else ""
    fields = "\n".join(rows)
    return f"""// {page.purpose}
page {object_id} "{page_name(page)}"
{{
    PageType = API;
    APIPublisher = '{_PUBLISHER}';
    APIGroup = '{_GROUP}';
    APIVersion = '{_VERSION}';
    EntityName = '{page.entity_name}';
    EntitySetName = '{page.entity_set}';
    EntityCaption = '{page.entity_name}';
    EntitySetCaption = '{page.entity_set}';
    SourceTable = {page.table};
    DelayedInsert = true;
    ODataKeyFields = SystemId;
    Extensible = false;{split}

    layout
    {{
        area(Content)
        {{
            repeater(Records)
            {{
{fields}
            }}
        }}
    }}
{page.code}}}
"""


def _table_extension(table: str, fields: Sequence[CustomField], object_id: int) -> str:
    rows = []
    for i, f in enumerate(fields):
        al_type = _AL_TYPES[f.type].format(n=f.length or 100)
        rows.append(
            f'        field({object_id + i}; "{f.name}"; {al_type})\n        {{\n'
            f"            Caption = '{f.label}';\n"
            "            DataClassification = CustomerContent;\n"
            f"            // {f.purpose}\n"
            "        }"
        )
    body = "\n".join(rows)
    # A table whose name has a space is quoted in AL ("Job Task"); its extension's name too.
    base = f'"{table}"' if " " in table else table
    head = f'tableextension {object_id} "Accord {table}" extends {base}'
    return f"{head}\n{{\n    fields\n    {{\n{body}\n    }}\n}}\n"


def _permission_set(pages: Sequence[tuple[ApiPage, int]], object_id: int) -> str:
    grants: dict[str, str] = {}
    for page, _ in pages:
        grants[f"tabledata {page.table}"] = "RIMD" if page.access is Access.WRITE else "R"
    grants |= {f'page "{page_name(page)}"': "X" for page, _ in pages}
    lines = ",\n".join(f"        {target} = {rights}" for target, rights in grants.items())
    return (
        f'permissionset {object_id} "ACCORD INTEGRATION"\n{{\n'
        "    Assignable = true;\n"
        "    Caption = 'Accord integration';\n"
        f"    Permissions =\n{lines};\n}}\n"
    )


def _app_json(version: str) -> str:
    numbers = [int(p) for p in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
    app = {
        "id": APP_ID,
        "name": "Accord Integration",
        "publisher": "Accord",
        "version": ".".join(str(n) for n in [*numbers[:3], 0]),
        "brief": "API pages Accord reads and writes project data through.",
        "description": (
            "Custom API pages (api/accord/psa/v1.0) for projects, planning lines, project "
            "journals and resources, generated by accord setup-kit."
        ),
        "privacyStatement": "",
        "EULA": "",
        "help": "",
        "url": "",
        "logo": "",
        "dependencies": [],
        "screenshots": [],
        "platform": "24.0.0.0",
        "application": "24.0.0.0",
        "idRanges": [{"from": _FIRST_ID, "to": _FIRST_ID + 49}],
        "runtime": "13.0",
        "features": ["NoImplicitWith"],
        "resourceExposurePolicy": {
            "allowDebugging": True,
            "allowDownloadingSource": True,
            "includeSourceInSymbolFile": True,
        },
    }
    return json.dumps(app, indent=2) + "\n"


def write_kit(
    declarations: Sequence[Requirements],
    out: Path,
    *,
    picklists: Mapping[ValuesFrom, tuple[str, ...]],
    version: str,
) -> list[Path]:
    """Write the AL extension under ``out`` (the ``business_central`` folder); return the files."""
    del picklists  # BC's fields here are free text
    pages = [p for d in declarations for p in d.pages]
    fields = [f for d in declarations for f in d.fields]
    numbered = [(p, _FIRST_ID + 1 + i) for i, p in enumerate(pages)]
    files: dict[Path, str] = {out / "app.json": _app_json(version)}
    for page, object_id in numbered:
        children = [(c, i) for c, i in numbered if c.parent == page.entity_set]
        name = page_name(page).replace(" ", "")
        files[out / "src" / f"{name}.Page.al"] = page_al(page, object_id, children)
    tables = dict.fromkeys(f.record for f in fields)
    for n, table in enumerate(tables):
        own = [f for f in fields if f.record == table]
        files[out / "src" / f"Accord{table.replace(' ', '')}.TableExt.al"] = _table_extension(
            table, own, _FIRST_ID + n * 10
        )
    files[out / "src" / "AccordIntegration.PermissionSet.al"] = _permission_set(
        numbered, _FIRST_ID + 40
    )
    return write_files(files)
