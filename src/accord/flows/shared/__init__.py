"""What several flows share: settings read from ``accord.yaml``, the rules, shared steps.

No flow package imports another; what two flows need lives here (and this package imports
no flow package).
"""
