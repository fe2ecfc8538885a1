"""The model registry: `@register_model` for built-ins, the `zslbench.models` entry points for plugins.

Registering and listing import no torch: a model is a builder function plus a `ModelSpec` of plain
metadata; torch is imported inside the builder. A plugin package exposes a decorated builder through
an entry point (see examples/zslbench-example-plugin), and must keep torch out of its module's
top level so that `zslbench models list` stays fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from zslbench.core.registry import Registry
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.prompts import TEXT_OPTIONS, TextSpec
from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD

# end_to_end: trained on videos to regress the protocol's class vectors; features: a method on a backbone's
# pooled features; video_text: brings its own text tower (models/video_text/contract.py)
Kind = Literal["end_to_end", "features", "video_text"]
KINDS = ("end_to_end", "features", "video_text")
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
    input: VideoInput | None = None  # video_text: what it reads by default (its weights may refine size, mean, std)
    text: TextSpec | None = None  # video_text: its default templates, ensembling and phrases

    def describe(self) -> dict[str, Any]:
        """Plain values for `models list --json`: every field, with input and text described (no phrase rules)."""
        data = asdict(self)
        data["input"] = self.input.describe() if self.input else None
        data["text"] = {k: v for k, v in self.text.describe().items() if k != "phrase_rules"} if self.text else None
        return data


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
    input: VideoInput | None = None,
    text: TextSpec | None = None,
    **options: Any,
) -> Callable[[Builder], Builder]:
    """Register `builder(embed_dim, **options)`; `options` are its keyword arguments with defaults.

    A `video_text` model's builder is `builder(weights, **options)` returning a
    `models.video_text.contract.VideoTextModel`; `input` and `text` are its defaults (required), and
    `mean` / `std` are taken from `input`."""
    from zslbench.core.errors import ZslbenchError

    if kind not in KINDS:
        raise ZslbenchError(f"model {name!r}: unknown kind {kind!r}", f"choose {', '.join(KINDS)}")
    if kind == "video_text":
        if input is None:
            raise ZslbenchError(f"video-text model {name!r} declares no input", "pass input=VideoInput(...)")
        input, text = input.checked(), text or TextSpec()
        mean, std = input.mean, input.std
        options = {**dict.fromkeys(TEXT_OPTIONS), **options}  # the evaluator's: templates, ensembling, phrases

    def decorate(builder: Builder) -> Builder:
        origin = builder.__module__.split(".")[0]
        builder.model_spec = ModelSpec(
            name, kind, backbone, summary, feature_dim, mean, std, dict(options), origin, input, text
        )
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
    if spec.kind == "video_text":
        from zslbench.core.errors import ZslbenchError

        raise ZslbenchError(
            f"{name} is a video-text model (its own text tower and weights), which zslbench does not train yet",
            f"evaluate it with `zslbench eval --model {name} --weights PATH`",
        )
    return MODELS.get(name)(embed_dim, **checked_options(spec, options))


def build_from_checkpoint(model: dict[str, Any]):
    """The module a checkpoint's `model` metadata describes, built without pretrained weights (the
    checkpoint holds them): `init` is cleared only for a model that has that option (a plugin may not)."""
    spec = model_spec(model["name"])
    options = {**model["options"], **({"init": None} if "init" in spec.options else {})}
    return build_model(model["name"], int(model["embed_dim"]), **options)


def build_video_text_model(name: str, weights: Any, **options: Any):
    """Construct a registered video-text model from `weights` (a path, or None where the builder allows
    it); unknown options are an error naming the allowed ones."""
    from zslbench.core.errors import ZslbenchError

    spec = model_spec(name)
    if spec.kind != "video_text":
        raise ZslbenchError(f"{name} is a model of kind {spec.kind}, not video_text", "zslbench models list")
    checked = checked_options(spec, options)
    return MODELS.get(name)(weights, **{k: v for k, v in checked.items() if k not in TEXT_OPTIONS})


def build_feature_method(name: str, embed_dim: int, features: Any, **options: Any):
    """Construct a model of kind `features` for backbone features (`features`: a FeatureInput)."""
    from zslbench.core.errors import ZslbenchError, named

    spec = model_spec(name)
    if spec.kind != "features":
        raise ZslbenchError(
            f"{name} is trained end to end on videos, not on backbone features",
            f"drop {named('--features', 'features')} and pass {named('--data NAME=VIDEOS', 'data={NAME: VIDEOS}')}, "
            "or choose a model of kind features (zslbench models list)",
        )
    return MODELS.get(name)(embed_dim, features=features, **checked_options(spec, options))


def checked_options(spec: ModelSpec, options: dict[str, Any]) -> dict[str, Any]:
    """The model's options: its defaults with `options` over them; an unknown option, or a value of
    another type than its default's, is a ZslbenchError naming the allowed ones."""
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


