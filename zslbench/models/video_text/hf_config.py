"""A model folder's config.json and preprocessor_config.json, read and bounded before anything is built.

A folder is the user's input, so nothing in it is trusted: a config's sizes are checked one by one and
as a whole (a config with hidden_size 10**9 would otherwise allocate terabytes when the model is
built), remote code is never named (auto_map is dropped) and transformers runs quietly and offline
(`quiet_transformers`). Every refusal is one `ZslbenchError` line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.core.files import file_problem, read_regular_bytes

CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
MAX_JSON_BYTES = 4 << 20  # config, preprocessor and index files are a few KB
MAX_PARAMETERS = 5_000_000_000  # what a config may describe (20 GB in float32)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

# (field, low, high) of every size a config sets, per sub-config: the ranges of released CLIP-era models
# with room to spare, small enough that no combination allocates more than MAX_PARAMETERS allows.
TOWER_SIZES = (
    ("hidden_size", 1, 8192),
    ("intermediate_size", 1, 65536),
    ("num_hidden_layers", 1, 128),
    ("num_attention_heads", 1, 256),
)
TEXT_SIZES = (*TOWER_SIZES, ("vocab_size", 1, 1_000_000), ("max_position_embeddings", 1, 4096))
VISION_SIZES = (*TOWER_SIZES, ("image_size", 1, 1024), ("patch_size", 1, 1024), ("num_channels", 3, 3))
MIT_SIZES = (
    ("num_frames", 1, 512),
    ("mit_hidden_size", 1, 8192),
    ("mit_intermediate_size", 1, 65536),
    ("mit_num_hidden_layers", 1, 128),
    ("mit_num_attention_heads", 1, 256),
)
TOP_SIZES = (("projection_dim", 1, 8192),)
XCLIP_TOP_SIZES = (*TOP_SIZES, ("prompt_layers", 0, 128), ("prompt_num_attention_heads", 1, 256))
HINT_FOLDER = "pass a folder written by transformers' save_pretrained (config.json, model.safetensors, tokenizer files)"
HINT_VALUES = "compare the value with the config of a released model (e.g. openai/clip-vit-base-patch16's config.json)"


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A small JSON object file, read without blocking on a pipe; anything else is one line."""
    problem = file_problem(path)
    if problem is None and path.stat().st_size > MAX_JSON_BYTES:
        problem = f"{path.stat().st_size} bytes, more than a {what} holds ({MAX_JSON_BYTES} at most)"
    if problem:
        raise ZslbenchError(f"{what} {path}: {problem}", HINT_FOLDER)
    try:
        data = json.loads(read_regular_bytes(path).decode("utf-8"))
    except (OSError, ValueError) as err:
        raise ZslbenchError(f"{what} {path} is not JSON: {type(err).__name__}: {err}", HINT_FOLDER) from None
    if not isinstance(data, dict):
        raise ZslbenchError(f"{what} {path} holds a {type(data).__name__}, not a JSON object", HINT_FOLDER)
    return data


def read_config(folder: Path, model_type: str, name: str) -> Any:
    """The folder's config.json as a transformers config of `model_type` ("clip" or "xclip"), its
    sizes checked; `name` is what the user asked for ("CLIP", "X-CLIP"), for the message."""
    path = folder / CONFIG
    if not path.exists():
        raise ZslbenchError(f"{folder} has no {CONFIG}, so it is not an HF model folder", HINT_FOLDER)
    data = read_json(path, "model config")
    found = data.get("model_type")
    if found != model_type:
        what = f"is a {found} model" if isinstance(found, str) and found else "names no model_type"
        raise ZslbenchError(f"{path} {what}, not {name}", f"pass the folder of an HF {name} model")
    if data.get("quantization_config") is not None:
        raise ZslbenchError(f"{path} describes quantized weights, which are not supported", HINT_FOLDER)
    for key in ("auto_map", "transformers_weights", "_name_or_path"):  # no remote code, no file elsewhere
        data.pop(key, None)
    return config_from_dict(data, model_type, str(path))


def config_from_dict(data: dict[str, Any], model_type: str, where: str) -> Any:
    """A CLIPConfig or XCLIPConfig from plain values, every size bounded (`check_sizes`) and every
    activation and epsilon checked (`check_values`), so that building the model cannot fail later."""
    from transformers import CLIPConfig, XCLIPConfig

    kind = CLIPConfig if model_type == "clip" else XCLIPConfig
    try:
        with quiet_transformers():
            config = kind.from_dict(data)
    except Exception as err:  # a value of the wrong type deep inside transformers
        raise ZslbenchError(
            f"{where} is not a valid {model_type} config: {type(err).__name__}: {first_line(err)}", HINT_VALUES
        ) from None
    check_sizes(config, model_type, where)
    check_values(config, model_type, where)
    return config


