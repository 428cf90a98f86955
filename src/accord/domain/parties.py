"""Parties: the firm's legal entities, its customers, its people (resources) and its vendors.

CRM owns the customer relationship, ERP owns the customer as billed and the vendors, PSA owns
resources; the canonical shapes here are what every system's record is mapped to and from.
"""

from typing import ClassVar, Self

from pydantic import Field, model_validator

from accord.domain.base import Address, CanonicalModel, ExternalRef
from accord.domain.enums import ErpSystem
from accord.domain.money import CurrencyCode, Money
from accord.domain.types import CountryCode, Email, Identifier, UtcDatetime

__all__ = ["Customer", "LegalEntity", "Resource", "Vendor"]


class LegalEntity(CanonicalModel):
    """One of the firm's contracting entities (a NetSuite subsidiary or a BC company)."""

    __schema_version__: ClassVar[str] = "1.0"

    code: Identifier = Field(description="Stable code, e.g. US01, UK01.")
    name: Identifier
    currency: CurrencyCode = Field(description="Functional (base) currency of the entity.")
    country: CountryCode | None = None
    erp: ErpSystem = Field(description="The ERP the entity's books live on.")
    refs: tuple[ExternalRef, ...] = ()


class Customer(CanonicalModel):
    """A customer account; ``parent_id`` builds the hierarchy (ultimate parent has none)."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    parent_id: Identifier | None = None
    legal_entity: Identifier = Field(description="Code of the LegalEntity that bills it.")
    bill_to: Address
    tax_region: Identifier
    currency: CurrencyCode = Field(description="Currency the customer is invoiced in.")
    industry: str | None = None
    active: bool = True
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _not_own_parent(self) -> Self:
        if self.parent_id == self.id:
            raise ValueError("a customer cannot be its own parent")
        return self


class Resource(CanonicalModel):
    """A person (or named role) who can be assigned to projects and book time."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    email: Email | None = None
    role: Identifier
    practice: Identifier | None = None
    region: Identifier | None = None
    legal_entity: Identifier = Field(description="Code of the employing LegalEntity.")
    cost_rate: Money | None = Field(default=None, description="Hourly cost.")
    bill_rate: Money | None = Field(default=None, description="Default hourly bill rate.")
    active: bool = True
    refs: tuple[ExternalRef, ...] = ()


class Vendor(CanonicalModel):
    """A supplier or subcontractor the firm buys from; its bills are project costs.

    ``id`` is the firm's own vendor key, which every system's vendor record carries (an
    external id, a number or an external reference), so that a vendor matches across them.
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    name: Identifier
    legal_entity: Identifier | None = Field(
        default=None, description="Code of the LegalEntity it is set up in, if only one."
    )
    currency: CurrencyCode | None = Field(default=None, description="Currency it bills in.")
    email: Email | None = None
    tax_id: str | None = None
    active: bool = True
    refs: tuple[ExternalRef, ...] = ()
