"""The HTTP interface: ops API v1, event intake, webhooks, health and metrics (FastAPI)."""
