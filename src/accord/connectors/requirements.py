"""What Accord needs inside each connected system besides credentials: custom fields, API pages.

Each connector package declares its needs once, in its own ``requirements`` module, as a
:class:`Requirements` value named ``REQUIREMENTS``, and may add a ``verify(connector)`` function
that checks a live connection against it. Three things are derived from that one declaration:

* the **setup kit** (``accord setup-kit``, :mod:`accord.setupkit`): SFDX source for Salesforce,
  SDF objects for NetSuite, an AL extension for Business Central;
* **``accord doctor``**: each connection is checked against its declaration (describe,
  metadata catalog, the extension's API pages), and every gap is printed with its fix;
* a **test** (``tests/unit/setupkit``) that compares the declarations with what the connectors
  and flows actually read and write, and with the sandbox emulators, which behave like a system
  set up with the kit.

What does *not* belong here: the generators (:mod:`accord.setupkit`) and the checks of one
system (its connector package).
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from accord.connectors.base import Connector
from accord.connectors.registry import BUILTIN_CONNECTORS, connector_class
from accord.errors import ConfigError

__all__ = [
    "Access",
    "ApiPage",
    "CustomField",
    "FieldType",
    "Finding",
    "PageField",
    "Requirements",
    "ValuesFrom",
    "kit_module",
    "requirements_for",
    "verifier_for",
    "write_files",
]

ValuesFrom = Literal["legal_entities", "practices", "regions", "service_packages"]
"""A picklist whose values are the firm's own, read from its rules file when the kit is built."""


class FieldType(StrEnum):
    """The portable type of a custom field; each generator maps it to its system's type."""

    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    CURRENCY = "currency"
    DATE = "date"
    CHECKBOX = "checkbox"
    PICKLIST = "picklist"
    GUID = "guid"


