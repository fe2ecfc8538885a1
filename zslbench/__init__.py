"""zslbench: the realistic zero-shot video classification benchmark (Brattoli et al., CVPR 2020).

The Python API in one place: the README's story, from Python alone. Each name loads its module on
first use, so `import zslbench` stays light (no torch until training or evaluation is asked for):

    import zslbench

    data = zslbench.synth("synth")                                 # the synthetic benchmark
    kept = zslbench.split(data.protocol)                           # the rule: kept classes, written
    verdict = zslbench.audit(data.root / "synth-source.txt", data.protocol)
    run = zslbench.train(zslbench.TrainConfig("e2e_r2plus1d", "run", data.data, str(data.protocol)))
    done = zslbench.evaluate(zslbench.EvalConfig(run.checkpoint, data.data, results="results"))
    frame = zslbench.results_frame("results")                      # long, numeric
    print(zslbench.table("results").text("md"))
    gate = zslbench.check("results", against="published")          # gate.passed

Errors are `ZslbenchError` (message and hint; settings named as Python callers give them). Paths
may be `str` or `pathlib.Path` everywhere. docs/api.md walks through it; docs/architecture.md maps
the subpackages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it ("module:attribute" where the module names it otherwise)
_API = {
    # errors
    "ZslbenchError": "zslbench.core.errors",
    # the synthetic benchmark
    "synth": "zslbench.video.synth:make_synth",
    "SynthDataset": "zslbench.video.synth",
    # the rule: protocols, splits and audits (Sec. 3, Eq. 3)
    "Protocol": "zslbench.protocol.spec",
    "load_protocol": "zslbench.protocol.spec",
    "shipped_protocols": "zslbench.protocol.spec",
    "protocol_overlap": "zslbench.protocol.overlap",
    "compute_overlap": "zslbench.protocol.overlap",
    "training_classes": "zslbench.protocol.compliance",
    "audit_model": "zslbench.protocol.compliance",
    "violations": "zslbench.protocol.compliance",
    "split": "zslbench.protocol.split",
    "SplitResult": "zslbench.protocol.split",
    "audit": "zslbench.evaluation.audit",
    "AuditResult": "zslbench.protocol.split",
    "Violation": "zslbench.protocol.split",
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
    "train_plan": "zslbench.training.plan",  # what `train` / `evaluate` would do, reading no video
    "eval_plan": "zslbench.evaluation.plan",
    # results, tables and the gate
    "Result": "zslbench.reporting.results",
    "Score": "zslbench.reporting.results",
    "load_results": "zslbench.reporting.results",
    "results_frame": "zslbench.reporting.results",
    "ResultsTable": "zslbench.reporting.tables",
    "table": "zslbench.reporting.tables:results_table",
    "GateResult": "zslbench.reporting.gate",
    "Comparison": "zslbench.reporting.gate",
    "check": "zslbench.reporting.gate",
    "write_baseline": "zslbench.reporting.gate",
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
__all__ = [  # every name of _API, and the version (tests/test_python_api.py holds them equal)
    "AuditResult",
    "ClassList",
    "Comparison",
    "Declared",
    "EvalConfig",
    "EvalOutcome",
    "GateResult",
    "Protocol",
    "Result",
    "ResultsTable",
    "Score",
    "SplitResult",
    "SynthDataset",
    "TextSpec",
    "TrainConfig",
    "TrainResult",
    "VideoInput",
    "VideoTextModel",
    "Violation",
    "ZslbenchError",
    "__version__",
    "audit",
    "audit_model",
    "check",
    "compute_overlap",
    "eval_plan",
    "evaluate",
    "evaluate_features",
    "load_class_list",
    "load_embedder",
    "load_protocol",
    "load_results",
    "protocol_overlap",
    "register_dataset",
    "register_metric",
    "register_model",
    "results_frame",
    "shipped_protocols",
    "split",
    "synth",
    "table",
    "text_spec",
    "train",
    "train_plan",
    "training_classes",
    "violations",
    "write_baseline",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (`_API`)."""
    where = _API.get(name)
    if where is None:
        raise AttributeError(f"module 'zslbench' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """The module's own names and the public API."""
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from zslbench.core.errors import ZslbenchError
    from zslbench.datasets import register_dataset
    from zslbench.evaluation.audit import audit
    from zslbench.evaluation.plan import eval_plan
    from zslbench.evaluation.run import EvalConfig, EvalOutcome, evaluate, evaluate_features
    from zslbench.metrics import register_metric
    from zslbench.models import register_model
    from zslbench.models.video_input import VideoInput
    from zslbench.models.video_text.contract import VideoTextModel
    from zslbench.models.video_text.declared import Declared
    from zslbench.models.video_text.prompts import TextSpec, text_spec
    from zslbench.protocol.compliance import audit_model, training_classes, violations
    from zslbench.protocol.overlap import compute_overlap, protocol_overlap
    from zslbench.protocol.spec import Protocol, load_protocol, shipped_protocols
    from zslbench.protocol.split import AuditResult, SplitResult, Violation, split
    from zslbench.reporting.gate import Comparison, GateResult, check, write_baseline
    from zslbench.reporting.results import Result, Score, load_results, results_frame
    from zslbench.reporting.tables import ResultsTable
    from zslbench.reporting.tables import results_table as table
    from zslbench.text import load_embedder
    from zslbench.text.vocab import ClassList, load_class_list
    from zslbench.training.config import TrainConfig, TrainResult
    from zslbench.training.plan import train_plan
    from zslbench.training.trainer import train
    from zslbench.video.synth import SynthDataset
    from zslbench.video.synth import make_synth as synth
