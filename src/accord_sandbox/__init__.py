"""Faithful local emulators of the SaaS systems Accord integrates (never imported by the core)."""
