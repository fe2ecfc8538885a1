"""The checkpoints released with Brattoli et al. (CVPR 2020), imported as zslbench checkpoints.

The reference implementation (github bbrattoli/ZeroShotVideoClassification) saves, in main.py,
`torch.save({'state_dict': model.state_dict(), 'opt': opt, 'accuracy': accuracy}, 'checkpoint.pth.tar')`
of an `nn.DataParallel` model, each time the mean test accuracy improves: the file holds the weights
of the epoch with the best *test* accuracy (model selection on the test set), the run's
`argparse.Namespace` and that accuracy (a numpy float64). network.py names the weights:

- R(2+1)D-18 and R3D-18 (`ResNet18`): `module.model.<i>.*`, where `model` is torchvision's video
  ResNet without its fc, as an `nn.Sequential` of its children (0 stem, 1..4 layer1..layer4, 5 the
  average pooling, which has no weights), and `module.regressor.*`, the 512 -> 300 head.
- C3D: `module.conv1.*` .. `module.conv5b.*`, `module.fc6.*`, `module.fc7.*` and `module.fc8.*` (the
  Sports-1M classifier, registered but never used by its forward), and `module.regressor.*` (4096 -> 300).

The file is read with `torch.load(weights_only=True)`, allowing only `argparse.Namespace` and numpy's
float scalars besides tensors, so a pickle that would run code is refused before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, named
from zslbench.protocol.compliance import CLASSES, NONE, UNKNOWN, Pretraining, training_classes
from zslbench.protocol.snapshot import with_snapshot
from zslbench.protocol.spec import DEFAULT_PROTOCOL, SET_OPTION, Protocol, load_protocol
from zslbench.text.vocab import ClassList, load_class_list

FORMAT_NAME = "brattoli2020-reference"
REFERENCE_VARIANT = "-reference"  # the shipped protocols with the reference implementation's clip settings
WORD2VEC_GOOGLENEWS = "word2vec:GoogleNews-vectors-negative300.bin"  # the paper's vectors, as zslbench names them
MODEL_SELECTION = "the reference kept the checkpoint with the best *test* accuracy (model selection on the test set)"
CLASSES_HOW = "derived with zslbench's rule at tau from opt; the reference's own list was not in the file"
RESNET_CHILDREN = ("stem", "layer1", "layer2", "layer3", "layer4")  # torchvision VideoResNet.children()[:5]
C3D_UNUSED = ("fc7", "fc8")  # network.py C3D: built (to load the Sports-1M weights), never called
SHOWN = 6  # differing tensors named in an error
UNREAD = "imported: the reference's file does not say which training videos it read"
HINT = "pass a checkpoint.pth.tar saved by the reference's main.py (github bbrattoli/ZeroShotVideoClassification)"


def import_reference(
    path: Path | str, out: Path | str, protocol: str | Path | Protocol | None = None, *, embedding: str | None = None
) -> Path:
    """Write the reference checkpoint `path` as a zslbench checkpoint at `out` (a .pt/.pth file, or a
    folder that gets checkpoint.pt); returns the written file.

    `protocol`: the zslbench protocol to evaluate it under; None picks the one matching opt.dataset
    (`default_protocol`). tau is opt.class_overlap (a named protocol gets `--set overlap.tau`; a
    loaded Protocol must already have it). `embedding`: the class vectors, default the reference's
    word2vec GoogleNews 300-d (`WORD2VEC_GOOGLENEWS`); their dimension must be the head's. Raises
    ZslbenchError (one line) for a file that is not a reference checkpoint, a pickle that needs any
    other global, tensors that differ from the model's (counted, the first six named), or an existing `out`.
    """
    from zslbench import __version__
    from zslbench.models.checkpoint import save_checkpoint

    source = Path(path)
    target = output_path(out)
    saved = read_reference(source)
    opt = opt_values(saved["opt"])
    model = reference_model(opt)
    state_dict, ignored = map_state_dict(saved["state_dict"], model)
    embed_dim = int(state_dict["fc.weight"].shape[0])
    chosen = reference_protocol(opt, protocol, embedding)
    classes, compliance, embedder_id = reference_classes(chosen, opt, embed_dim)
    pretraining, pretrained_on = reference_pretraining(opt, model)
    payload = {
        "model": {"name": model, "options": model_options(model), "embed_dim": embed_dim},
        "settings": reference_settings(opt),
        "protocol": with_snapshot(chosen),
        "classes": classes,
        "embedder_id": embedder_id,
        "pretrained_on": pretrained_on,
        **untrained_state(state_dict, opt),
        "compliance": {**compliance, "pretraining": {"status": pretraining.status, "name": pretraining.name}},
        "failures": {},
        "data": {"videos": None, "failed": None, "complete": None, "why": UNREAD},
        "reading": None,
        "finished": True,
        "zslbench_version": __version__,
        "pretraining": pretraining.to_dict(),
        "imported_from": imported_from(source, saved, opt, ignored),
    }
    return save_checkpoint(target, payload)


def default_out(path: Path | str) -> Path:
    """Where `zslbench weights import-reference FILE` writes without --out: the folder
    <FILE's folder>/<FILE's name up to its first dot>-zslbench (checkpoint.pth.tar -> checkpoint-zslbench)."""
    path = Path(path)
    return path.parent / f"{path.name.split('.')[0] or 'reference'}-zslbench"


def output_path(out: Path | str) -> Path:
    """`out` itself for a .pt/.pth file name, else `out`/checkpoint.pt; an existing file is refused."""
    from zslbench.models.checkpoint import CHECKPOINT

    out = Path(out)
    target = out if out.suffix in (".pt", ".pth") else out / CHECKPOINT
    if target.exists():
        raise ZslbenchError(f"{target} exists", f"choose another {named('--out', 'out')}, or remove the file first")
    return target


def safe_globals() -> list[Any]:
    """What a reference checkpoint's pickle may name besides tensors (which weights_only allows, as it
    allows torch.device, the type of opt.device): the `opt` Namespace, and numpy's float scalar with
    its dtype for `accuracy` (np.mean in main.py), under numpy 1's and numpy 2's module names."""
    import argparse

    import numpy as np

    scalar = np.float64(0).__reduce__()[0]  # numpy's scalar constructor, whatever its module is called
    return [
        argparse.Namespace,
        np.dtype,
        type(np.dtype("float64")),  # numpy.dtypes.Float64DType: a dtype's class, which unpickling builds
        type(np.dtype("float32")),
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
    ]


def read_reference(path: Path) -> dict[str, Any]:
    """The reference's saved dict: {'state_dict': {name: tensor}, 'opt': Namespace, 'accuracy': float}.

    Read with weights_only=True and `safe_globals()` only, in the zip and the legacy (torch < 1.6)
    formats: any other global (a pickle that would run code) is refused, naming it, and nothing in
    the file runs. Raises ZslbenchError for that, a missing file, or another kind of file."""
    import argparse

    import torch

    if not path.is_file():
        raise ZslbenchError(f"reference checkpoint {path} does not exist", "pass the checkpoint.pth.tar file")
    if not torch.__version__ >= "2.6":  # safe_globals with (object, name) pairs
        raise ZslbenchError(f"importing a reference checkpoint needs torch 2.6 or later, not {torch.__version__}")
    try:
        with torch.serialization.safe_globals(safe_globals()):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unpickling refusal, a truncated file, not a torch file at all
        raise refusal(path, err) from None
    if isinstance(saved, dict) and "format" in saved:
        raise ZslbenchError(f"{path} is already a zslbench checkpoint ({saved['format']})", "use it as it is")
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise ZslbenchError(f"{path} is not a checkpoint of the reference's main.py: no 'state_dict' dict", HINT)
    if not isinstance(saved.get("opt"), argparse.Namespace):
        raise ZslbenchError(f"{path} has no 'opt' (the reference's argparse.Namespace)", HINT)
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in saved["state_dict"].items()):
        raise ZslbenchError(f"{path}: its 'state_dict' holds something other than named tensors", HINT)
    return saved


def refusal(path: Path, err: Exception) -> ZslbenchError:
    """One line for a failed load: the global a refused pickle names, or what else went wrong."""
    from zslbench.models.checkpoint import why_not_loaded

    why = why_not_loaded(err)
    if why.startswith("its pickle needs"):
        return ZslbenchError(
            f"refused to load {path}: {why}",
            "only files holding tensors, an argparse.Namespace and numbers are imported; " + HINT,
        )
    return ZslbenchError(f"cannot read {path} as a torch checkpoint ({why})", HINT)


def opt_values(opt: Any) -> dict[str, Any]:
    """The reference's `opt` as plain values (torch.device and numpy scalars as str and float)."""

    def plain(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            return value.item()  # a numpy scalar
        return str(value)

    return {key: plain(value) for key, value in sorted(vars(opt).items())}


def reference_model(opt: dict[str, Any]) -> str:
    """The zslbench model of opt.network, matched as network.py `get_network` does: 'r3d' first,
    then '2plus1d', then 'c3d'."""
    network = str(opt.get("network", "r2plus1d_18"))
    for part, model in (("r3d", "e2e_r3d"), ("2plus1d", "e2e_r2plus1d"), ("c3d", "e2e_c3d")):
        if part in network:
            return model
    raise ZslbenchError(
        f"opt.network {network!r} is none of the reference's networks", "r2plus1d_18, r3d_18 and c3d import"
    )


def model_options(model: str) -> dict[str, Any]:
    """The registered model's default options: width 1 (the reference's networks), the head's
    dropout (0.05 for the ResNets, network.py `ResNet18`; C3D drops after fc6 instead), no init."""
    from zslbench.models import model_spec

    return dict(model_spec(model).options)


def reference_name(key: str, model: str) -> str:
    """The reference's name of a zslbench weight: fc.* -> module.regressor.*; for the ResNets
    backbone.stem.* -> module.model.0.*, backbone.layer<k>.* -> module.model.<k>.*; for C3D
    backbone.<layer>.* -> module.<layer>.* (network.py)."""
    if key.startswith("fc."):
        return "module.regressor." + key.removeprefix("fc.")
    child, _, rest = key.removeprefix("backbone.").partition(".")
    if model == "e2e_c3d":
        return f"module.{child}.{rest}"
    return f"module.model.{RESNET_CHILDREN.index(child)}.{rest}"


def map_state_dict(state: dict[str, Any], model: str) -> tuple[dict[str, Any], list[str]]:
    """The reference's tensors under zslbench's names, and the names left out (C3D's fc7/fc8).

    The model is built on the meta device (names and shapes only) at width 1 with the head's
    embedding size (the regressor's rows, else 300). Raises ZslbenchError counting the tensors that
    are missing, unexpected or of another shape, and naming the first SHOWN in the reference's names."""
    import torch

    from zslbench.models import build_model
    from zslbench.models.checkpoint import first_of, tensor_differences

    head = state.get("module.regressor.weight")
    embed_dim = int(head.shape[0]) if isinstance(head, torch.Tensor) and head.ndim == 2 else 300
    with torch.device("meta"):
        ours = build_model(model, embed_dim).state_dict()
    expected = {reference_name(key, model): key for key in ours}
    unused = tuple(f"module.{layer}." for layer in C3D_UNUSED) if model == "e2e_c3d" else ()
    ignored = sorted(name for name in state if unused and name.startswith(unused))
    ours_named = {name: ours[key] for name, key in expected.items()}  # in the reference's names
    theirs = {name: tensor for name, tensor in state.items() if name not in ignored}
    problems = tensor_differences(ours_named, theirs, where=model)
    if problems:
        raise ZslbenchError(
            f"the checkpoint's tensors do not fit {model} ({len(problems)} differ: {first_of(problems, SHOWN)})",
            "only the reference's own networks at full width import (network.py: r2plus1d_18, r3d_18, c3d)",
        )
    return {key: state[name].contiguous() for name, key in expected.items()}, ignored


def default_protocol(dataset: str | None) -> tuple[str, list[str]]:
    """The shipped protocol (and `--set`s) matching opt.dataset, as the reference reads it: dataset.py
    `get_datasets` tests on UCF101, HMDB51 and ActivityNet when the name holds 'other', else on UCF101
    and HMDB51 when it holds 'both'; auxiliary_dataset.py `get_kinetics` trains on Kinetics-700 when
    it holds '700', else Kinetics-400. Its `-reference` variant: the weights were trained, and their
    numbers published, with the reference's clip settings. No dataset: the default protocol's."""
    if dataset is None:
        return f"{DEFAULT_PROTOCOL}{REFERENCE_VARIANT}", []
    if "other" not in dataset and "both" not in dataset:
        raise ZslbenchError(
            f"opt.dataset {dataset!r} is no Kinetics training the reference filters for zero-shot tests",
            f"pass {named('--protocol', 'protocol')} to name the protocol to evaluate it under",
        )
    source = "k700" if "700" in dataset else "k400"
    if "other" in dataset:
        anet = f"brattoli2020-k700-ucf-hmdb-anet{REFERENCE_VARIANT}"
        return anet, [] if source == "k700" else ['train.source="kinetics400"']
    return f"brattoli2020-{source}-ucf-hmdb{REFERENCE_VARIANT}", []


def reference_protocol(opt: dict[str, Any], protocol: str | Path | Protocol | None, embedding: str | None) -> Protocol:
    """The protocol to evaluate under, with the reference's tau (opt.class_overlap) and vectors.

    A name or file gets `--set`s for what differs (kept in the checkpoint, so evaluation reloads the
    same fingerprint); a loaded Protocol is taken as it is and must agree."""
    import numpy as np

    if "class_overlap" not in opt:
        raise ZslbenchError("the checkpoint's opt has no class_overlap (tau)", HINT)
    tau = float(opt["class_overlap"])
    if isinstance(protocol, Protocol):
        differs = [("tau", protocol.tau, tau)] if protocol.tau != tau else []
        if embedding is not None and embedding != protocol.embedding:
            differs.append(("embedding", protocol.embedding, embedding))
        if differs:
            what, ours, wanted = differs[0]
            raise ZslbenchError(
                f"the protocol's {what} is {ours}, the reference checkpoint's {wanted}",
                f"load the protocol with that {SET_OPTION}, or pass its name or file",
            )
        return protocol
    name, sets = default_protocol(opt.get("dataset")) if protocol is None else (str(protocol), [])
    base = load_protocol(name, sets)
    spec = embedding or (base.embedding if base.embedding.startswith("word2vec:") else WORD2VEC_GOOGLENEWS)
    extra = [f"embedding.model={json.dumps(spec)}"] if spec != base.embedding else []
    extra += [f"overlap.tau={np.format_float_positional(tau)}"] if tau != base.tau else []
    return load_protocol(name, [*sets, *extra]) if extra else base


def reference_classes(
    protocol: Protocol, opt: dict[str, Any], embed_dim: int
) -> tuple[list[str] | None, dict[str, Any], str | None]:
    """(training classes, compliance verdict, embedder id): the classes the reference's filter keeps
    (auxiliary_dataset.py `filter_overlapping_classes`: min cosine distance >= tau, the rule of
    Eq. 3), derived with zslbench's rule, then opt.class_total's subset (`filter_classes`).

    Vectors that are not available here (e.g. no GoogleNews file) leave the classes None and the
    verdict unknown, saying why; vectors of another dimension than the head's are an error."""
    from zslbench.text import load_embedder, parse_spec
    from zslbench.text.class_vectors import embed_class_lists

    about = {"how": CLASSES_HOW, "reference_count": opt.get("n_classes"), "embedding": protocol.embedding}
    parse_spec(protocol.embedding)  # an unknown kind of embedding is an error, not "unavailable"
    try:
        embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    except ZslbenchError as err:
        why = f"the class vectors {protocol.embedding} are not available here ({err.message})"
        return None, unknown_verdict(protocol, why, about), None
    lists = [protocol.source_classes(), *protocol.test_classes()]
    dim = int(embed_class_lists(lists, embedder)[0].vectors.shape[1])
    if dim != embed_dim:
        kind = WORD2VEC_GOOGLENEWS.split(":")[0]
        vectors = named(f"--embedding {kind}:PATH", f"embedding='{kind}:PATH'")
        raise ZslbenchError(
            f"the checkpoint's head maps to {embed_dim}-d vectors, but {protocol.embedding} gives {dim}-d ones",
            f"pass the reference's vectors with {vectors} (GoogleNews-vectors-negative300.bin, 300-d)",
        )
    kept, verdict = training_classes(protocol, embedder)
    names = class_total_subset(kept, opt.get("class_total"))
    about.update(count=len(names), kept_by_rule=len(kept))
    compliance = {**verdict, "unseen_classes": [], "training_classes": about, "model_selection": MODEL_SELECTION}
    return names, compliance, embedder.id


def class_total_subset(kept: ClassList, class_total: Any) -> list[str]:
    """auxiliary_dataset.py `filter_classes`: with opt.class_total > 0 (a debugging option) the run
    kept only the classes at np.linspace(0, n - 1, class_total) of the sorted kept classes."""
    import numpy as np

    if not isinstance(class_total, int) or class_total <= 0:
        return list(kept.classes)
    ordered = sorted(kept.classes)
    chosen = {ordered[i] for i in np.linspace(0, len(ordered) - 1, class_total).astype(int)}
    return [name for name in kept.classes if name in chosen]


def unknown_verdict(protocol: Protocol, why: str, about: dict[str, Any]) -> dict[str, Any]:
    """The compliance record when the training classes could not be derived."""
    return {
        "compliant": None,
        "verdict": UNKNOWN,
        "why": why,
        "allow_overlap": False,
        "tau": protocol.tau,
        "tests": list(protocol.test),
        "violations": [],
        "removed_by_split": None,
        "unseen_classes": [],
        "training_classes": about,
        "model_selection": MODEL_SELECTION,
    }


def reference_pretraining(opt: dict[str, Any], model: str) -> tuple[Pretraining, str | None]:
    """What the weights saw before the training classes, and the `pretrained_on` dataset name.

    main.py's `--nopretrained` is `store_false`: opt.nopretrained is True (pretrained weights loaded)
    unless the flag was passed. Then network.py loads torchvision's Kinetics-400 weights for the
    ResNets, and /workplace/c3d.pickle (Sports-1M, whose classes zslbench does not ship) for C3D.
    opt.weights (unless 'none') started the run from another run's weights. A file saved by an
    evaluation run (opt.evaluate) does not say how its weights were trained."""
    if opt.get("evaluate"):
        return Pretraining(UNKNOWN, "saved by an evaluation run (opt.evaluate): its training is not in the file"), None
    loaded = opt.get("nopretrained")
    if loaded is None:
        return Pretraining(UNKNOWN, "opt does not say whether pretrained weights were loaded"), None
    weights = opt.get("weights")
    if weights and weights != "none":
        return Pretraining(UNKNOWN, f"started from the weights {weights} (opt.weights)"), None
    if not loaded:
        return Pretraining(NONE), None
    if model == "e2e_c3d":
        return Pretraining(UNKNOWN, "Sports-1M (the C3D weights c3d.pickle; opt.nopretrained is True)"), None
    kinetics = load_class_list("kinetics400")
    name = f"{kinetics.name} (torchvision's pretrained weights; opt.nopretrained is True)"
    return Pretraining(CLASSES, name, kinetics.classes), kinetics.name


def reference_settings(opt: dict[str, Any]) -> dict[str, Any]:
    """The training settings, from opt where it has them (main.py); None where the file does not say.

    opt.bs is the global batch (main.py multiplies it by the GPU count); opt.lr is the learning rate
    when the file was saved (main.py overwrites it after each epoch), not the initial one."""
    return {
        "epochs": opt.get("n_epochs"),
        "batch_size": opt.get("bs"),
        "processes": None,
        "lr": None,
        "lr_when_saved": opt.get("lr"),
        "optimizer": "adam",
        "milestones": None,  # main.py: [60, 120] when the initial lr is 1e-3, else [0.8 * epochs]
        "gamma": 0.1,
        "loss": "mse",
        "seed": None,
        "amp": False,
        "amp_dtype": None,
        "batch_per_process": None,
        "clip_len": opt.get("clip_len"),
        "train_clips": opt.get("n_clips"),
        "crop": opt.get("size"),
        "frozen_backbone": opt.get("fixconvs"),
        "model_selection": MODEL_SELECTION,
    }


def untrained_state(state_dict: dict[str, Any], opt: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint keys of the optimisation: the weights, and no optimizer, scheduler, scaler or RNG
    states (the reference saves none), so an imported checkpoint never resumes. `epoch` counts the
    run's epochs; the epoch of the kept weights is not in the file."""
    return {
        "state_dict": state_dict,
        "optimizer": None,
        "scheduler": None,
        "scaler": None,
        "rng": None,
        "epoch": int(opt.get("n_epochs") or 0),
        "step": 0,
        "global_step": 0,
        "last_loss": float("nan"),
    }


def imported_from(path: Path, saved: dict[str, Any], opt: dict[str, Any], ignored: list[str]) -> dict[str, Any]:
    """Where the weights came from: the file (sha256), its format, its accuracy and how it was chosen."""
    from zslbench.models.checkpoint import file_sha256

    accuracy = saved.get("accuracy")
    try:
        accuracy = float(accuracy)
    except (TypeError, ValueError):
        accuracy = None
    return {
        "path": str(path.resolve()),
        "sha256": file_sha256(path),
        "format": FORMAT_NAME,
        "accuracy": accuracy,
        "accuracy_is": "main.py's mean top-1 over its test datasets, all classes, at the saved epoch",
        "model_selection": MODEL_SELECTION,
        "epoch_of_weights": None,
        "ignored_tensors": ignored,
        "opt": opt,
    }
