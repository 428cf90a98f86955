"""Checks of a rules document before it is proposed: its schema, then what it refers to.

Three layers, each returning :class:`Finding` values (errors block, warnings inform):

1. **schema** (:func:`check_file`): the file parses and validates against
   :class:`~accord.rules.RulesSpec` (regions name known legal entities and tax regions, every
   billing model has a revenue policy, milestones sum to 100, transforms exist);
2. **references** (:func:`check_references`): every connection a legal entity or the PSA
   names is configured in ``accord.yaml`` with the right kind; ERP ids that two practices or
   regions share (time on their projects could not be told apart) are warned about;
3. **targets** (:func:`check_targets`, online): every NetSuite department, class and
   subsidiary id and every Business Central dimension value code the rules map to exists in
   the ERP behind its connection (read, never written).

Exception queues need no check of their own: a route can only name one of the four owner
queues (the schema refuses any other).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from accord.connectors.base import Connector
from accord.domain import ErpSystem
from accord.errors import ConfigError, ConnectorError
from accord.flows.config_sections import read_section
from accord.rules import Rules, RulesSpec, load_rules

__all__ = ["Finding", "check_file", "check_references", "check_targets", "connection_kinds"]

_MAX_PAGES = 20
"""Pages of a reference list read at most (departments, classes: a few hundred rows)."""


@dataclass(frozen=True)
class Finding:
    """One problem: where in the rules (a dotted path) and what is wrong."""

    severity: Literal["error", "warning"]
    path: str
    message: str

    def as_json(self) -> dict[str, str]:
        """``{"severity", "path", "message"}``."""
        return {"severity": self.severity, "path": self.path, "message": self.message}


def check_file(path: Path) -> tuple[Rules | None, list[Finding]]:
    """Load and schema-check a rules file; the rules, or None and the schema errors."""
    try:
        return load_rules(path), []
    except ConfigError as exc:
        text = exc.message.removeprefix(f"{path}: ")
        findings = []
        for part in text.split("; "):
            where, sep, what = part.partition(": ")
            findings.append(Finding("error", where if sep else "(file)", what if sep else part))
        return None, findings


def connection_kinds(config_file: Path | None) -> dict[str, str]:
    """Connection name -> connector kind, as ``accord.yaml`` declares them.

    Read from the section as written: naming a kind needs no secret, so this works where the
    secrets' environment variables are not set (a CI job, a reviewer's laptop).

    Raises:
        ConfigError: ``accord.yaml`` cannot be read.
    """
    raw = read_section(config_file, "connections") or {}
    return {
        str(name): str(settings.get("kind"))
        for name, settings in raw.items()
        if isinstance(settings, Mapping)
    }


def check_references(rules: Rules, connections: Mapping[str, str]) -> list[Finding]:
    """Connections the rules name against ``accord.yaml``'s (name -> connector kind)."""
    out: list[Finding] = []

    def connection(path: str, name: str, kind: str) -> None:
        found = connections.get(name)
        if found is None:
            out.append(Finding("error", path, f"no connection {name!r} in accord.yaml"))
        elif found != kind:
            out.append(Finding("error", path, f"connection {name!r} is {found}, not {kind}"))

    spec = rules.spec
    connection("psa.connection", spec.psa.connection, spec.psa.system)
    for code, entity in spec.legal_entities.items():
        connection(f"legal_entities.{code}.connection", entity.connection, entity.erp.value)
    out += _shared("practices", {c: p.netsuite_department_id for c, p in spec.practices.items()})
    out += _shared("practices", {c: p.bc_department_code for c, p in spec.practices.items()})
    out += _shared("regions", {c: r.netsuite_class_id for c, r in spec.regions.items()})
    out += _shared("regions", {c: r.bc_area_code for c, r in spec.regions.items()})
    return out


def _shared(section: str, ids: Mapping[str, str]) -> list[Finding]:
    by_id: dict[str, list[str]] = {}
    for code, value in sorted(ids.items()):
        by_id.setdefault(value, []).append(code)
    return [
        Finding(
            "warning",
            f"{section}.{codes[1]}",
            f"{' and '.join(codes)} map to the same ERP id {value!r}: "
            "postings on their projects cannot be told apart",
        )
        for value, codes in sorted(by_id.items())
        if len(codes) > 1
    ]


