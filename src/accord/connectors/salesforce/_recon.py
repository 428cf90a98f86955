"""The SOQL reads reconciliation makes of an org, shared by the CRM and Certinia roles.

Records are read in batches (``nextRecordsUrl`` until ``done``), never one call per record:
``WHERE <field> IN (...)`` of at most 200 validated values per query, selecting what a change
page of the object selects (so that records map as the change feeds map them).
"""

from collections.abc import Collection, Iterator
from typing import Any, Final

from accord.connectors.roles import Lane
from accord.connectors.salesforce.rest import SalesforceRestConnector
from accord.connectors.types import RawRecord

__all__ = ["records_in", "soql_records"]

_IDS_PER_QUERY: Final = 200


def soql_records(
    connector: SalesforceRestConnector[Any], resource: str, soql: str, *, lane: Lane
) -> Iterator[RawRecord]:
    """Every record of a SOQL query, batch after batch."""
    records, following = connector.soql_page(soql, resource=resource, lane=lane)
    yield from records
    while following is not None:
        records, following = connector.soql_page(next_url=following, resource=resource, lane=lane)
        yield from records


def records_in(
    connector: SalesforceRestConnector[Any],
    resource: str,
    values: Collection[str],
    *,
    field: str = "Id",
    where: str | None = None,
    lane: Lane,
) -> Iterator[RawRecord]:
    """Records of ``resource`` (as its pages select them) whose ``field`` is one of ``values``.

    Values that are not plain ids or keys (letters, digits, ``_`` and ``-``) name no record
    and are left out: they never reach a query.
    """
    wanted = sorted({v for v in values if v and all(c.isalnum() or c in "_-" for c in v)})
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        quoted = ", ".join(f"'{v}'" for v in wanted[start : start + _IDS_PER_QUERY])
        condition = f"{field} IN ({quoted})" + (f" AND ({where})" if where else "")
        soql = connector.select_where(resource, condition)
        yield from soql_records(connector, resource, soql, lane=lane)
