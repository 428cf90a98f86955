"""What Kantata OX needs for Accord: no custom fields, an API user and an OAuth application.

Accord keys its records in Kantata with external references (Kantata's own mechanism, no
custom field), so the setup kit has nothing to deploy here; the prerequisites say what an
administrator sets up by hand.
"""

from accord.connectors.requirements import Requirements

__all__ = ["REQUIREMENTS"]

REQUIREMENTS = Requirements(
    kind="kantata",
    prerequisites=(
        (
            "An OAuth application registered in Kantata OX (Settings > Integrations > API), and an "
            "integration user with access to every workspace Accord provisions or reads."
        ),
        "Workspace templates named as the rules' kantata_workspace_template values.",
    ),
)
"""Kantata's needs: prerequisites only (external references need no setup)."""
