"""Logging, metrics and tracing: the only place instruments and log formats are defined."""
