"""JSON Schema export of the canonical model into ``schemas/``.

One file per model and per event type, ``<name>.v<major>.json``, pretty-printed with
sorted keys and a trailing newline so that diffs are readable. Export refuses to overwrite
a checked-in schema with a backward-incompatible one: the fix is either the model or a
major version bump, which writes a new ``v<major+1>`` file beside the old one (consumers
of the old major keep their file).
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from accord.domain.base import Address, CanonicalModel, ExternalRef
from accord.domain.commercial import (
    Contract,
    ContractAmendment,
    Milestone,
    Opportunity,
    OpportunityLine,
    Rate,
    RateCard,
)
from accord.domain.compat import incompatibilities
from accord.domain.delivery import (
    Assignment,
    Expense,
    Project,
    ProjectFieldsChange,
    ProjectStatusChange,
    ProjectTask,
    TimeEntry,
    Timesheet,
)
from accord.domain.errors import SchemaCompatibilityError
from accord.domain.events import EVENT_CLASSES
from accord.domain.finance import (
    AccountingPeriod,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
    VendorBill,
    VendorBillLine,
)
from accord.domain.money import Money
from accord.domain.parties import Customer, LegalEntity, Resource, Vendor

__all__ = [
    "SCHEMA_DIALECT",
    "SCHEMA_MODELS",
    "SchemaCompatibilityError",
    "export_schemas",
    "render_schema",
    "schema_document",
    "schema_filename",
]

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect pydantic generates."""

SCHEMA_MODELS: Final[tuple[type[CanonicalModel], ...]] = (
    Money,
    ExternalRef,
    Address,
    LegalEntity,
    Customer,
    Resource,
    Vendor,
    OpportunityLine,
    Opportunity,
    Rate,
    RateCard,
    Milestone,
    ContractAmendment,
    Contract,
    Project,
    ProjectStatusChange,
    ProjectFieldsChange,
    ProjectTask,
    Assignment,
    TimeEntry,
    Timesheet,
    Expense,
    InvoiceLine,
    Invoice,
    PaymentApplication,
    Payment,
    VendorBillLine,
    VendorBill,
    AccountingPeriod,
    *EVENT_CLASSES.values(),
)
"""Every model and event class that gets a schema file."""


def schema_filename(model: type[CanonicalModel]) -> str:
    """Return the schema file name of ``model``, e.g. ``time_entry.v1.json``."""
    return f"{model.schema_name()}.v{model.schema_major()}.json"


def schema_document(model: type[CanonicalModel]) -> dict[str, Any]:
    """Return the JSON Schema of ``model`` (validation mode) with its versioned identity.

    The root carries ``$schema``, a ``$id`` and ``title`` that include the major version,
    and ``x-accord-schema-version`` with the full ``major.minor`` version. Nested ``$defs``
    get no ``$id``: one would change how the ``#/$defs/...`` references inside them resolve.
    """
    major = model.schema_major()
    schema = model.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": SCHEMA_DIALECT,
            "$id": f"urn:accord:schema:{model.schema_name()}:v{major}",
            "title": f"{model.__name__} v{major}",
            "x-accord-schema-version": model.__schema_version__,
        }
    )
    return schema


def render_schema(schema: Mapping[str, Any]) -> str:
    """Render a schema as stable, pretty JSON with a trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(out_dir: Path) -> list[Path]:
    """Write the schema of every model and event type into ``out_dir``.

    Nothing is written unless every schema is compatible with the file it would replace.

    Args:
        out_dir: the schema directory (``schemas/`` in the repository); created if missing.

    Returns:
        The path of every schema file written, sorted by name.

    Raises:
        SchemaCompatibilityError: an existing ``<name>.v<major>.json`` would be overwritten
            by an incompatible schema; it lists every problem of every file.
    """
    documents = {schema_filename(model): schema_document(model) for model in SCHEMA_MODELS}
    problems: dict[Path, list[str]] = {}
    for filename, document in documents.items():
        path = out_dir / filename
        if not path.exists():
            continue
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems[path] = [f"existing file is not valid JSON ({exc})"]
            continue
        found = incompatibilities(old, document)
        if found:
            problems[path] = found
    if problems:
        raise SchemaCompatibilityError(problems)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for filename in sorted(documents):
        path = out_dir / filename
        path.write_text(render_schema(documents[filename]), encoding="utf-8", newline="\n")
        written.append(path)
    return written
