"""Approve in Kantata, post in NetSuite: the lead-to-project harness (sandbox + one Accord)."""

from tests.e2e.lead_to_project.conftest import accord, sandbox

__all__ = ["accord", "sandbox"]
