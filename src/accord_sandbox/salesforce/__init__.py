"""Salesforce emulator with the Certinia PSA (``pse__``) objects: REST, SOQL, composite, OAuth2.

Modules: ``ids`` (record ids), ``schema`` (object metadata and describe), ``soql`` (query parser
and evaluator), ``engine`` (typed writes, validation, rollback), ``rest`` (resources),
``seed`` (the synthetic firm), ``app`` (HTTP, auth, limits, control knobs).
"""

from accord_sandbox.salesforce.app import API_VERSIONS, LATEST_VERSION, SalesforceEmulator
from accord_sandbox.salesforce.engine import SfError
from accord_sandbox.salesforce.ids import is_well_formed, make_id, to_18

__all__ = [
    "API_VERSIONS",
    "LATEST_VERSION",
    "SalesforceEmulator",
    "SfError",
    "is_well_formed",
    "make_id",
    "to_18",
]
