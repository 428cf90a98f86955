"""Loading the synthetic firm into the emulated org (through the engine, so rules apply).

What the firm puts in Salesforce: Certinia regions and practices, products for the service
packages, the account hierarchy, consultants as Certinia resources (Contacts), opportunity
owners (Users) and opportunities. Accord's own ``Accord_Id__c`` stays empty on seeded records
(Accord assigns it); the firm's keys are kept in ``AccountNumber`` and in the emulator's
firm-id map (``GET /__sandbox/salesforce/firm_ids``). The one exception is a consultant's
Contact, whose ``Accord_Id__c`` is the consultant id ([inferred]: the firm's resource
onboarding keys PSA resources by the employee id its ERP uses; time-to-bill maps a timecard's
resource through it).
"""

from collections.abc import Callable
from typing import Any

from accord_sandbox.firm import ConsultantSpec, Firm
from accord_sandbox.salesforce.engine import Engine
from accord_sandbox.salesforce.schema import STAGES

__all__ = ["BILLING_MODEL_VALUES", "seed_firm"]

BILLING_MODEL_VALUES = {
    "time_and_materials": "Time and Materials",
    "fixed_fee": "Fixed Fee",
    "milestone": "Milestone",
    "retainer": "Retainer",
}
"""The firm's billing models as ``Billing_Model__c`` picklist values."""


def _grow_picklists(engine: Engine, firm: Firm) -> None:
    schema = engine.schema
    entities = [e.code for e in firm.legal_entities]
    for obj in ("Account", "Contact", "Opportunity"):
        schema.add_picklist_values(obj, "Legal_Entity__c", entities)
    schema.add_picklist_values("Opportunity", "Practice__c", [p.code for p in firm.practices])
    schema.add_picklist_values("Opportunity", "Region__c", [r.code for r in firm.regions])
    schema.add_picklist_values(
        "Opportunity", "Service_Package__c", [s.code for s in firm.service_packages]
    )
    schema.add_picklist_values(
        "Opportunity", "StageName", [o.stage for o in firm.opportunities if o.stage not in STAGES]
    )
    schema.add_picklist_values("Account", "Industry", sorted({c.industry for c in firm.customers}))
    schema.add_picklist_values(
        "Contact", "pse__Resource_Role__c", sorted({c.role for c in firm.consultants})
    )
    currencies = sorted({*firm.currencies(), *(o.currency for o in firm.opportunities)})
    for o in schema.objects.values():
        if "CurrencyIsoCode" in o.fields:
            schema.add_picklist_values(o.name, "CurrencyIsoCode", currencies)


def _seed_vendors(create: Callable[[str, str, dict[str, Any]], str], firm: Firm) -> None:
    """Vendor accounts: Certinia names a vendor invoice's vendor as an account.

    The firm's vendor key is the account's ``Accord_Id__c`` ([inferred] the firm's set-up).
    """
    for v in firm.vendors:
        create(
            "Account",
            v.id,
            {
                "Name": v.name,
                "AccountNumber": v.id,
                "Accord_Id__c": v.id,
                "Type": "Vendor",
                "Legal_Entity__c": v.legal_entity,
                "CurrencyIsoCode": v.currency,
            },
        )


