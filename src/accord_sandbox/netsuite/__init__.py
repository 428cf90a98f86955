"""NetSuite SuiteTalk REST emulator (record API, SuiteQL, OAuth 2.0 M2M, concurrency limit).

See ``docs/sandbox/netsuite.md`` for every endpoint with an example request.
"""

from accord_sandbox.netsuite.app import SUITEQL_PATH, NetSuiteEmulator
from accord_sandbox.netsuite.auth import TOKEN_PATH
from accord_sandbox.netsuite.book import RECORD_PATH

__all__ = ["RECORD_PATH", "SUITEQL_PATH", "TOKEN_PATH", "NetSuiteEmulator"]