class Access(StrEnum):
    """What Accord does with a field: the permission the integration user needs."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class CustomField:
    """A custom field Accord reads or writes on one object (record type) of a system.

    Attributes:
        record: The object or record type it lives on (``Account``, ``pse__Proj__c``,
            ``customer``, ``invoice.item`` for a NetSuite invoice item line column).
        name: Its API name (``Legal_Entity__c``, ``custentity_accord_tax_region``).
        label: What people see.
        type: Its portable type.
        access: Whether Accord only reads it or also writes it.
        purpose: Why Accord needs it (the kit's field description and the doctor's fix text).
        length: Characters, for text fields.
        values: Picklist values Accord itself reads or writes.
        values_from: Picklist values that are the firm's own (from its rules file).
        restricted: A picklist refuses values outside its list.
        external_id: An External ID (Salesforce): Accord upserts by it.
        unique: Values are unique on the object.
    """

    record: str
    name: str
    label: str
    type: FieldType
    access: Access
    purpose: str
    length: int | None = None
    values: tuple[str, ...] = ()
    values_from: ValuesFrom | None = None
    restricted: bool = False
    external_id: bool = False
    unique: bool = False


@dataclass(frozen=True, slots=True)
class PageField:
    """One property of a custom API page and the table field it exposes.

    Attributes:
        name: The property name on the API (``projectNumber``).
        source: The table field in AL syntax (``"Job No."``, ``Description``).
        type: Its portable type.
        read_only: The API never accepts it in a body.
        variable: ``source`` is a page variable the page's own code fills, not a table field.
    """

    name: str
    source: str
    type: FieldType = FieldType.TEXT
    read_only: bool = False
    variable: bool = False


@dataclass(frozen=True, slots=True)
class ApiPage:
    """A custom API page (Business Central) that serves one entity set the connector uses.

    Attributes:
        entity_set: The entity set name the connector addresses (``projectPlanningLines``).
        entity_name: Its singular (``projectPlanningLine``).
        table: The table it pages over, in AL syntax (``"Job Planning Line"``).
        fields: Its properties, ``id`` (the record's ``SystemId``) and
            ``lastModifiedDateTime`` included.
        purpose: Why the connector needs it.
        parent: The entity set it is nested under (lines under their journal).
        parent_link: ``(child field, parent field)`` pairs linking a nested page to its parent.
        actions: Bound actions it offers (``post`` -> ``Microsoft.NAV.post``), implemented
            in ``code``.
        access: Whether Accord only reads the set or also writes it.
        code: The page's own variables, triggers and procedures, in the system's language
            (AL): what a property list cannot say (defaults on insert, computed properties).
    """

    entity_set: str
    entity_name: str
    table: str
    fields: tuple[PageField, ...]
    purpose: str
    parent: str | None = None
    parent_link: tuple[tuple[str, str], ...] = ()
    actions: tuple[str, ...] = ()
    access: Access = Access.WRITE
    code: str = ""


@dataclass(frozen=True, slots=True)
class Requirements:
    """Everything one connector kind needs set up in its system.

    Attributes:
        kind: The connector kind (``salesforce``).
        fields: Custom fields, by object.
        pages: Custom API pages.
        prerequisites: What must exist before the kit is deployed (a managed package, a
            feature switched on), in words.
        kit: The kind whose kit deploys these (Certinia's fields go with the Salesforce org's
            kit); empty: this kind's own.
    """

    kind: str
    fields: tuple[CustomField, ...] = ()
    pages: tuple[ApiPage, ...] = ()
    prerequisites: tuple[str, ...] = ()
    kit: str = ""

    def records(self) -> tuple[str, ...]:
        """The objects (record types) that carry custom fields, in declaration order."""
        return tuple(dict.fromkeys(f.record for f in self.fields))

    def fields_of(self, record: str) -> tuple[CustomField, ...]:
        """The custom fields declared on one object."""
        return tuple(f for f in self.fields if f.record == record)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a check found, and what fixes it."""

    problem: str
    fix: str


Verifier = Callable[[Connector[Any]], list[Finding]]
"""Checks a live connection against its declaration; returns what is missing."""


def _sibling(kind: str, name: str) -> Any:  # noqa: ANN401 - an imported module
    """The module ``name`` of a kind's connector package, or None when it has none."""
    target = BUILTIN_CONNECTORS.get(kind)
    package = target.split(":", 1)[0] if target else connector_class(kind).__module__
    # A connector class lives in its package or one module below it; the modules beside it.
    for candidate in (f"{package}.{name}", f"{package.rsplit('.', 1)[0]}.{name}"):
        try:
            return importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            if exc.name != candidate:
                raise
    return None


def kit_module(kind: str) -> Any:  # noqa: ANN401 - an imported module
    """The setup-kit generator of a connector kind (its package's ``kit`` module), or None.

    A generator module has ``FOLDER`` (its folder in the kit) and
    ``write_kit(declarations, out, *, picklists, version) -> list[Path]``.
    """
    return _sibling(kind, "kit")


def requirements_for(kind: str) -> Requirements:
    """The declaration of a connector kind (empty when its package declares nothing).

    Raises:
        ConfigError: The kind is unknown, or its declaration is not a :class:`Requirements`.
    """
    module = _sibling(kind, "requirements")
    declared = getattr(module, "REQUIREMENTS", None) if module is not None else None
    if declared is None:
        return Requirements(kind=kind)
    if not isinstance(declared, Requirements):
        raise ConfigError(f"{kind}: REQUIREMENTS is not an accord Requirements value")
    return declared


def verifier_for(kind: str) -> Verifier | None:
    """The live check of a connector kind, if its package offers one."""
    module = _sibling(kind, "requirements")
    verify = getattr(module, "verify", None) if module is not None else None
    return verify if callable(verify) else None


def write_files(files: Mapping[Path, str]) -> list[Path]:
    """Write a kit's files (UTF-8, folders created); return their paths, in order."""
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