def seed_firm(engine: Engine, firm: Firm) -> dict[str, str]:
    """Create the firm's records; returns firm key -> Salesforce id."""
    _grow_picklists(engine, firm)
    schema = engine.schema
    ids: dict[str, str] = {}

    def create(obj: str, key: str, body: dict[str, Any]) -> str:
        rec = engine.create(schema.objects[obj], {k: v for k, v in body.items() if v is not None})
        ids[key] = rec["Id"]
        return str(rec["Id"])

    for r in firm.regions:
        create(
            "pse__Region__c",
            r.code,
            {"Name": r.name, "Code__c": r.code, "Tax_Region__c": r.tax_region},
        )
    for p in firm.practices:
        create("pse__Practice__c", p.code, {"Name": p.name, "Code__c": p.code})
    for s in firm.service_packages:
        create(
            "Product2",
            s.code,
            {
                "Name": s.name,
                "ProductCode": s.code,
                "IsActive": True,
                "Billing_Model__c": BILLING_MODEL_VALUES[s.billing_model],
                "Project_Template__c": s.template,
            },
        )
    pending = list(firm.customers)
    while pending:  # parents before children, whatever order the firm lists them in
        progressed = False
        for c in list(pending):
            if c.parent_id is not None and c.parent_id not in ids:
                continue
            pending.remove(c)
            progressed = True
            create(
                "Account",
                c.id,
                {
                    "Name": c.name,
                    "AccountNumber": c.id,
                    "ParentId": ids.get(c.parent_id) if c.parent_id else None,
                    "Type": "Customer - Direct",
                    "Industry": c.industry,
                    "Legal_Entity__c": c.legal_entity,
                    "Tax_Region__c": c.tax_region,
                    "CurrencyIsoCode": c.currency,
                    "BillingStreet": c.street,
                    "BillingCity": c.city,
                    "BillingState": c.state,
                    "BillingPostalCode": c.postal_code,
                    "BillingCountry": c.country,
                },
            )
        if not progressed:
            msg = f"customer hierarchy has a cycle or a missing parent: {[c.id for c in pending]}"
            raise ValueError(msg)
    _seed_vendors(create, firm)
    for k in firm.consultants:
        create(
            "Contact",
            k.id,
            {
                "FirstName": k.first_name,
                "LastName": k.last_name,
                "Email": k.email,
                "Accord_Id__c": k.id,
                "Title": k.role,
                "Legal_Entity__c": k.legal_entity,
                "CurrencyIsoCode": k.currency,
                "pse__Is_Resource__c": True,
                "pse__Is_Resource_Active__c": True,
                "pse__Resource_Role__c": k.role,
                "pse__Region__c": ids.get(k.region),
                "pse__Practice__c": ids.get(k.practice),
                "pse__Default_Cost_Rate__c": float(k.cost_rate),
            },
        )
    # One org-wide rate card per role and currency (no account, region or dates): what the
    # firm bills each role at, the first consultant of the role in a currency setting it.
    cards: dict[tuple[str, str], ConsultantSpec] = {}
    for k in firm.consultants:
        cards.setdefault((k.role, k.currency), k)
    for (role, currency), k in cards.items():
        create(
            "pse__Rate_Card__c",
            f"rate:{role}:{currency}",
            {
                "pse__Role__c": role,
                "CurrencyIsoCode": currency,
                "pse__Suggested_Bill_Rate__c": float(k.bill_rate),
                "pse__Average_Cost_Rate__c": float(k.cost_rate),
                "Accord_Id__c": f"RC-{role.upper().replace(' ', '-')}-{currency}",
            },
        )
    owners: dict[str, str] = {}
    for o in firm.opportunities:
        email = o.owner_email.lower()
        if email not in owners:
            local = email.split("@", 1)[0]
            first, _, last = local.partition(".")
            owners[email] = create(
                "User",
                f"user:{email}",
                {
                    "FirstName": first.title() if last else None,
                    "LastName": (last or first).title(),
                    "Email": email,
                    "Username": email,
                    "Alias": local[:8],
                },
            )
        create(
            "Opportunity",
            o.id,
            {
                "Name": o.name,
                "AccountId": ids[o.customer_id],
                "OwnerId": owners[email],
                "StageName": o.stage,
                "Amount": float(o.amount),
                "CurrencyIsoCode": o.currency,
                "CloseDate": o.close_date.isoformat(),
                "Service_Package__c": o.service_package,
                "Billing_Model__c": BILLING_MODEL_VALUES[o.billing_model],
                "Legal_Entity__c": o.legal_entity,
                "Practice__c": o.practice,
                "Region__c": o.region,
                "Start_Date__c": o.start_date.isoformat(),
                "End_Date__c": o.end_date.isoformat(),
            },
        )
    return ids
