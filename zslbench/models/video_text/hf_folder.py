"""A model folder's weights as transformers' `save_pretrained` writes them, read offline and checked first.

The weights' names and shapes are compared with the (bounded, hf_config) config on the meta device
before any tensor is allocated; a safetensors header must be of a sane size before it is parsed; a
pickle (pytorch_model.bin) is read only weights-only (`checkpoint.quiet_torch_load`), so one that would
run code runs nothing. Every refusal is one `ZslbenchError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.core.files import file_problem
from zslbench.models.video_text.hf_config import (
    CONFIG,
    HINT_FOLDER,
    build_refusal,
    first_line,
    quiet_transformers,
    read_json,
)

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
MAX_HEADER_BYTES = 16 << 20  # a safetensors header (names, shapes, offsets): ViT-L/14's is ~100 KB
MAX_WEIGHTS_BYTES = 32 << 30  # one weights file; ViT-bigG/14 in float32 is ~10 GB


def folder_weights(folder: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, Any] | None]:
    """({name: shape} of the folder's weights, the tensors when they had to be read to know that).

    Safetensors shapes come from the headers, no tensor data read (tensors None); a pickle
    (pytorch_model.bin) is read whole, weights-only, and its tensors returned so they are read once."""
    if (folder / SAFETENSORS).exists():
        return _safetensors_shapes(folder / SAFETENSORS), None
    if (folder / SAFETENSORS_INDEX).exists():
        shapes: dict[str, tuple[int, ...]] = {}
        for shard in shard_files(folder):
            shapes.update(_safetensors_shapes(shard))
        return shapes, None
    if (folder / PICKLE).exists():
        tensors = read_pickle_weights(folder / PICKLE)
        return {name: tuple(t.shape) for name, t in tensors.items()}, tensors
    others = sorted(p.name for p in folder.glob("*") if p.suffix in (".bin", ".h5", ".msgpack", ".safetensors"))
    found = f" (it holds {', '.join(others[:4])})" if others else ""
    raise ZslbenchError(
        f"{folder} holds no PyTorch weights: no {SAFETENSORS}, {SAFETENSORS_INDEX} or {PICKLE}{found}",
        "save the model with save_pretrained (safetensors)",
    )


def has_weights(folder: Path) -> bool:
    """Whether `folder` holds PyTorch weights in a file transformers writes."""
    return any((folder / name).exists() for name in (SAFETENSORS, SAFETENSORS_INDEX, PICKLE))


def shard_files(folder: Path) -> list[Path]:
    """The shards a safetensors index names, each a plain file name in `folder`."""
    index = read_json(folder / SAFETENSORS_INDEX, "weights index")
    names = index.get("weight_map")
    if not isinstance(names, dict) or not all(isinstance(n, str) for n in names.values()):
        raise ZslbenchError(f"{folder / SAFETENSORS_INDEX} has no weight_map of file names", HINT_FOLDER)
    for name in set(names.values()):
        if Path(name).name != name or name.startswith("."):
            raise ZslbenchError(f"{folder / SAFETENSORS_INDEX} names the file {name!r} outside the folder", HINT_FOLDER)
    return [folder / name for name in sorted(set(names.values()))]


def check_weights_file(path: Path) -> None:
    """A regular file of a sane size (not a pipe, not 100 GB), or one line saying why not."""
    problem = file_problem(path)
    if problem is None and path.stat().st_size > MAX_WEIGHTS_BYTES:
        problem = f"{path.stat().st_size / 2**30:.1f} GiB, more than any CLIP-era model ({MAX_WEIGHTS_BYTES >> 30} GiB)"
    if problem:
        raise ZslbenchError(f"weights file {path}: {problem}", HINT_FOLDER)


def check_safetensors_header(path: Path) -> None:
    """The file is safetensors with a header under MAX_HEADER_BYTES (its length is the first 8 bytes)
    that fits in the file: a length past the end or of gigabytes is said as such before anything is parsed."""
    check_weights_file(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        raise ZslbenchError(f"{path} is not a safetensors file (no JSON header after its first 8 bytes)", HINT_FOLDER)
    length = int.from_bytes(head[:8], "little")
    if 8 + length > size:
        raise ZslbenchError(
            f"{path}: its safetensors header claims {length} bytes, more than the file's {size}",
            "the file is truncated or damaged; download or save it again",
        )
    if length > MAX_HEADER_BYTES:
        raise ZslbenchError(
            f"{path}: its safetensors header claims {length} bytes, implausibly large (at most {MAX_HEADER_BYTES} "
            "are read; a ViT-L/14's is about 100 KB)",
            "the file is damaged or not a model's weights; save it again with save_pretrained",
        )


def looks_like_safetensors(path: Path) -> bool:
    """Whether a weights file should be read as safetensors: by its name, or by a JSON header after 8
    bytes (a torch.save zip starts `PK`), whatever length those 8 bytes claim."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:
        return handle.read(9)[8:9] == b"{"


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    check_safetensors_header(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    except Exception as err:  # SafetensorError: offsets past the end, a header that is not JSON
        raise ZslbenchError(f"cannot read {path}: {type(err).__name__}: {first_line(err)}", HINT_FOLDER) from None


def read_safetensors(path: Path) -> dict[str, Any]:
    """Every tensor of a safetensors file (header checked first)."""
    from safetensors.torch import load_file

    check_safetensors_header(path)
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:
        raise ZslbenchError(f"cannot read {path}: {type(err).__name__}: {first_line(err)}", HINT_FOLDER) from None


def read_pickle_weights(path: Path) -> dict[str, Any]:
    """A pickled state dict, read weights-only: a pickle that would run code runs nothing and is one line."""
    import torch

    from zslbench.models.checkpoint import quiet_torch_load, why_not_loaded

    check_weights_file(path)
    try:
        data = quiet_torch_load(path)
    except Exception as err:
        raise ZslbenchError(
            f"cannot load {path}: {why_not_loaded(err)}", "only files of plain tensors are read; save it as safetensors"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ZslbenchError(f"{path} is not a state dict of named tensors", HINT_FOLDER)
    return data


def load_model(folder: Path, model_class: Any, config: Any, name: str) -> Any:
    """`model_class` (CLIPModel, XCLIPModel) with the folder's weights, float32, in eval mode.

    The weights' names and shapes must be exactly what `config` builds (checked from the headers, on
    the meta device, before anything is allocated); safetensors go through `from_pretrained`
    (local files only, no remote code), a pickle through the weights-only reader. Read as float32
    whatever dtype the config names, so the config's dtype changes no output (identities leave it out)."""
    import torch

    shapes, tensors = folder_weights(folder)
    shapes = {k: v for k, v in shapes.items() if not k.endswith("position_ids")}  # old non-persistent buffers
    problems = shape_problems(model_class, config, shapes, str(folder / CONFIG))
    if problems:
        raise ZslbenchError(
            f"the weights in {folder} do not fit its {CONFIG} ({len(problems)} differ: {'; '.join(problems[:4])}"
            + (f"; and {len(problems) - 4} more)" if len(problems) > 4 else ")"),
            f"the folder mixes files of two models; {HINT_FOLDER}",
        )
    with quiet_transformers():
        if tensors is not None:
            weights = {k: v for k, v in tensors.items() if k in shapes}
            model, info = model_class.from_pretrained(
                None, config=config, state_dict=weights, output_loading_info=True, torch_dtype=torch.float32
            )
        else:
            model, info = model_class.from_pretrained(
                folder,
                config=config,
                local_files_only=True,
                use_safetensors=True,
                output_loading_info=True,
                torch_dtype=torch.float32,
            )
    left = [k for key in ("missing_keys", "unexpected_keys", "mismatched_keys") for k in info.get(key) or []]
    if left or info.get("error_msgs"):
        raise ZslbenchError(
            f"{name} weights in {folder} did not load cleanly: {left[:4] or info['error_msgs'][:2]}", HINT_FOLDER
        )
    return model.float().eval()


def shape_problems(model_class: Any, config: Any, shapes: dict[str, tuple[int, ...]], where: str) -> list[str]:
    """What keeps tensors of these names and shapes from loading into `model_class(config)`: missing,
    unexpected and differing names (built on the meta device, so nothing is allocated)."""
    from zslbench.models.checkpoint import tensor_differences

    expected = meta_state(model_class, config, where)
    return tensor_differences(expected, {name: _Shape(shape) for name, shape in shapes.items()}, "the config")


def meta_state(model_class: Any, config: Any, where: str) -> dict[str, Any]:
    """The state dict `model_class(config)` has, as meta tensors (names and shapes, no memory);
    `where` names the config's file for the one line a config transformers cannot build gives."""
    import torch

    try:
        with quiet_transformers(), torch.device("meta"):
            return model_class(config).state_dict()
    except Exception as err:  # a value hf_config does not check (unknown activations are checked there)
        raise build_refusal(err, config, where) from None


class _Shape:
    """A stand-in with only a shape, for `tensor_differences`."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def read_tensor(folder: Path, name: str) -> Any:
    """One tensor of the folder's weights (e.g. the token embedding a ViFi-CLIP file leaves out)."""
    from safetensors import safe_open

    shapes, tensors = folder_weights(folder)
    if name not in shapes:
        raise ZslbenchError(f"the weights in {folder} have no {name}", HINT_FOLDER)
    if tensors is not None:
        return tensors[name]
    files = [folder / SAFETENSORS] if (folder / SAFETENSORS).exists() else shard_files(folder)
    for path in files:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            if name in handle.keys():  # noqa: SIM118 (not a dict)
                return handle.get_tensor(name)
    raise ZslbenchError(f"the weights in {folder} have no {name}", HINT_FOLDER)
