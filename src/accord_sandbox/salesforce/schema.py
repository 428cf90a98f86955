"""Object metadata of the emulated org: standard objects, Certinia ``pse__`` objects, custom fields.

This module describes *what* exists (fields, types, picklists, key prefixes, relationships) and
renders the ``describe`` answers; it does not store records or validate writes (``engine.py``).
Field lists follow ``shared/reference/saas-apis.md`` sections 1.9 and 2; fields marked there as
[inferred] are kept, and picklist values beyond the ones the reference quotes are [inferred].
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "FieldDef",
    "ObjectDef",
    "Schema",
    "build_schema",
    "read_value",
]

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "address": "urn:address",
}
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, as ``describe`` reports it."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False
    """Not nillable and not defaulted: a create without it answers REQUIRED_FIELD_MISSING."""
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    precision: int = 0
    scale: int = 0
    calculated: bool = False
    auto_number: str | None = None
    """Display format of an auto-number field, e.g. ``TC-{0000000}``."""

    @property
    def custom(self) -> bool:
        """Whether the field is custom (``__c``), including managed-package ``pse__`` fields."""
        return self.name.endswith("__c")

    @property
    def nillable(self) -> bool:
        """Whether the field may be empty."""
        return not self.required and self.type not in {"boolean", "id"}

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``/sobjects/{X}/describe``."""
        length = self.length or (255 if self.type in TEXT_TYPES else 0)
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": _SOAP.get(self.type, "xsd:string"),
            "length": length if self.type in TEXT_TYPES else 0,
            "byteLength": length * 3
            if self.type in TEXT_TYPES
            else (18 if self.type in {"id", "reference"} else 0),
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "custom": self.custom,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "calculated": self.calculated,
            "autoNumber": self.auto_number is not None,
            "defaultedOnCreate": self.default is not None
            or self.type == "boolean"
            or not self.createable,
            "defaultValue": self.default if self.type != "id" else None,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "caseSensitive": False,
            "filterable": self.type != "address",
            "sortable": self.type not in {"address", "textarea"},
            "groupable": self.type not in {"address", "textarea", "double", "currency", "percent"},
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "cascadeDelete": False,
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": v == self.default,
                    "label": v,
                    "validFor": None,
                    "value": v,
                }
                for v in self.picklist
            ],
            "dependentPicklist": False,
            "htmlFormatted": False,
            "inlineHelpText": None,
        }


@dataclass
class ObjectDef:
    """One sObject type: name, key prefix and fields by API name."""

    name: str
    label: str
    label_plural: str
    prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        """Whether the object is custom (all Certinia objects are, being a managed package)."""
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        """A field by API name, case-insensitively (SOQL and REST bodies are case-insensitive)."""
        hit = self.fields.get(name)
        if hit is not None:
            return hit
        lower = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lower), None)

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (``Account`` -> AccountId)."""
        lower = name.lower()
        return next(
            (f for f in self.fields.values() if (f.relationship_name or "").lower() == lower), None
        )

    def urls(self, version: str) -> dict[str, str]:
        """The ``urls`` block of the describe answers."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def summary(self, version: str) -> dict[str, Any]:
        """The object's entry in the global ``/sobjects`` list."""
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.prefix,
            "custom": self.custom,
            "customSetting": False,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "undeletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "layoutable": True,
            "replicateable": True,
            "mergeable": self.name in {"Account", "Contact"},
            "feedEnabled": False,
            "activateable": False,
            "deprecatedAndHidden": False,
            "urls": self.urls(version),
        }


