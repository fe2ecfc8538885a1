"""`audit`: what a model saw, or a class list, judged by the rule against a protocol's test datasets.

A class list (a dataset name or a class-list file) is audited as `zslbench audit` does
(`protocol.split.audit_classes`); a checkpoint (checkpoint.pt, its run folder, or a safetensors
export) as evaluation audits it (`protocol.compliance.audit_model`, once per test dataset): its
training classes and whatever its initial weights were pretrained on, under the protocol it was
trained with unless another is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.checkpoint_model import checkpoint_protocol
from zslbench.models.checkpoint import load_checkpoint
from zslbench.protocol.compliance import audit_model
from zslbench.protocol.spec import Protocol, as_sets
from zslbench.protocol.split import AuditResult, Sets, Violation, audit_classes, resolve_protocol
from zslbench.protocol.verdicts import worst_verdict
from zslbench.text import load_embedder

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


def is_checkpoint_path(subject: str | Path) -> bool:
    """Whether `subject` names a checkpoint (a folder, or a .pt / .pth / .safetensors file) rather
    than a class list (a dataset name or a text file)."""
    path = Path(subject).expanduser()
    return path.is_dir() or (path.is_file() and path.suffix in CHECKPOINT_SUFFIXES)


def audit(
    checkpoint_or_classes: str | Path,
    protocol: str | Path | Protocol | None = None,
    *,
    sets: Sets = (),
    test: str | Sequence[str] | None = None,
    embedding: str | None = None,
    threshold: float | None = None,
) -> AuditResult:
    """Audit a checkpoint or a training class list under the rule (Brattoli et al. 2020, Eq. 3).

    `protocol` (a shipped name, a YAML file or a loaded Protocol) with its overrides `sets` and the
    dedicated `test`, `embedding` and `threshold` (tau) say what to audit against; default: the
    paper's protocol for a class list, the protocol a checkpoint was trained under for a checkpoint.
    A class list gets "compliant" or "not_compliant"; a checkpoint also "unknown" (its training or
    pretraining classes are not recorded) or "finetuning_compliant" (a video-text model whose image-text
    pretraining cannot be audited). Raises ZslbenchError for an unreadable checkpoint, an unknown
    protocol, dataset or embedding, or a tau outside [0, 2]."""
    if not is_checkpoint_path(checkpoint_or_classes):
        return audit_classes(
            checkpoint_or_classes, protocol, sets=sets, test=test, embedding=embedding, threshold=threshold
        )
    state = load_checkpoint(checkpoint_or_classes)
    if "protocol" not in state:
        raise ZslbenchError(f"{checkpoint_or_classes} names no protocol", "pass the protocol it was trained under")
    if protocol is None:
        resolved = checkpoint_protocol(state, None, as_sets(sets)).replace(
            test=[test] if isinstance(test, str) else test, embedding=embedding, tau=threshold
        )
    else:
        resolved = resolve_protocol(protocol, sets, test=test, embedding=embedding, threshold=threshold)
    embedder = load_embedder(resolved.embedding, word_norm=resolved.word_norm)
    verdicts = [audit_model(state, listed, resolved, embedder) for listed in resolved.test_classes()]
    found = tuple(
        Violation(v["class"], v["nearest"], verdict["dataset"], v["distance"], v["role"])
        for verdict in verdicts
        for v in verdict["violations"]
    )
    worst = worst_verdict([v["verdict"] for v in verdicts])
    why = next((v["why"] for v in verdicts if v["verdict"] == worst and v.get("why")), "")
    report = {"kind": "audit", "checkpoint": str(checkpoint_or_classes), "verdict": worst, "datasets": verdicts}
    by_dataset = {v["dataset"]: v["verdict"] for v in verdicts}
    return AuditResult(str(checkpoint_or_classes), resolved, resolved.tau, worst, found, by_dataset, why, report)
