"""A typed registry of named string transforms that rules files may call (never ``eval``).

Each transform is a plain function ``(value, args) -> str`` with a frozen pydantic model for
its arguments, so a rules file is checked when it is loaded: an unknown transform name or a
wrong argument is a :class:`~accord.errors.ConfigError` then, not a failure mid-flow.

What does not belong here: field mappings between systems (connectors) and business rules.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.errors import ConfigError

__all__ = ["DEFAULT_TRANSFORMS", "Transform", "TransformRegistry"]

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class _NoArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Truncate(_NoArgs):
    max_length: int = Field(gt=0)


class _Text(_NoArgs):
    text: str


class _Replace(_NoArgs):
    old: str = Field(min_length=1)
    new: str


@dataclass(frozen=True)
class Transform(Generic[ArgsT]):
    """One named transform and the model its arguments must satisfy."""

    name: str
    args_model: type[ArgsT]
    fn: Callable[[str, ArgsT], str]

    def bind(self, args: Mapping[str, Any]) -> Callable[[str], str]:
        """Validate ``args`` and return the transform applied with them.

        Raises:
            ValueError: The arguments do not fit ``args_model``.
        """
        parsed = self.args_model.model_validate(dict(args))
        return lambda value: self.fn(value, parsed)


@dataclass(frozen=True)
class TransformRegistry:
    """Transforms by name; rules refer to them as ``{name: ..., args: {...}}``."""

    transforms: Mapping[str, Transform[Any]] = field(default_factory=dict)

    def register(self, transform: Transform[Any]) -> "TransformRegistry":
        """A new registry with ``transform`` added (registries are immutable values)."""
        if transform.name in self.transforms:
            raise ValueError(f"transform {transform.name!r} is already registered")
        return TransformRegistry({**self.transforms, transform.name: transform})

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.transforms)

    def compile(
        self, calls: Iterable[tuple[str, Mapping[str, Any]]], *, where: str
    ) -> Callable[[str], str]:
        """Compile a pipeline of ``(name, args)`` calls into one function.

        Args:
            calls: Transform names and arguments, applied in order.
            where: Path of the pipeline in the rules file, used in error messages.

        Raises:
            ConfigError: A name is unknown or its arguments are invalid.
        """
        steps: list[Callable[[str], str]] = []
        for i, (name, args) in enumerate(calls):
            transform = self.transforms.get(name)
            if transform is None:
                known = ", ".join(self.names())
                raise ConfigError(f"{where}.{i}.name: unknown transform {name!r} (known: {known})")
            try:
                steps.append(transform.bind(args))
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ConfigError(f"{where}.{i}.args: {problems}") from exc

        def pipeline(value: str) -> str:
            for step in steps:
                value = step(value)
            return value

        return pipeline


def _strip(value: str, _args: _NoArgs) -> str:
    return " ".join(value.split())


def _upper(value: str, _args: _NoArgs) -> str:
    return value.upper()


def _lower(value: str, _args: _NoArgs) -> str:
    return value.lower()


def _truncate(value: str, args: _Truncate) -> str:
    return value[: args.max_length].rstrip()


def _prefix(value: str, args: _Text) -> str:
    return args.text + value


def _suffix(value: str, args: _Text) -> str:
    return value + args.text


def _replace(value: str, args: _Replace) -> str:
    return value.replace(args.old, args.new)


def _default(value: str, args: _Text) -> str:
    return value or args.text


DEFAULT_TRANSFORMS = TransformRegistry(
    {
        t.name: t
        for t in (
            Transform("strip", _NoArgs, _strip),
            Transform("upper", _NoArgs, _upper),
            Transform("lower", _NoArgs, _lower),
            Transform("truncate", _Truncate, _truncate),
            Transform("prefix", _Text, _prefix),
            Transform("suffix", _Text, _suffix),
            Transform("replace", _Replace, _replace),
            Transform("default", _Text, _default),
        )
    }
)
"""The built-in transforms: ``strip`` (collapse whitespace), ``upper``, ``lower``,
``truncate(max_length)``, ``prefix(text)``, ``suffix(text)``, ``replace(old, new)`` and
``default(text)`` (used when the value is empty)."""