def check_sizes(config: Any, model_type: str, where: str) -> None:
    """Every size in range, heads dividing widths, and the whole model under MAX_PARAMETERS."""
    text, vision = config.text_config, config.vision_config
    _check_fields(text, TEXT_SIZES, f"{where} text_config")
    _check_fields(vision, VISION_SIZES + (MIT_SIZES if model_type == "xclip" else ()), f"{where} vision_config")
    _check_fields(config, XCLIP_TOP_SIZES if model_type == "xclip" else TOP_SIZES, where)
    pairs = [("text_config.", text, "hidden_size", "num_attention_heads")]
    pairs.append(("vision_config.", vision, "hidden_size", "num_attention_heads"))
    if model_type == "xclip":
        pairs.append(("vision_config.", vision, "mit_hidden_size", "mit_num_attention_heads"))
        pairs.append(("", config, "projection_dim", "prompt_num_attention_heads"))
        if vision.mit_hidden_size != config.projection_dim:
            raise ZslbenchError(
                f"{where}: vision_config.mit_hidden_size {vision.mit_hidden_size} is not projection_dim "
                f"{config.projection_dim}, so X-CLIP's frame integration cannot read its frame embeddings",
                "set both to the same width, as X-CLIP's released configs do",
            )
    for label, owner, width, heads in pairs:
        if getattr(owner, width) % getattr(owner, heads):
            raise ZslbenchError(
                f"{where}: {label}{heads} {getattr(owner, heads)} does not divide {label}{width} "
                f"{getattr(owner, width)}",
                "each attention head reads an equal share of the width (CLIP: 64 channels a head); "
                "fix one of the two in the config",
            )
    if vision.patch_size > vision.image_size:
        raise ZslbenchError(
            f"{where}: vision_config.patch_size {vision.patch_size} is larger than image_size {vision.image_size}",
            "a ViT cuts its input into patches of patch_size; fix one of the two in the config",
        )
    _check_parameter_count(config, model_type, where)


def _check_parameter_count(config: Any, model_type: str, where: str) -> None:
    count = parameter_count(config, model_type)
    if count > MAX_PARAMETERS:
        raise ZslbenchError(
            f"{where} describes a model of about {count / 1e9:.1f} billion parameters, more than the "
            f"{MAX_PARAMETERS / 1e9:.0f} billion a CLIP-era model has",
            "check the config's sizes",
        )


def check_values(config: Any, model_type: str, where: str) -> None:
    """Every activation one transformers knows and every LayerNorm epsilon a small positive number:
    an unknown activation would otherwise fail deep inside the model's constructor (a bare KeyError),
    and an epsilon of the wrong type only at the first forward pass."""
    from transformers.activations import ACT2FN

    owners = {"text_config.": config.text_config, "vision_config.": config.vision_config}
    activations = [(label, owner, "hidden_act") for label, owner in owners.items()]
    if model_type == "xclip":
        activations.append(("", config, "prompt_hidden_act"))
    for label, owner, field in activations:
        value = getattr(owner, field, None)
        if not isinstance(value, str) or value not in ACT2FN:
            raise ZslbenchError(
                f"{where}: {label}{field} {value!r} is not an activation transformers knows",
                f"CLIP uses quick_gelu (OpenAI's models) or gelu; transformers knows {', '.join(sorted(ACT2FN))}",
            )
    for label, owner in owners.items():
        value = getattr(owner, "layer_norm_eps", None)
        if not _number(value) or not 0 < value < 1:
            raise ZslbenchError(
                f"{where}: {label}layer_norm_eps {value!r} is not a number in (0, 1)",
                "CLIP's LayerNorm epsilon is 1e-05",
            )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(owner: Any, sizes: tuple[tuple[str, int, int], ...], where: str) -> None:
    for field, low, high in sizes:
        value = getattr(owner, field, None)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ZslbenchError(
                f"{where}: {field} {value!r} is not a whole number in [{low}, {high}]",
                "a config of a CLIP-era model has sizes in these ranges",
            )


