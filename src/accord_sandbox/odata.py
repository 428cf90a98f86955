"""What the two Microsoft OData v4 emulators share: Business Central and Dynamics 365 Finance.

Both sit behind Entra ID (a tenant), page server-side, stamp every change with a row version
(behind ``@odata.etag``), keep per-company number series and are seeded from the synthetic
firm, which a reset seeds again and a saved state carries. :class:`ODataEmulator` holds that
state; each vendor's class adds its keys, error shapes, limits and rules.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from typing_extensions import override

from accord_sandbox.common import Emulator, utc_now
from accord_sandbox.firm import Firm

__all__ = ["ODataEmulator"]


class ODataEmulator(Emulator):
    """Base of the OData v4 emulators: tenant, page size, clock, firm, numbers, row versions.

    Args:
        client_id: The Entra application (client) id accepted by the token endpoint.
        client_secret: Its secret.
        seed: Seed of the emulator's random generator.
        base_url: Where clients reach the emulator.
        tenant: The Entra tenant id in the token path.
        page_size: Entities per page before ``@odata.nextLink``.
        clock: Source of modification times (UTC-aware); the system clock by default.
        limits: enforce the vendor's documented limits.

    Raises:
        ValueError: ``page_size`` is not positive.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        seed: int,
        base_url: str,
        tenant: str,
        page_size: int,
        clock: Callable[[], datetime] | None,
        limits: bool,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self.tenant = tenant
        self.page_size = page_size
        self.clock: Callable[[], datetime] = clock or utc_now
        self.firm: Firm | None = None
        self.company_codes: dict[str, str] = {}
        """Company id (BC) or dataAreaId (F&O) -> the firm's legal-entity code."""
        self.counters: dict[str, int] = {}
        self.rowversion = 0
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            base_url=base_url,
            limits=limits,
        )

    def load_firm(self, firm: Firm) -> None:
        """Create the firm's reference data (the vendor's ``seed.load_firm``)."""
        raise NotImplementedError

    @override
    def seed_firm(self, firm: Any) -> None:
        """Remember the firm (a reset seeds it again) and load its reference data."""
        if not isinstance(firm, Firm):
            raise TypeError("seed_firm expects an accord_sandbox.firm.Firm")
        self.firm = firm
        self.load_firm(firm)

    @override
    def reset_state(self) -> None:
        """Clear records, numbers, row versions and companies; seed the firm again, if any."""
        super().reset_state()
        self.counters.clear()
        self.company_codes.clear()
        self.rowversion = 0
        if self.firm is not None:
            self.seed_firm(self.firm)

    @override
    def dump_extra(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "rowversion": self.rowversion,
            "company_codes": dict(self.company_codes),
            "firm": None if self.firm is None else self.firm.model_dump(mode="json"),
        }

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        self.counters = {k: int(v) for k, v in data.get("counters", {}).items()}
        self.rowversion = int(data.get("rowversion", 0))
        self.company_codes = dict(data.get("company_codes", {}))
        firm = data.get("firm")
        self.firm = None if firm is None else Firm.model_validate(firm)
