"""The shadow of a migrating legal entity: where its shadow work goes, and as which rules.

For a legal entity under migration (``legal_entities.<code>.migration`` in the rules), work the
system of record accepted (postings, customers, projects, billing plans) is also handed to the
migration's other ERP, the *shadow* (docs/migration.md, "Shadow posting as you go"), following
``time_to_bill.shadow_mode``: ``validate`` (translate, write nothing), ``post`` (write to the
shadow's test connection, ``shadow_test_connections``) or ``off``.

:func:`shadow_target` says where, :func:`booked_view` gives the rules a role of that connection
must see. Shared by the flows that shadow their work (:mod:`.shadow_masters` here; time-to-bill
keeps its own copy for postings, ``accord.flows.time_to_bill.shadow``).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from accord.rules import Rules, parse_rules

__all__ = ["MODES", "ShadowTarget", "booked_view", "shadow_target"]

MODES: Final = ("validate", "post", "off")
"""The values of ``time_to_bill.shadow_mode``."""


@dataclass(frozen=True)
class ShadowTarget:
    """Where a migrating entity's work goes besides the system of record.

    Attributes:
        entity: The legal entity.
        erp: The shadow's ERP system (``dynamics_finance`` ...).
        connection: The migration's other connection (the shadow's production company).
        target: Where the shadow work goes: ``connection`` (``validate``) or its test
            connection (``post``).
        mode: ``validate`` or ``post``.
    """

    entity: str
    erp: str
    connection: str
    target: str
    mode: str


def shadow_target(
    rules: Rules,
    *,
    mode: str,
    test_connections: Mapping[str, str],
    entity: str,
    connection: str,
) -> ShadowTarget | None:
    """The shadow of work done on ``connection`` for ``entity``; ``None``: no shadow.

    Args:
        rules: The rules the run is pinned to.
        mode: ``time_to_bill.shadow_mode`` (an unknown value is ``off``).
        test_connections: ``time_to_bill.shadow_test_connections``: shadow connection -> its
            test company's. ``post`` without one is only ``validate``: nothing is ever written
            in the company the entity will cut over to.
        entity: The legal entity.
        connection: The connection the system of record's work went through.
    """
    booked = rules.spec.legal_entities.get(entity)
    if booked is None or booked.migration is None or mode not in MODES or mode == "off":
        return None
    migration = booked.migration
    if connection == booked.connection:
        other, system = migration.shadow_connection, migration.shadow.value
    elif connection == migration.shadow_connection:
        # A run pinned to the rules before a cut-over (or rollback) wrote on the other side.
        other, system = booked.connection, booked.erp.value
    else:
        return None
    test = test_connections.get(other) if mode == "post" else None
    if test is None:
        return ShadowTarget(entity, system, other, other, "validate")
    return ShadowTarget(entity, system, other, test, "post")


_views: dict[tuple[str, str, str, str], Rules] = {}


def booked_view(rules: Rules, entity: str, erp: str, connection: str) -> Rules:
    """``rules`` with ``entity`` booked on ``erp`` through ``connection`` (its migration dropped).

    An ERP role sees an entity's records only in the books the rules place on its connection:
    the shadow (or its test connection) is read and written through a role built with these
    rules. Cached per rules version.
    """
    key = (rules.version, entity, erp, connection)
    found = _views.get(key)
    if found is None:
        document = rules.spec.model_dump(mode="json", exclude_none=True)
        booked = document["legal_entities"][entity]
        booked.update(erp=erp, connection=connection)
        booked.pop("migration", None)
        found = _views[key] = parse_rules(document)
    return found
