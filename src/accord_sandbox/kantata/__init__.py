"""Kantata OX (formerly Mavenlink) API v1 emulator.

Start it with ``uvicorn`` on ``KantataEmulator().app`` (default port 8802); see
``docs/sandbox/kantata.md`` for every endpoint.
"""

from accord_sandbox.kantata.app import API_PREFIX, MAX_BULK, KantataEmulator

__all__ = ["API_PREFIX", "MAX_BULK", "KantataEmulator"]