class Schema:
    """Every object of the org; picklists can grow per emulator (the firm's practices, regions)."""

    def __init__(self, objects: Iterable[ObjectDef]) -> None:
        self.objects: dict[str, ObjectDef] = {o.name: o for o in objects}
        self.by_prefix: dict[str, ObjectDef] = {o.prefix: o for o in self.objects.values()}

    def get(self, name: str) -> ObjectDef | None:
        """An object by API name, case-insensitively."""
        hit = self.objects.get(name)
        if hit is not None:
            return hit
        lower = name.lower()
        return next((o for o in self.objects.values() if o.name.lower() == lower), None)

    def add_picklist_values(self, obj: str, field_name: str, values: Iterable[str]) -> None:
        """Add values (keeping order, no duplicates) to one picklist."""
        o = self.objects[obj]
        f = o.fields[field_name]
        merged = list(f.picklist)
        for v in values:
            if v not in merged:
                merged.append(v)
        o.fields[field_name] = replace(f, picklist=tuple(merged))

    def children(self, obj: str) -> list[dict[str, Any]]:
        """``childRelationships`` of one object: every reference field pointing at it."""
        return [
            {
                "childSObject": other.name,
                "field": f.name,
                "relationshipName": _plural_relationship(other),
                "cascadeDelete": False,
                "deprecatedAndHidden": False,
                "restrictedDelete": False,
            }
            for other in self.objects.values()
            for f in other.fields.values()
            if obj in f.reference_to and f.relationship_name
        ]

    def describe(self, name: str, version: str) -> dict[str, Any]:
        """The answer of ``GET /sobjects/{X}/describe``."""
        o = self.objects[name]
        return {
            **o.summary(version),
            "fields": [f.describe() for f in o.fields.values()],
            "childRelationships": self.children(name),
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All records", "name": "everything"}],
            "urls": o.urls(version),
        }

    def global_describe(self, version: str) -> dict[str, Any]:
        """The answer of ``GET /sobjects``."""
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.summary(version) for o in self.objects.values()],
        }


def _plural_relationship(o: ObjectDef) -> str:
    if o.custom:
        return o.name[:-3] + "s__r"
    return o.label_plural.replace(" ", "")


# --------------------------------------------------------------------------- field builders
def _label(name: str) -> str:
    core = name.removeprefix("pse__").removesuffix("__c")
    if core.endswith("Id") and len(core) > 2 and not core.endswith("__Id"):
        core = core[:-2] + " ID"
    return core.replace("_", " ").strip()


