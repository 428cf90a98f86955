"""NetSuite reference data every NetSuite role reads: currency ids, cached per connection.

A currency's internal id differs per account; records carry the id, canonical models the
ISO code. Read once per connection and process for a few minutes (a new currency shows up
within that time).
"""

from typing import Final

from accord.connectors.cache import TtlCache
from accord.connectors.netsuite.connector import NetSuiteConnector

__all__ = ["currency_ids"]

_REFERENCE_TTL_S: Final = 300.0
_currencies = TtlCache()


def currency_ids(connector: NetSuiteConnector) -> dict[str, str]:
    """ISO 4217 code -> the account's currency internal id."""

    def load() -> dict[str, str]:
        page = connector.read_page("currency", limit=200)
        return {
            str(r.get("symbol") or r.get("name")): str(r.get("id"))
            for r in page.records
            if r.get("id") is not None
        }

    return _currencies.get_or_load(
        f"{connector.name}@{connector.config.base_url}", _REFERENCE_TTL_S, load
    )
