"""The synthetic firm's vendors: subcontractors and suppliers, two per legal entity.

Fixed names (not drawn from the seed), so that adding vendors leaves every seeded stream of
the generator as it was. Each vendor bills in its entity's currency; its key
(``VEND-<entity>-<n>``) is what every system's vendor record carries, so that a vendor matches
across the PSA and the ERP.
"""

from collections.abc import Sequence

from accord_sandbox.firm import LegalEntitySpec, VendorSpec

__all__ = ["VENDOR_NAMES", "firm_vendors"]

VENDOR_NAMES: tuple[str, ...] = ("Northwind Subcontracting", "Contoso Data Services")
"""The names of each entity's vendors, suffixed with the entity's country."""


def firm_vendors(entities: Sequence[LegalEntitySpec]) -> tuple[VendorSpec, ...]:
    """Two vendors per legal entity, in entity order."""
    return tuple(
        VendorSpec(
            id=f"VEND-{entity.code}-{n}",
            name=f"{name} {entity.country}",
            legal_entity=entity.code,
            currency=entity.currency,
            email=f"billing{n}.{entity.code.lower()}@vendors.example",
        )
        for entity in entities
        for n, name in enumerate(VENDOR_NAMES, start=1)
    )