def _all(connector: Connector[Any], resource: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = connector.read_page(resource, cursor=cursor, limit=1000)
        records += [dict(r) for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    return records


def _missing(wanted: Iterable[tuple[str, str]], have: set[str], what: str) -> list[Finding]:
    """An error for each ``(path, id)`` whose id is not in ``have`` (``what`` names the place)."""
    return [
        Finding("error", path, f"{value!r} does not exist {what}")
        for path, value in wanted
        if value not in have
    ]


def check_targets(rules: Rules, connector_for: Callable[[str], Connector[Any]]) -> list[Finding]:
    """Dimension, class and subsidiary ids against the ERPs the rules route to (reads only)."""
    spec = rules.spec
    out: list[Finding] = []
    netsuite = sorted(
        {e.connection for e in spec.legal_entities.values() if e.erp is ErpSystem.NETSUITE}
    )
    for name in netsuite:
        where = f"in NetSuite (connection {name})"
        try:
            connector = connector_for(name)
            departments = {str(r.get("id")) for r in _all(connector, "department")}
            classes = {str(r.get("id")) for r in _all(connector, "classification")}
            subsidiaries = {str(r.get("id")) for r in _all(connector, "subsidiary")}
        except (ConnectorError, ConfigError) as exc:
            out.append(Finding("warning", "legal_entities", f"could not read {where}: {exc}"))
            continue
        out += _missing(
            [
                (f"practices.{c}.netsuite_department_id", p.netsuite_department_id)
                for c, p in spec.practices.items()
            ],
            departments,
            f"as a department {where}",
        )
        out += _missing(
            [
                (f"regions.{c}.netsuite_class_id", r.netsuite_class_id)
                for c, r in spec.regions.items()
            ],
            classes,
            f"as a class {where}",
        )
        out += _missing(
            [
                (f"legal_entities.{c}.netsuite_subsidiary_id", e.netsuite_subsidiary_id or "")
                for c, e in spec.legal_entities.items()
                if e.erp is ErpSystem.NETSUITE and e.connection == name
            ],
            subsidiaries,
            f"as a subsidiary {where}",
        )
    for code, entity in spec.legal_entities.items():
        if entity.erp is not ErpSystem.BUSINESS_CENTRAL:
            continue
        where = f"in Business Central company {code} (connection {entity.connection})"
        try:
            company: Any = connector_for(entity.connection)
            values = {
                str(r.get("code")) for r in _all(company.for_company(code), "dimensionValues")
            }
        except (ConnectorError, ConfigError, AttributeError) as exc:
            out.append(
                Finding("warning", f"legal_entities.{code}", f"could not read {where}: {exc}")
            )
            continue
        out += _missing(
            [
                (f"practices.{c}.bc_department_code", p.bc_department_code)
                for c, p in spec.practices.items()
            ],
            values,
            f"as a dimension value {where}",
        )
        out += _missing(
            [(f"regions.{c}.bc_area_code", r.bc_area_code) for c, r in spec.regions.items()],
            values,
            f"as a dimension value {where}",
        )
    out += _check_dynamics_finance(spec, connector_for)
    return out


def _check_dynamics_finance(
    spec: RulesSpec, connector_for: Callable[[str], Connector[Any]]
) -> list[Finding]:
    """Dynamics 365 Finance keeps the Business Central codes as financial dimension values."""
    out: list[Finding] = []
    names = sorted(
        {e.connection for e in spec.legal_entities.values() if e.erp is ErpSystem.DYNAMICS_FINANCE}
    )
    for name in names:
        where = f"in Dynamics 365 Finance (connection {name})"
        try:
            values = {
                str(r.get("DimensionValue"))
                for r in _all(connector_for(name), "FinancialDimensionValues")
            }
        except (ConnectorError, ConfigError) as exc:
            out.append(Finding("warning", "legal_entities", f"could not read {where}: {exc}"))
            continue
        out += _missing(
            [
                (f"practices.{c}.bc_department_code", p.bc_department_code)
                for c, p in spec.practices.items()
            ]
            + [(f"regions.{c}.bc_area_code", r.bc_area_code) for c, r in spec.regions.items()],
            values,
            f"as a financial dimension value {where}",
        )
    return out
