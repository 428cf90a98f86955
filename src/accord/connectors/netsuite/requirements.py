"""The custom fields Accord reads and writes in NetSuite, and their live check.

:data:`REQUIREMENTS` feeds the setup kit (SDF objects), ``accord doctor`` and the declaration
test (see :mod:`accord.connectors.requirements`). A record named ``invoice.item`` is a column
of the invoice's item lines (a transaction line field).

:func:`verify` reads the REST metadata catalog (``GET /record/v1/metadata-catalog/{type}`` with
``Accept: application/schema+json``), which describes the record as the integration role sees
it, custom fields included (``x-ns-custom-field``). Where a sublist's columns appear in that
document is [inferred]: the check looks for the field anywhere in it.
"""

from collections.abc import Iterator
from typing import Any

from accord.connectors.base import Connector
from accord.connectors.netsuite.mapping import (
    SOURCE_ID_FIELD,
    SOURCE_KIND_FIELD,
    TAX_REGION_FIELD,
)
from accord.connectors.requirements import Access, CustomField, FieldType, Finding, Requirements
from accord.domain import InvoiceLineKind

__all__ = ["REQUIREMENTS", "verify"]

REQUIREMENTS = Requirements(
    kind="netsuite",
    prerequisites=(
        (
            "Features switched on: REST Web Services, OAuth 2.0 (or Token-Based Authentication), "
            "Projects, Time Tracking, Expense Reports."
        ),
        (
            "An integration role with REST web services, and view/edit on customers, projects, "
            "time, expense reports, invoices and payments."
        ),
    ),
    fields=(
        CustomField(
            "customer",
            TAX_REGION_FIELD,
            "Tax Region (Accord)",
            FieldType.TEXT,
            Access.WRITE,
            "The customer's tax region, kept in accord with the CRM (NetSuite has no standard "
            "field for it).",
            length=40,
        ),
        CustomField(
            "invoice.item",
            SOURCE_ID_FIELD,
            "Source Id (Accord)",
            FieldType.TEXT,
            Access.WRITE,
            "Canonical id of what an invoice line bills (a time entry, a milestone).",
            length=255,
        ),
        CustomField(
            "invoice.item",
            SOURCE_KIND_FIELD,
            "Source Kind (Accord)",
            FieldType.TEXT,
            Access.WRITE,
            "What an invoice line bills: " + ", ".join(k.value for k in InvoiceLineKind) + ".",
            length=40,
        ),
    ),
)
"""What NetSuite needs: Accord's custom entity field and transaction line fields."""

_KIT = "deploy the setup kit's SDF project (suitecloud project:deploy) to the account"


def _keys(node: Any) -> Iterator[str]:  # noqa: ANN401 - a JSON Schema document
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def verify(connector: Connector[Any]) -> list[Finding]:
    """Each declared field, looked up in its record type's metadata catalog.

    Raises:
        ConnectorError: The account could not be read.
    """
    findings: list[Finding] = []
    for record in REQUIREMENTS.records():
        record_type = record.split(".", 1)[0]
        response = connector.send(
            "GET",
            f"/record/v1/metadata-catalog/{record_type}",
            resource=record_type,
            headers={"Accept": "application/schema+json"},
        )
        connector.raise_for_status(response, resource=record_type)
        names = set(_keys(connector.json_object(response, resource=record_type)))
        findings.extend(
            Finding(f"field {record}.{want.name} is missing or hidden from Accord's role", _KIT)
            for want in REQUIREMENTS.fields_of(record)
            if want.name not in names
        )
    return findings
