"""What a video-text model's weights saw, declared in tiers by their owner: nothing in a weights file says.

Brattoli et al.'s rule (CVPR 2020, Eq. 3) can audit a class list, so the video fine-tuning classes
are audited like any training classes; image-text pretraining (web captions) has no class list and
is recorded as declared, never audited (`protocol.compliance.audit_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zslbench.core.errors import named

NONE = "none"
MAX_CHARS = 500
HINT = "e.g. " + named(
    "--image-text 'OpenAI CLIP, 400M web image-text pairs' --finetuned-on kinetics400 (or none)",
    "Declared(image_text='OpenAI CLIP, 400M web image-text pairs', finetuned_on='kinetics400') (or 'none')",
)


@dataclass(frozen=True)
class Declared:
    """What a video-text model's weights saw, as their owner declares it (nothing in a weights file says).

    `image_text`: its image-text pretraining as text (e.g. "OpenAI CLIP, 400M web image-text pairs"),
    "none", or None (not declared); `finetuned_on`: its video fine-tuning classes (a dataset name or a
    class-list file), "none", or None (not declared)."""

    image_text: str | None = None
    finetuned_on: str | None = None
    classes: tuple[str, ...] | None = None  # `finetuned_on`'s classes as they were read (`resolved`)

    def __post_init__(self) -> None:
        from zslbench.core.errors import ZslbenchError

        for name in ("image_text", "finetuned_on"):
            value = getattr(self, name)
            if value is None:
                continue
            option = named(f"--{name.replace('_', '-')}", name)
            if isinstance(value, str) and len(value) > MAX_CHARS:
                raise ZslbenchError(f"{option} has {len(value)} characters", f"say it in at most {MAX_CHARS}")
            if not isinstance(value, str) or not value.strip():
                raise ZslbenchError(f"{option} {str(value)[:40]!r} is not a declaration", HINT)
            value = NONE if value.strip().lower() == NONE else value.strip()
            object.__setattr__(self, name, value)

    def state(self) -> dict[str, Any]:
        """The checkpoint-like fields `protocol.compliance.audit_model` reads."""
        classes, name = None, None
        if self.finetuned_on == NONE:
            classes = []
        elif self.classes is not None:
            classes, name = list(self.classes), self.finetuned_on
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

    @property
    def given(self) -> bool:
        """Whether anything is declared."""
        return self.image_text is not None or self.finetuned_on is not None

    def resolved(self) -> Declared:
        """With `finetuned_on`'s classes read now, so a later change to (or absence of) the list file,
        or another working folder, cannot change what was declared."""
        if self.classes is not None or not self.finetuned_on or self.finetuned_on == NONE:
            return self
        classes = self.state()["classes"]
        return Declared(self.image_text, self.finetuned_on, tuple(classes))

    def describe(self) -> dict[str, Any]:
        """The two declarations as given (`image_text`, `finetuned_on`), for records and `--json`."""
        return {"image_text": self.image_text, "finetuned_on": self.finetuned_on}
