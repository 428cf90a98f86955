"""Files Accord ships beside its code: the default rules, the JSON Schemas, the OpenAPI document.

A source checkout keeps them at the top of the repository (``rules/``, ``schemas/``,
``openapi/``), where contributors edit and regenerate them; the wheel carries the same folders
as package data under ``accord/_data/`` (``[tool.hatch.build.targets.wheel.force-include]``).
:func:`packaged` looks in the installed package first, through :mod:`importlib.resources`, then
in the checkout, so ``accord run`` finds its default rules from any working directory, however
Accord was installed.

What does *not* belong here: the firm's own files (``accord.yaml``, a customised rules file),
which are configuration and are named in settings.
"""

from importlib import resources
from pathlib import Path

from accord.errors import ConfigError

__all__ = ["default_rules_path", "openapi_path", "packaged", "schemas_dir"]

_DATA = "_data"
"""The package folder the wheel carries the data under."""
_CHECKOUT = Path(__file__).resolve().parents[2]
"""The repository root when Accord runs from a source checkout (``src/accord/..``)."""


def packaged(relative: str) -> Path:
    """The path of a shipped file or folder (``"rules/default.yaml"``, ``"schemas"``).

    Raises:
        ConfigError: Neither the installed package nor a source checkout holds it (a wheel
            built without its data, or a package imported from a zip file).
    """
    installed = resources.files("accord").joinpath(_DATA, *relative.split("/"))
    # Installed packages are plain folders; a zipped import has no file-system path to hand out.
    if isinstance(installed, Path) and installed.exists():
        return installed
    checkout = _CHECKOUT / relative
    if checkout.exists():
        return checkout
    raise ConfigError(f"Accord's {relative} is missing from this installation; reinstall Accord")


def default_rules_path() -> Path:
    """The rules file Accord ships (``rules/default.yaml``), used when none is configured."""
    return packaged("rules/default.yaml")


def schemas_dir() -> Path:
    """The folder of the canonical model's published JSON Schemas."""
    return packaged("schemas")


def openapi_path() -> Path:
    """The published OpenAPI document of API v1."""
    return packaged("openapi/v1.json")
