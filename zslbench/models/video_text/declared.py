"""What a video-text model's weights saw, declared in tiers by their owner: nothing in a weights file says.

Brattoli et al.'s rule (CVPR 2020, Eq. 3) can audit a class list, so the video fine-tuning classes
are audited like any training classes; image-text pretraining (web captions) has no class list and
is recorded as declared, never audited (`protocol.compliance.audit_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NONE = "none"
MAX_CHARS = 500
HINT = "e.g. --image-text 'OpenAI CLIP, 400M web image-text pairs' --finetuned-on kinetics400 (or none)"


@dataclass(frozen=True)
class Declared:
    """What a video-text model's weights saw, as their owner declares it (nothing in a weights file says).

    `image_text`: its image-text pretraining as text (e.g. "OpenAI CLIP, 400M web image-text pairs"),
    "none", or None (not declared); `finetuned_on`: its video fine-tuning classes (a dataset name or a
    class-list file), "none", or None (not declared)."""

    image_text: str | None = None
    finetuned_on: str | None = None

    def __post_init__(self) -> None:
        from zslbench.core.errors import ZslbenchError

        for name in ("image_text", "finetuned_on"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_CHARS:
                raise ZslbenchError(f"--{name.replace('_', '-')} {str(value)[:40]!r} is not a declaration", HINT)
            value = NONE if value.strip().lower() == NONE else value.strip()
            object.__setattr__(self, name, value)

    def state(self) -> dict[str, Any]:
        """The checkpoint-like fields `protocol.compliance.audit_model` reads."""
        classes, name = None, None
        if self.finetuned_on == NONE:
            classes = []
        elif self.finetuned_on:
            from zslbench.text.vocab import load_class_list

            listed = load_class_list(self.finetuned_on)
            classes, name = list(listed.classes), listed.name
        return {
            "image_text": self.image_text,
            "classes": classes,
            "classes_name": name,
            "pretrained_on": None,
            # no pretraining with classes besides: the image-text corpus is its own tier
            "pretraining": {"status": NONE, "name": "", "classes": []},
            "declared": self.describe(),
        }

    def describe(self) -> dict[str, Any]:
        return {"image_text": self.image_text, "finetuned_on": self.finetuned_on}