def model_provenance(name: str) -> dict[str, Any] | None:
    """Where a plugin model's code comes from, for result records and cache keys: its module, and the
    distribution and version that installed it (its `zslbench.models` entry point's, else the one owning
    its module); None for zslbench's own models. A model registered outside any distribution (a
    notebook, a script) carries the sha256 of its module's compiled code instead, so an edit is a new key."""
    spec = model_spec(name)
    if spec.origin == "zslbench":
        return None
    builder = MODELS.get(name)
    module = builder.__module__
    distribution, version = _distribution_of(name, module.split(".")[0])
    provenance: dict[str, Any] = {"module": module, "distribution": distribution, "version": version}
    if distribution is None:
        provenance["code_sha256"] = _code_sha256(builder)
    return provenance


def _distribution_of(name: str, top_module: str) -> tuple[str | None, str | None]:
    """(distribution, version) of the package that registered model `name`, or (None, None)."""
    from importlib.metadata import entry_points, packages_distributions, version

    for point in entry_points(group=MODELS.entry_point_group or ""):
        if point.name == name and point.dist is not None:
            return point.dist.name, point.dist.version
    for dist in packages_distributions().get(top_module, []):
        return dist, version(dist)
    return None, None


def _code_sha256(builder: Builder) -> str:
    """sha256 of the compiled code of every function and class the builder's module defines, and of
    its plain constants (its globals, so code typed into a notebook cell, piped to `python -` or exec'd
    counts too): an edit to the model's code, wherever it was written, changes it."""
    import hashlib
    import marshal
    import sys

    name = builder.__module__
    namespace = vars(sys.modules[name]) if name in sys.modules else {builder.__name__: builder}
    digest = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    for key in sorted(namespace):
        value = namespace[key]
        for code in _codes_of(value, name):
            digest.update(key.encode() + b"\0" + marshal.dumps(code))
        if not key.startswith("_") and isinstance(value, int | float | str | bytes | tuple):  # module constants
            digest.update(key.encode() + b"=" + repr(value).encode())
    return digest.hexdigest()


def _codes_of(value: Any, module: str) -> list[Any]:
    """The code objects of a function, or of a class's methods, defined in `module`; [] otherwise."""
    if getattr(value, "__module__", None) != module:
        return []
    if inspect.isfunction(value):
        return [value.__code__]
    if inspect.isclass(value):
        members = [m.__func__ if isinstance(m, staticmethod | classmethod) else m for m in vars(value).values()]
        members += [m.fget for m in vars(value).values() if isinstance(m, property) and m.fget]
        return [m.__code__ for m in members if inspect.isfunction(m)]
    return []


def provenance_key(name: str) -> dict[str, Any]:
    """{"plugin": `model_provenance(name)`} for a plugin model, {} for zslbench's own, so the identities
    (and cache keys) of built-in models stay as they were."""
    provenance = model_provenance(name)
    return {"plugin": provenance} if provenance else {}