def parameter_count(config: Any, model_type: str) -> int:
    """About how many parameters `config` builds (transformer layers, embeddings, projections)."""

    def tower(c: Any, hidden: str = "hidden_size", inner: str = "intermediate_size", layers: str = "num_hidden_layers"):
        h, i = getattr(c, hidden), getattr(c, inner)
        return getattr(c, layers) * (4 * h * h + 2 * h * i + 9 * h + i)

    text, vision = config.text_config, config.vision_config
    count = tower(text) + (text.vocab_size + text.max_position_embeddings) * text.hidden_size
    patches = (vision.image_size // vision.patch_size) ** 2 + 1
    count += tower(vision) + (patches + 3 * vision.patch_size**2) * vision.hidden_size
    count += config.projection_dim * (text.hidden_size + vision.hidden_size)
    if model_type == "xclip":
        count += tower(vision, "mit_hidden_size", "mit_intermediate_size", "mit_num_hidden_layers")
        count += config.prompt_layers * 12 * config.projection_dim**2 + vision.hidden_size * config.projection_dim
    return count


def preprocessor_stats(folder: Path) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(image_mean, image_std) of the folder's preprocessor_config.json, 3 numbers each on the 0..1
    scale of the pixels they are applied to; None without one. Statistics on the 0..255 scale (as some
    image libraries write them) would turn every pixel into about -1.8, so they are refused, not used."""
    path = folder / PREPROCESSOR
    if not path.exists():
        return None
    data = read_json(path, "preprocessor config")
    mean, std = _channel_values(data, "image_mean", path), _channel_values(data, "image_std", path)
    for field, values, low_open in (("image_mean", mean, False), ("image_std", std, True)):
        if all(v <= 1 and (v > 0 if low_open else v >= 0) for v in values):
            continue
        bounds = "each std in (0, 1]" if low_open else "each mean in [0, 1]"
        if max(values) > 1:
            why, hint = "looks like the 0..255 scale", "divide 0..255 statistics by 255"
        else:
            why, hint = "is out of range", "a mean is a pixel value, a std a positive spread of pixel values"
        raise ZslbenchError(
            f"{path}: {field} {data[field]!r} {why}: statistics must be on the 0..1 scale of the pixels, {bounds}",
            f"{hint} (CLIP's: image_mean [0.481, 0.458, 0.408], image_std [0.269, 0.261, 0.276])",
        )
    return mean, std


def _channel_values(data: dict[str, Any], field: str, path: Path) -> tuple[float, ...]:
    """One statistic per RGB channel; a single number stands for all three, as transformers reads it."""
    values = data.get(field)
    hint = f"{field} is 3 numbers on the 0..1 scale, one per RGB channel, e.g. [0.481, 0.458, 0.408]"
    if field not in data:
        raise ZslbenchError(f"{path} has no {field}", hint)
    if _number(values):
        return (float(values),) * 3
    if not isinstance(values, list):
        raise ZslbenchError(f"{path}: {field} {values!r} is a {type(values).__name__}, not a list of numbers", hint)
    if len(values) != 3:
        raise ZslbenchError(f"{path}: {field} has {len(values)} values, not 3 (one per RGB channel)", hint)
    bad = [v for v in values if not _number(v)]
    if bad:
        raise ZslbenchError(f"{path}: {field} {values!r} holds {bad[0]!r}, not a finite number", hint)
    return tuple(float(v) for v in values)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its warnings, logging and progress bars, and with the hub offline."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    saved = {name: os.environ.get(name) for name in OFFLINE}
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    os.environ.update(OFFLINE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def first_line(err: Exception) -> str:
    """The first line of `err`'s message, at most 200 characters ("" for an empty message)."""
    return (str(err).strip().splitlines() or [""])[0][:200]


def build_refusal(err: Exception, config: Any, where: str) -> ZslbenchError:
    """One line for a config transformers cannot build a model from, naming the key whose value it
    rejected when the error names a value the config holds (a KeyError names only the value)."""
    value = err.args[0] if isinstance(err, KeyError) and err.args else None
    key = _key_holding(config.to_dict(), value) if isinstance(value, str) else None
    at = f" ({key} {value!r} is not a value transformers knows)" if key else ""
    return ZslbenchError(
        f"{where}: its config cannot build a model{at}: {type(err).__name__}: {first_line(err)}", HINT_VALUES
    )


def _key_holding(data: dict[str, Any], value: str, prefix: str = "") -> str | None:
    """The dotted path of the first key in `data` (nested dicts too) whose value is `value`."""
    for key, held in data.items():
        if held == value and isinstance(held, str):
            return f"{prefix}{key}"
        if isinstance(held, dict) and (found := _key_holding(held, value, f"{prefix}{key}.")):
            return found
    return None
