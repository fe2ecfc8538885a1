"""The compliance verdicts and how people read them (plain data: eval, table, check and weights show them).

Brattoli et al. (CVPR 2020), Sec. 3, Eq. 3 decides compliant or not; zslbench adds "unknown" (what a
model saw is not known) and, for video-text models, "finetuning_compliant" (`compliance.audit_model`).
"""

from __future__ import annotations

UNKNOWN = "unknown"
# The verdicts, most severe first. finetuning_compliant: a video-text model whose declared video
# fine-tuning classes pass Eq. 3 but whose image-text pretraining (web captions, not a class list)
# cannot be audited, so the rule holds only for the part of its history that has classes.
COMPLIANT, NOT_COMPLIANT, FINETUNING_COMPLIANT = "compliant", "not_compliant", "finetuning_compliant"
VERDICTS = (NOT_COMPLIANT, UNKNOWN, FINETUNING_COMPLIANT, COMPLIANT)
VERDICT_WORDS = {
    COMPLIANT: "compliant",
    NOT_COMPLIANT: "NOT compliant",
    FINETUNING_COMPLIANT: "fine-tuning compliant, pretraining unaudited",
    UNKNOWN: "unknown",
}
VERDICT_STYLES = {
    COMPLIANT: "green",
    NOT_COMPLIANT: "bold red",
    FINETUNING_COMPLIANT: "cyan",
    UNKNOWN: "yellow",
}


def worst_verdict(verdicts: set[str] | list[str]) -> str:
    """The most severe of several verdicts (e.g. one per test dataset)."""
    return next(v for v in VERDICTS if v in verdicts)
