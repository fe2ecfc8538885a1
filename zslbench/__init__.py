"""zslbench: the realistic zero-shot video classification benchmark (Brattoli et al., CVPR 2020).

The Python API in one place; each name loads its module on first use, so `import zslbench` stays
light (no torch until training or evaluation is asked for):

    import zslbench

    protocol = zslbench.load_protocol("brattoli2020-k700-ucf-hmdb")
    table = zslbench.protocol_overlap(protocol)          # split: nearest test class per source class
    kept = table.kept(protocol.tau)                      # keep iff min cosine distance >= tau
    result = zslbench.train(zslbench.TrainConfig(...))   # on the kept classes
    outcome = zslbench.evaluate(zslbench.EvalConfig(...))

docs/architecture.md maps the subpackages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    # the rule: protocols, splits and audits (Sec. 3, Eq. 3)
    "Protocol": "zslbench.protocol.spec",
    "load_protocol": "zslbench.protocol.spec",
    "shipped_protocols": "zslbench.protocol.spec",
    "protocol_overlap": "zslbench.protocol.overlap",
    "compute_overlap": "zslbench.protocol.overlap",
    "training_classes": "zslbench.protocol.compliance",
    "audit_model": "zslbench.protocol.compliance",
    "violations": "zslbench.protocol.compliance",
    # class names and text embeddings
    "ClassList": "zslbench.text.vocab",
    "load_class_list": "zslbench.text.vocab",
    "load_embedder": "zslbench.text",
    # training and evaluation
    "TrainConfig": "zslbench.training.config",
    "TrainResult": "zslbench.training.config",
    "train": "zslbench.training.trainer",
    "EvalConfig": "zslbench.evaluation.run",
    "EvalOutcome": "zslbench.evaluation.run",
    "evaluate": "zslbench.evaluation.run",
    "evaluate_features": "zslbench.evaluation.run",
    # video-text models (CLIP-era): what they read, their prompts, what their weights saw
    "VideoInput": "zslbench.models.video_input",
    "TextSpec": "zslbench.models.video_text.prompts",
    "text_spec": "zslbench.models.video_text.prompts",
    "Declared": "zslbench.models.video_text.declared",
    "VideoTextModel": "zslbench.models.video_text.contract",
    # plugins
    "register_model": "zslbench.models",
    "register_dataset": "zslbench.datasets",
    "register_metric": "zslbench.metrics",
}
__all__ = [
    "ClassList",
    "Declared",
    "EvalConfig",
    "EvalOutcome",
    "Protocol",
    "TextSpec",
    "TrainConfig",
    "TrainResult",
    "VideoInput",
    "VideoTextModel",
    "__version__",
    "audit_model",
    "compute_overlap",
    "evaluate",
    "evaluate_features",
    "load_class_list",
    "load_embedder",
    "load_protocol",
    "protocol_overlap",
    "register_dataset",
    "register_metric",
    "register_model",
    "shipped_protocols",
    "text_spec",
    "train",
    "training_classes",
    "violations",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'zslbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from zslbench.datasets import register_dataset
    from zslbench.evaluation.run import EvalConfig, EvalOutcome, evaluate, evaluate_features
    from zslbench.metrics import register_metric
    from zslbench.models import register_model
    from zslbench.protocol.compliance import audit_model, training_classes, violations
    from zslbench.protocol.overlap import compute_overlap, protocol_overlap
    from zslbench.protocol.spec import Protocol, load_protocol, shipped_protocols
    from zslbench.text import load_embedder
    from zslbench.text.vocab import ClassList, load_class_list
    from zslbench.training.config import TrainConfig, TrainResult
    from zslbench.training.trainer import train
