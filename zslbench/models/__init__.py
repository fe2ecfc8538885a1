"""The model registry: `@register_model` for built-ins, the `zslbench.models` entry points for plugins.

Registering and listing import no torch: a model is a builder function plus a `ModelSpec` of plain
metadata; torch is imported inside the builder. A plugin package exposes a decorated builder through
an entry point (see examples/zslbench-example-plugin), and must keep torch out of its module's
top level so that `zslbench models list` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from zslbench.core.registry import Registry
from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD

Kind = Literal["end_to_end", "features"]
ANY_BACKBONE = "any"  # ModelSpec.backbone of a method that takes the pooled features of any backbone


@dataclass(frozen=True)
class ModelSpec:
    """What a model is, before it is built: enough to list it, size its input and check its checkpoints."""

    name: str
    kind: Kind
    backbone: str
    summary: str
    feature_dim: int  # of the backbone at width 1, before the head
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    options: dict[str, Any] = field(default_factory=dict)  # builder keyword arguments and their defaults
    origin: str = "zslbench"

    def describe(self) -> dict[str, Any]:
        return asdict(self)


Builder = Callable[..., Any]  # (embed_dim, **options) -> torch.nn.Module mapping clips (or features=) to vectors
MODELS: Registry[Builder] = Registry("model", entry_point_group="zslbench.models", builtins="zslbench.models.zoo")


def register_model(
    name: str,
    *,
    kind: Kind,
    backbone: str,
    summary: str,
    feature_dim: int,
    mean: tuple[float, float, float] = KINETICS_MEAN,
    std: tuple[float, float, float] = KINETICS_STD,
    **options: Any,
) -> Callable[[Builder], Builder]:
    """Register `builder(embed_dim, **options)`; `options` are its keyword arguments with defaults."""

    def decorate(builder: Builder) -> Builder:
        origin = builder.__module__.split(".")[0]
        builder.model_spec = ModelSpec(name, kind, backbone, summary, feature_dim, mean, std, dict(options), origin)
        MODELS.add(name, builder, origin=origin, target_path=f"{builder.__module__}:{builder.__qualname__}")
        return builder

    return decorate


def model_spec(name: str) -> ModelSpec:
    """A registered model's metadata; a plugin entry point that is not a `register_model` builder
    (or whose import fails) is a ZslbenchError naming it."""
    from zslbench.core.errors import ZslbenchError

    builder = MODELS.get(name)
    spec = getattr(builder, "model_spec", None)
    if not isinstance(spec, ModelSpec) or spec.name != name:
        entry = MODELS.entry(name)
        what = f"registered as {spec.name!r}" if isinstance(spec, ModelSpec) else f"of type {type(builder).__name__}"
        raise ZslbenchError(
            f"{entry.describe()} is not a model builder registered under that name (it is {what})",
            f"the entry point must name a function decorated with @register_model({name!r}, ...); {entry.fix_hint()}",
        )
    return spec


def all_model_specs(on_problem: Callable[[str], None] | None = None) -> list[ModelSpec]:
    """Every model that loads. A broken plugin is left out and reported, one line each, to
    `on_problem` (default: a RuntimeWarning), so one bad package does not hide every model."""
    from zslbench.core.errors import ZslbenchError

    report = on_problem or _warn
    for problem in MODELS.problems():
        report(problem)
    specs = []
    for name in MODELS.names():
        try:
            specs.append(model_spec(name))
        except ZslbenchError as err:
            report(err.message)
    return specs


def build_model(name: str, embed_dim: int, **options: Any):
    """Construct a registered video model; unknown options are an error naming the allowed ones."""
    spec = model_spec(name)
    return MODELS.get(name)(embed_dim, **_checked_options(spec, options))


def build_feature_method(name: str, embed_dim: int, features: Any, **options: Any):
    """Construct a model of kind `features` for backbone features (`features`: a FeatureInput)."""
    from zslbench.core.errors import ZslbenchError

    spec = model_spec(name)
    if spec.kind != "features":
        raise ZslbenchError(
            f"{name} is trained end to end on videos, not on backbone features",
            "drop --features and pass --data NAME=VIDEOS, or choose a model of kind features (zslbench models list)",
        )
    return MODELS.get(name)(embed_dim, features=features, **_checked_options(spec, options))


def _checked_options(spec: ModelSpec, options: dict[str, Any]) -> dict[str, Any]:
    from zslbench.core.errors import ZslbenchError

    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(f"{k}={v!r}" for k, v in spec.options.items()) or "none"
        raise ZslbenchError(f"model {spec.name!r} has no option {unknown[0]!r}", f"its options: {allowed}")
    for key, value in options.items():
        default = spec.options[key]
        numeric = isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
        if default is not None and value is not None and not (isinstance(value, type(default)) or numeric):
            raise ZslbenchError(
                f"model option {key}={value!r} of {spec.name} is not a {type(default).__name__}",
                f"its default is {key}={default!r}",
            )
    return {**spec.options, **options}


def _warn(problem: str) -> None:
    import warnings

    warnings.warn(problem, RuntimeWarning, stacklevel=3)
