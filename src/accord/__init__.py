"""Accord: keeps a professional-services firm's CRM, PSA and ERP in accord."""

__version__ = "0.1.0"