def _f(name: str, type_: str, **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    kw.setdefault("label", _label(name))
    if type_ in NUMBER_TYPES and "precision" not in kw:
        kw["precision"], kw["scale"] = (18, 2) if type_ != "int" else (9, 0)
    return FieldDef(name=name, type=type_, **kw)


def _s(name: str, length: int = 255, **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    return _f(name, "string", length=length, **kw)


def _ref(name: str, to: str, rel: str | None = None, **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    if rel is None:
        rel = name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id")
    return _f(name, "reference", reference_to=(to,), relationship_name=rel, **kw)


def _pick(name: str, values: Iterable[str], **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    return _f(name, "picklist", picklist=tuple(values), length=255, **kw)


def _bool(name: str, default: bool = False, **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    return _f(name, "boolean", default=default, **kw)


def _calc(name: str, type_: str, **kw: Any) -> FieldDef:  # noqa: ANN401 - FieldDef keywords
    return _f(name, type_, createable=False, updateable=False, calculated=True, **kw)


def _auto(fmt: str) -> FieldDef:
    return _f("Name", "string", length=80, createable=False, updateable=False, auto_number=fmt)


def _ext(name: str = "Accord_Id__c", *, unique: bool = False) -> FieldDef:
    return _s(name, external_id=True, unique=unique)


def _address(prefix: str) -> list[FieldDef]:
    return [
        _f(f"{prefix}Street", "textarea", length=255),
        _s(f"{prefix}City", 40),
        _s(f"{prefix}State", 80),
        _s(f"{prefix}PostalCode", 20),
        _s(f"{prefix}Country", 80),
        _calc(f"{prefix}Address", "address"),
    ]


_CURRENCIES = ("USD", "GBP", "EUR")
LEGAL_ENTITIES = ("US01", "UK01", "DE01")
SERVICE_PACKAGES = ("ADVISORY-TM", "IMPL-FIXED", "ROLLOUT-MILESTONE", "MANAGED-RETAINER")
BILLING_MODELS = ("Time and Materials", "Fixed Fee", "Milestone", "Retainer")
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
# [inferred] status values of the integration write-back fields (Accord's own custom fields).
INTEGRATION_STATUSES = ("Pending", "In Progress", "Provisioned", "On Hold", "Error")
AR_STATUSES = ("Current", "Overdue", "In Collections", "Credit Hold", "Paid")


def _obj(
    name: str,
    label: str,
    plural: str,
    prefix: str,
    fields: list[FieldDef],
    *,
    owner: bool = True,
    currency: bool = True,
) -> ObjectDef:
    """An object with the system fields every sObject has, in describe order."""
    head = [_f("Id", "id", label=f"{label} ID", createable=False, updateable=False)]
    head.append(_f("IsDeleted", "boolean", label="Deleted", createable=False, updateable=False))
    if owner:
        head.append(_ref("OwnerId", "User", "Owner", label="Owner ID"))
    tail = [
        _f("CreatedDate", "datetime", label="Created Date", createable=False, updateable=False),
        _ref("CreatedById", "User", "CreatedBy", createable=False, updateable=False),
        _f("LastModifiedDate", "datetime", createable=False, updateable=False),
        _ref("LastModifiedById", "User", "LastModifiedBy", createable=False, updateable=False),
        _f(
            "SystemModstamp",
            "datetime",
            label="System Modstamp",
            createable=False,
            updateable=False,
        ),
    ]
    if currency:
        # A multi-currency org: the firm contracts in USD, GBP and EUR (reference 1.9).
        tail.append(
            _pick("CurrencyIsoCode", _CURRENCIES, label="Currency ISO Code", restricted=True)
        )
    o = ObjectDef(name, label, plural, prefix)
    for f in [*head, *fields, *tail]:
        o.fields[f.name] = f
    return o


def _days(kind: str) -> list[FieldDef]:
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    if kind == "hours":
        return [_f(f"pse__{d}_Hours__c", "double", default=0.0) for d in days]
    if kind == "notes":
        return [_f(f"pse__{d}_Notes__c", "textarea", length=255) for d in days]
    return [_s(f"pse__Location_{d[:3]}__c") for d in days]


def _standard() -> list[ObjectDef]:
    user = _obj(
        "User",
        "User",
        "Users",
        "005",
        [
            _calc("Name", "string", length=121),
            _s("FirstName", 40),
            _s("LastName", 80, required=True),
            _f("Email", "email", length=128, required=True),
            _s("Username", 80, required=True, unique=True),
            _s("Alias", 8),
            _bool("IsActive", default=True),
        ],
        owner=False,
    )
    account = _obj(
        "Account",
        "Account",
        "Accounts",
        "001",
        [
            _s("Name", required=True, label="Account Name"),
            _s("AccountNumber", 40, label="Account Number"),
            _ref("ParentId", "Account", "Parent"),
            # [inferred] (not in the reference): the standard read-only lookup a merge sets on
            # the losing account, which is then deleted (see SalesforceEngine.merge).
            _ref("MasterRecordId", "Account", "MasterRecord", createable=False, updateable=False),
            # "Vendor" is the org's own value [inferred]: Certinia's vendor invoices name their
            # vendor as an account.
            _pick(
                "Type",
                (
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Partner",
                    "Vendor",
                    "Other",
                ),
            ),
            _pick("Industry", ("Consulting", "Financial Services", "Manufacturing", "Technology")),
            _f("Phone", "phone", length=40),
            _f("Website", "url", length=255),
            _f("Description", "textarea", length=32000),
            *_address("Billing"),
            *_address("Shipping"),
            _ext(),
            _pick("Legal_Entity__c", LEGAL_ENTITIES, restricted=True),
            _s("Tax_Region__c", 40),
            _pick("AR_Status__c", AR_STATUSES, label="AR Status"),
            _f("AR_Balance__c", "currency", label="AR Balance"),
            _f("Last_Payment_Date__c", "date"),
            # [inferred] custom field: the number of the customer's latest posted invoice,
            # written back by Accord's cash flow beside the receivable fields above.
            _s("Last_Invoice_Number__c", 80, label="Last Invoice Number"),
        ],
    )
    contact = _obj(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        [
            _calc("Name", "string", length=121, label="Full Name"),
            _s("FirstName", 40),
            _s("LastName", 80, required=True),
            _ref("AccountId", "Account", "Account"),
            _f("Email", "email", length=80),
            _f("Phone", "phone", length=40),
            _s("Title", 128),
            _s("Department", 80),
            _s("MailingCity", 40),
            _s("MailingCountry", 80),
            _ext(),
            _pick("Legal_Entity__c", LEGAL_ENTITIES, restricted=True),
            # Certinia marks a Contact as a bookable resource (reference section 2).
            _bool("pse__Is_Resource__c"),
            _bool("pse__Is_Resource_Active__c"),
            _pick(
                "pse__Resource_Role__c", ("Consultant", "Senior Consultant", "Manager", "Partner")
            ),
            _ref("pse__Region__c", "pse__Region__c"),
            _ref("pse__Practice__c", "pse__Practice__c"),
            _f("pse__Default_Cost_Rate__c", "currency"),
        ],
    )
    opportunity = _obj(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        [
            _s("Name", 120, required=True),
            _ref("AccountId", "Account", "Account"),
            _f("Amount", "currency"),
            _f("CloseDate", "date", required=True),
            # [inferred] the stage picklist is restricted, as the standard OpportunityStage set is.
            _pick("StageName", STAGES, required=True, restricted=True, label="Stage"),
            _calc("IsClosed", "boolean", label="Closed"),
            _calc("IsWon", "boolean", label="Won"),
            _f("Probability", "percent", precision=3, scale=0),
            _pick("Type", ("New Business", "Existing Business", "Renewal")),
            _pick("LeadSource", ("Web", "Partner", "Referral", "Other")),
            _f("Description", "textarea", length=32000),
            _s("NextStep", 255),
            _ref("Pricebook2Id", "Pricebook2", "Pricebook2"),
            _ref("ContractId", "Contract", "Contract"),
            _calc("HasOpportunityLineItem", "boolean"),
            _calc(
                "ForecastCategoryName",
                "picklist",
                picklist=("Pipeline", "Best Case", "Commit", "Closed", "Omitted"),
            ),
            _calc("FiscalYear", "int"),
            _calc("FiscalQuarter", "int"),
            _pick("Service_Package__c", SERVICE_PACKAGES, restricted=True),
            _pick("Billing_Model__c", BILLING_MODELS, restricted=True),
            _pick("Legal_Entity__c", LEGAL_ENTITIES, restricted=True),
            _pick("Practice__c", ()),
            _pick("Region__c", ()),
            _f("Start_Date__c", "date"),
            _f("End_Date__c", "date"),
            _s("PSA_Project_Id__c", 255, label="PSA Project Id"),
            _s("ERP_Project_Id__c", 255, label="ERP Project Id"),
            # Text, not a restricted picklist, on the opportunity: lead-to-project writes
            # "Needs attention: <reason>" there for sales ops (issue 5).
            _s("Integration_Status__c", 255, label="Integration Status"),
            _ext(unique=True),
        ],
    )
    line = _obj(
        "OpportunityLineItem",
        "Opportunity Product",
        "Opportunity Product",
        "00k",
        [
            _ref("OpportunityId", "Opportunity", "Opportunity", required=True, updateable=False),
            # [inferred] Pricebook entries are not emulated: the id is kept, not checked.
            _ref("PricebookEntryId", "PricebookEntry", "PricebookEntry", updateable=False),
            _ref("Product2Id", "Product2", "Product2", updateable=False),
            _calc("ProductCode", "string"),
            _calc("Name", "string", label="Opportunity Product Name"),
            _f("Quantity", "double", required=True, precision=12, scale=2),
            _f("UnitPrice", "currency", label="Sales Price"),
            _f("ListPrice", "currency"),
            _f("TotalPrice", "currency"),
            _f("Discount", "percent"),
            _f("ServiceDate", "date"),
            _f("Description", "textarea", length=255),
            _f("SortOrder", "int"),
        ],
        owner=False,
    )
    product = _obj(
        "Product2",
        "Product",
        "Products",
        "01t",
        [
            _s("Name", required=True, label="Product Name"),
            _s("ProductCode", 255),
            _pick("Family", ("Advisory", "Implementation", "Rollout", "Managed Services")),
            _bool("IsActive"),
            _f("Description", "textarea", length=4000),
            _pick("Billing_Model__c", BILLING_MODELS, restricted=True),
            _s("Project_Template__c", 80),
            _ext(),
        ],
        owner=False,
    )
    contract = _obj(
        "Contract",
        "Contract",
        "Contracts",
        "800",
        [
            _s("Name", 80, label="Contract Name"),
            _ref("AccountId", "Account", "Account", required=True),
            _f("StartDate", "date"),
            # EndDate is derived from StartDate + ContractTerm, as on the platform.
            _calc("EndDate", "date"),
            _f("ContractTerm", "int"),
            _pick(
                "Status",
                ("Draft", "In Approval Process", "Activated"),
                restricted=True,
                default="Draft",
            ),
            _calc("StatusCode", "picklist", picklist=("Draft", "InApproval", "Activated")),
            _f(
                "ContractNumber",
                "string",
                length=30,
                createable=False,
                updateable=False,
                auto_number="{00000000}",
            ),
            _f("ActivatedDate", "datetime", createable=False, updateable=False),
            _ref("ActivatedById", "User", "ActivatedBy", createable=False, updateable=False),
            _f("CompanySignedDate", "date"),
            _f("CustomerSignedDate", "date"),
            _f("Description", "textarea", length=32000),
            *_address("Billing"),
            _ext(),
        ],
    )
    return [user, account, contact, opportunity, line, product, contract]


def _certinia() -> list[ObjectDef]:
    # Certinia's key prefixes are assigned per org at package install; these are [inferred].
    region = _obj(
        "pse__Region__c",
        "Region",
        "Regions",
        "a0R",
        [
            _s("Name", 80, required=True, label="Region Name"),
            _ref("pse__Parent_Region__c", "pse__Region__c"),
            _s("Code__c", 40, external_id=True, unique=True),
            _s("Tax_Region__c", 40),
        ],
    )
    practice = _obj(
        "pse__Practice__c",
        "Practice",
        "Practices",
        "a0Q",
        [
            _s("Name", 80, required=True, label="Practice Name"),
            _ref("pse__Parent_Practice__c", "pse__Practice__c"),
            _s("Code__c", 40, external_id=True, unique=True),
        ],
    )
    project = _obj(
        "pse__Proj__c",
        "Project",
        "Projects",
        "a0P",
        [
            _s("Name", 80, required=True, label="Project Name"),
            _ref("pse__Account__c", "Account"),
            _ref("pse__Opportunity__c", "Opportunity"),
            _ref("pse__Region__c", "pse__Region__c"),
            _ref("pse__Practice__c", "pse__Practice__c"),
            # [inferred] groups are not emulated: the id is kept, not checked.
            _ref("pse__Group__c", "pse__Grp__c"),
            _ref("pse__Project_Manager__c", "Contact"),
            _f("pse__Start_Date__c", "date"),
            _f("pse__End_Date__c", "date"),
            # The hold switch: 'On Hold' is the reference's stage for a paused project.
            _pick("pse__Stage__c", ("Planned", "In Progress", "On Hold", "Completed", "Canceled")),
            _pick("pse__Project_Type__c", ("Client", "Internal")),
            _pick("pse__Billing_Type__c", ("Time and Materials", "Fixed Price", "T&M/Fixed")),
            _bool("pse__Is_Billable__c"),
            _bool("pse__Is_Active__c"),
            _bool("pse__Closed_for_Time_Entry__c"),
            _bool("pse__Closed_for_Expense_Entry__c"),
            _bool("pse__Allow_Timecards_Without_Assignment__c"),
            _bool("pse__Allow_Expenses_Without_Assignment__c"),
            _s("pse__Project_ID__c", 80, label="Project ID"),
            _pick("pse__Project_Phase__c", ("Initiation", "Planning", "Execution", "Closure")),
            _pick("pse__Project_Status__c", ("Green", "Yellow", "Red")),
            _f("pse__Planned_Hours__c", "double"),
            _f("pse__Bookings__c", "currency"),
            _f("pse__Billings__c", "currency"),
            _f("pse__Revenue__c", "currency"),
            _f("pse__Total_Costs__c", "currency"),
            _bool("pse__Is_Template__c"),
            _bool("pse__Exclude_From_Billing__c"),
            _ext(unique=True),
            _s("ERP_Project_Id__c", 255, label="ERP Project Id"),
            _pick("Integration_Status__c", INTEGRATION_STATUSES, restricted=True),
            _f("Integration_Message__c", "textarea", length=1000),
            # The firm's own project fields (rules/default.yaml ``custom_fields``) [inferred].
            _pick("Delivery_Health__c", ("Green", "Amber", "Red"), label="Delivery Health"),
            _s("Customer_PO__c", 40, label="Customer PO"),
        ],
    )
    schedule = _obj(
        "pse__Schedule__c",
        "Schedule",
        "Schedules",
        "a0S",
        [
            _auto("SCH-{0000000}"),
            _f("pse__Start_Date__c", "date", required=True),
            _f("pse__End_Date__c", "date", required=True),
            *_days("hours"),
        ],
    )
    assignment = _obj(
        "pse__Assignment__c",
        "Assignment",
        "Assignments",
        "a0A",
        [
            _auto("AS-{0000000}"),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _ref("pse__Resource__c", "Contact", required=True),
            _ref("pse__Schedule__c", "pse__Schedule__c", required=True),
            _f("pse__Bill_Rate__c", "currency"),
            _f("pse__Cost_Rate_Amount__c", "currency"),
            _pick("pse__Role__c", ("Consultant", "Senior Consultant", "Manager", "Partner")),
            _pick("pse__Status__c", ("Tentative", "Scheduled", "Closed"), default="Scheduled"),
            _calc("pse__Start_Date__c", "date"),
            _calc("pse__End_Date__c", "date"),
            _bool("pse__Closed_for_Time_Entry__c"),
            _bool("pse__Exclude_from_Planners__c"),
            _bool("pse__Is_Billable__c", default=True),
            _ext(unique=True),
        ],
    )
    milestone = _obj(
        "pse__Milestone__c",
        "Milestone",
        "Milestones",
        "a0M",
        [
            _s("Name", 80, required=True, label="Milestone Name"),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _f("pse__Target_Date__c", "date"),
            _pick("pse__Status__c", ("Planned", "Open", "Approved", "Canceled"), default="Planned"),
            _f("pse__Milestone_Amount__c", "currency"),
            _f("pse__Milestone_Cost__c", "currency"),
            _bool("pse__Requires_Customer_Sign_off__c"),
            _bool("pse__Include_In_Financials__c"),
            _bool("pse__Invoiced__c"),
            _bool("pse__Approved__c"),
            _ext(unique=True),
        ],
    )
    # Reference section 2 names pse__Project_Task__c among "other objects" without fields:
    # the field list is [inferred] (a project's phases / work breakdown, one task per phase),
    # the estimate and progress fields after a public listing of the package's fields
    # ("Estimated Hours", "Actual Hours", "Percent Complete (Hours)", "Parent Task").
    task = _obj(
        "pse__Project_Task__c",
        "Project Task",
        "Project Tasks",
        "a0K",
        [
            _s("Name", 80, required=True, label="Project Task Name"),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _ref("pse__Parent_Task__c", "pse__Project_Task__c"),
            _f("pse__Start_Date__c", "date"),
            _f("pse__End_Date__c", "date"),
            _f("pse__Order__c", "double"),
            _pick(
                "pse__Status__c",
                ("Planned", "In Progress", "Complete", "Canceled"),
                default="Planned",
            ),
            _f("pse__Estimated_Hours__c", "double"),
            _f("pse__Actual_Hours__c", "double"),
            _f("pse__Percent_Complete_Hours__c", "percent", label="Percent Complete (Hours)"),
            _ext(unique=True),
        ],
    )
    # The same public listing: "Project Task, Resource, Assignment, Project, Estimated Hours".
    task_assignment = _obj(
        "pse__Project_Task_Assignment__c",
        "Project Task Assignment",
        "Project Task Assignments",
        "a0X",
        [
            _auto("PTA-{0000000}"),
            _ref("pse__Project_Task__c", "pse__Project_Task__c", required=True),
            _ref("pse__Resource__c", "Contact", required=True),
            _ref("pse__Project__c", "pse__Proj__c"),
            _ref("pse__Assignment__c", "pse__Assignment__c"),
            _f("pse__Estimated_Hours__c", "double"),
            _ext(unique=True),
        ],
    )
    # Vendor invoices (subcontractor and pass-through costs): pse__Vendor_Invoice__c and its
    # items are package objects (public Lightning page configuration names both); fields and
    # status values are [inferred]. An item charges one project; the vendor is an account.
    vendor_invoice = _obj(
        "pse__Vendor_Invoice__c",
        "Vendor Invoice",
        "Vendor Invoices",
        "a0V",
        [
            _auto("VI-{0000000}"),
            _ref("pse__Account__c", "Account", required=True),
            _s("pse__Invoice_Number__c", 80),
            _f("pse__Date__c", "date"),
            _pick(
                "pse__Status__c", ("Draft", "Submitted", "Approved", "Rejected"), default="Draft"
            ),
            _f("pse__Description__c", "textarea", length=255),
            _ext(unique=True),
        ],
    )
    vendor_invoice_item = _obj(
        "pse__Vendor_Invoice_Item__c",
        "Vendor Invoice Item",
        "Vendor Invoice Items",
        "a0W",
        [
            _auto("VII-{0000000}"),
            _ref("pse__Vendor_Invoice__c", "pse__Vendor_Invoice__c", required=True),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _ref("pse__Project_Task__c", "pse__Project_Task__c"),
            _f("pse__Amount__c", "currency", required=True),
            _f("pse__Date__c", "date"),
            _f("pse__Description__c", "textarea", length=255),
            _bool("pse__Billable__c"),
            _ext(unique=True),
        ],
    )
    timecard = _obj(
        "pse__Timecard_Header__c",
        "Timecard",
        "Timecards",
        "a0T",
        [
            _auto("TC-{0000000}"),
            _ref("pse__Resource__c", "Contact", required=True),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _ref("pse__Assignment__c", "pse__Assignment__c"),
            _ref("pse__Milestone__c", "pse__Milestone__c"),
            _f("pse__Start_Date__c", "date", required=True),
            _f("pse__End_Date__c", "date"),
            *_days("hours"),
            *_days("notes"),
            *_days("location"),
            _f("pse__Timecard_Notes__c", "textarea", length=32000),
            _pick(
                "pse__Status__c",
                ("Saved", "Submitted", "Approved", "Rejected"),
                restricted=True,
                default="Saved",
            ),
            _bool("pse__Submitted__c"),
            _bool("pse__Approved__c"),
            _bool("pse__Billable__c", default=True),
            _calc("pse__Total_Hours__c", "double"),
            _f("pse__Audit_Notes__c", "textarea", length=32000),
            _ext(unique=True),
        ],
    )
    expense = _obj(
        "pse__Expense__c",
        "Expense",
        "Expenses",
        "a0E",
        [
            _auto("EX-{0000000}"),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _ref("pse__Resource__c", "Contact", required=True),
            # [inferred] expense reports are not emulated: the id is kept, not checked.
            _ref("pse__Expense_Report__c", "pse__Expense_Report__c"),
            _ref("pse__Assignment__c", "pse__Assignment__c"),
            _pick("pse__Type__c", ("Airfare", "Lodging", "Meals", "Mileage", "Other")),
            _f("pse__Amount__c", "currency", required=True),
            _f("pse__Expense_Date__c", "date", required=True),
            _bool("pse__Billable__c", default=True),
            _pick(
                "pse__Status__c", ("Draft", "Submitted", "Approved", "Rejected"), default="Draft"
            ),
            _f("pse__Description__c", "textarea", length=255),
            _ext(unique=True),
        ],
    )
    billing_event = _obj(
        "pse__Billing_Event__c",
        "Billing Event",
        "Billing Events",
        "a0B",
        [
            _auto("BE-{0000000}"),
            _ref("pse__Project__c", "pse__Proj__c", required=True),
            _f("pse__Date__c", "date"),
            _pick("pse__Status__c", ("Draft", "Released", "Approved", "Invoiced"), default="Draft"),
            _bool("pse__Is_Released__c"),
            _bool("pse__Is_Approved__c"),
            _bool("pse__Invoiced__c"),
            _s("pse__Invoice_Number__c", 80),
            _f("pse__Invoice_Date__c", "date"),
            _f("pse__Summary_Amount__c", "currency"),
            _ref("pse__Billing_Event_Batch__c", "pse__Billing_Event_Batch__c"),
            _ref("pse__Billing_Contact__c", "Contact"),
            _ref("pse__Approver__c", "User"),
            _s("pse__Event_Key__c", 255),
            _f("pse__Budget_Remaining__c", "currency"),
            _bool("pse__Skip_Sync_Check__c"),
            _s("ERP_Id__c", 255, external_id=True, label="ERP Id"),
            _ext(unique=True),
        ],
    )
    # Reference section 2 lists pse__Rate_Card__c among "other objects"; its fields (Resource
    # Role, Region, Service Line (pse__Practice__c), Delivery Model (pse__Group__c), Account,
    # Start/End Date, Suggested Bill Rate, Average Cost Rate) are those a public schema listing
    # of the managed package shows; the API names are [inferred] from Certinia's pse__ pattern.
    rate_card = _obj(
        "pse__Rate_Card__c",
        "Rate Card",
        "Rate Cards",
        "a0H",
        [
            _auto("RC-{000000}"),
            _pick("pse__Role__c", ("Consultant", "Senior Consultant", "Manager", "Partner")),
            _ref("pse__Region__c", "pse__Region__c"),
            _ref("pse__Practice__c", "pse__Practice__c"),
            _ref("pse__Account__c", "Account"),
            _f("pse__Start_Date__c", "date"),
            _f("pse__End_Date__c", "date"),
            _f("pse__Suggested_Bill_Rate__c", "currency"),
            _f("pse__Average_Cost_Rate__c", "currency"),
            _ext(unique=True),
        ],
    )
    return [
        region,
        practice,
        project,
        schedule,
        assignment,
        milestone,
        task,
        task_assignment,
        timecard,
        expense,
        billing_event,
        rate_card,
        vendor_invoice,
        vendor_invoice_item,
    ]


def build_schema() -> Schema:
    """A fresh schema (each emulator owns one, since seeding grows its picklists)."""
    return Schema([*_standard(), *_certinia()])


def read_value(f: FieldDef, record: dict[str, Any]) -> Any:  # noqa: ANN401 - a JSON value
    """The value of one field as the API answers it (compound addresses are assembled here)."""
    if f.type != "address":
        return record.get(f.name)
    prefix = f.name.removesuffix("Address")
    parts = {
        "street": record.get(f"{prefix}Street"),
        "city": record.get(f"{prefix}City"),
        "state": record.get(f"{prefix}State"),
        "postalCode": record.get(f"{prefix}PostalCode"),
        "country": record.get(f"{prefix}Country"),
    }
    if all(v is None for v in parts.values()):
        return None
    return {**parts, "latitude": None, "longitude": None, "geocodeAccuracy": None}
