"""Rules: the firm's declarative configuration, loaded from YAML into typed specs.

Service package -> project template; practice and region -> ERP department, class and cost
center; legal entity -> ERP, connection, subsidiary or company and currency; tax by region;
revenue policy by billing model; exception routing; field ownership. Transforms are a typed
registry, never ``eval``. Each file is versioned by the SHA-256 of its canonical JSON.

This package never imports ``dbos``, ``fastapi``, ``typer`` or ``sqlalchemy``; it depends on
:mod:`accord.domain` only. Regenerate ``rules/schema.json`` with
``python -m accord.rules rules/schema.json``.
"""

from accord.rules.loader import (
    ErpPlacement,
    Rules,
    canonical_json,
    export_schema,
    load_rules,
    parse_rules,
    rules_json_schema,
)
from accord.rules.spec import (
    BcDimensionsSpec,
    BudgetBasis,
    BudgetSpec,
    ExceptionRoutingSpec,
    FieldOwnershipSpec,
    IntercompanyMode,
    IntercompanySpec,
    LegalEntitySpec,
    MigrationSpec,
    MilestoneSpec,
    ObjectOwnershipSpec,
    OwnerQueue,
    OwnerRole,
    PracticeSpec,
    ProjectTemplateSpec,
    PsaSpec,
    QueueSpec,
    RecognitionMethod,
    RegionSpec,
    RevenuePolicySpec,
    RouteSpec,
    RulesSpec,
    Severity,
    TaxKind,
    TaxRuleSpec,
    TransformRef,
)
from accord.rules.transforms import DEFAULT_TRANSFORMS, Transform, TransformRegistry

__all__ = [
    "DEFAULT_TRANSFORMS",
    "BcDimensionsSpec",
    "BudgetBasis",
    "BudgetSpec",
    "ErpPlacement",
    "ExceptionRoutingSpec",
    "FieldOwnershipSpec",
    "IntercompanyMode",
    "IntercompanySpec",
    "LegalEntitySpec",
    "MigrationSpec",
    "MilestoneSpec",
    "ObjectOwnershipSpec",
    "OwnerQueue",
    "OwnerRole",
    "PracticeSpec",
    "ProjectTemplateSpec",
    "PsaSpec",
    "QueueSpec",
    "RecognitionMethod",
    "RegionSpec",
    "RevenuePolicySpec",
    "RouteSpec",
    "Rules",
    "RulesSpec",
    "Severity",
    "TaxKind",
    "TaxRuleSpec",
    "Transform",
    "TransformRef",
    "TransformRegistry",
    "canonical_json",
    "export_schema",
    "load_rules",
    "parse_rules",
    "rules_json_schema",
]
