"""What a video-text model's text tower reads for a class: prompt templates around a natural phrase.

A CLIP-era model scores a video against its own text embeddings of each class, so the numbers move
with the templates, how several templates are combined, and how a class name becomes a phrase
(../shared/reference/clip_era.md, "Templates"). All three are data here (`TextSpec`): recorded in
every result and part of every key that caches class embeddings, so a changed template is never a
hit. The rule (split, audit) keeps the protocol's word embedding; nothing here touches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslbench.core.errors import ZslbenchError, named, unknown_name_error
from zslbench.core.hashing import sha256_json

if TYPE_CHECKING:  # zslbench.text imports numpy; the model registry imports this module and must not
    from zslbench.text.phrases import Overrides

TEXT_OPTIONS = ("templates", "ensemble", "phrases")  # every video-text model's options, read by the evaluator
PHRASE_RULES_VERSION = 1  # bump when `natural_phrase` changes the phrase of any name
ENSEMBLES = ("embedding", "score")  # mean of normalised text embeddings, or mean of similarities
PHRASE_STYLES = ("natural", "words")  # "apply eye makeup", or the rule's words ("apply eye makeup" lemmatised)
MAX_TEMPLATES = 1024
MAX_TEMPLATE_CHARS = 500


def _clip_ucf101() -> tuple[str, ...]:
    """CLIP's 48 UCF101 prompts (Radford et al. 2021, the CLIP repository's data/prompts.md)."""
    verbs = ("", "using ", "doing ", "during ", "performing ", "practicing ")
    nouns = ("photo", "video", "example", "demonstration")
    return tuple(f"a {noun} of {art} person {verb}{{}}." for verb in verbs for art in ("a", "the") for noun in nouns)


TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    # the class phrase alone: ViFi-CLIP's choice (Rasheed et al., CVPR 2023; its authors found templates hurt)
    "bare": ("{}",),
    "video": ("a video of a person {}.",),
    "clip_ucf101": _clip_ucf101(),
    # ActionCLIP's 16 hand-written templates (Wang et al. 2021, utils/Text_Prompt.py), averaged by score
    "actionclip": (
        "a photo of action {}",
        "a picture of action {}",
        "Human action of {}",
        "{}, an action",
        "{} this is an action",
        "{}, a video of action",
        "Playing action of {}",
        "{}",
        "Playing a kind of action, {}",
        "Doing a kind of action, {}",
        "Look, the human is {}",
        "Can you recognize the action of {}?",
        "Video classification of {}",
        "A video of {}",
        "The man is {}",
        "The woman is {}",
    ),
}


@dataclass(frozen=True)
class TextSpec:
    """How class names become the texts a text tower embeds.

    `templates`: strings with exactly one `{}` where the phrase goes; `name`: the template set they
    came from ("custom" for a list or a file); `ensemble`: "embedding" (the mean of each class's
    L2-normalised template embeddings, normalised again) or "score" (the mean over templates of the
    cosine similarities); `phrases`: "natural" or "words" (`class_phrase`)."""

    templates: tuple[str, ...] = TEMPLATE_SETS["bare"]
    name: str = "bare"
    ensemble: str = "embedding"
    phrases: str = "natural"

    def texts(self, classes: Sequence[str], overrides: Overrides | None = None) -> list[str]:
        """Every (template, class) text, template-major: [templates x classes]."""
        from zslbench.text.phrases import default_overrides

        overrides = overrides or default_overrides()
        phrases = [class_phrase(name, self.phrases, overrides) for name in classes]
        return [template.replace("{}", phrase) for template in self.templates for phrase in phrases]

    def describe(self, overrides: Overrides | None = None) -> dict[str, Any]:
        """As records state it; `fingerprint` covers templates, ensembling, phrase style and the rules
        and overrides that make phrases."""
        from zslbench.text.phrases import RULES_VERSION, default_overrides

        overrides = overrides or default_overrides()
        data = {
            "templates": list(self.templates),
            "template_set": self.name,
            "ensemble": self.ensemble,
            "phrases": self.phrases,
            "phrase_rules": {"natural": PHRASE_RULES_VERSION, "words": RULES_VERSION, "overrides": overrides.sha256},
        }
        return {**data, "fingerprint": sha256_json(data)}


def text_spec(
    templates: str | Sequence[str] | None = None,
    ensemble: str | None = None,
    phrases: str | None = None,
    default: TextSpec | None = None,
) -> TextSpec:
    """A checked TextSpec: `templates` is a set's name (TEMPLATE_SETS), a list of templates, or a
    .txt (one per line) / .yaml (a list) file; None keeps `default`'s. ZslbenchError for a template
    without exactly one `{}`, an unknown set, ensembling or phrase style."""
    base = default or TextSpec()
    chosen, name = base.templates, base.name
    if isinstance(templates, str) and templates in TEMPLATE_SETS:
        chosen, name = TEMPLATE_SETS[templates], templates
    elif isinstance(templates, str) and (templates.endswith((".txt", ".yaml", ".yml")) or Path(templates).is_file()):
        chosen, name = read_templates(Path(templates)), "custom"
    elif isinstance(templates, str):
        raise unknown_name_error("template set", templates, TEMPLATE_SETS, "or pass a list, or a .txt/.yaml file")
    elif isinstance(templates, list | tuple):
        chosen, name = tuple(templates), "custom"
    elif templates is not None:
        example = named("--option templates=clip_ucf101", "templates='clip_ucf101'")
        raise ZslbenchError(
            f"templates {templates!r} are neither a set's name, a list nor a file",
            f"e.g. {example} (sets: {', '.join(TEMPLATE_SETS)}) or a list of strings with {{}}",
        )
    spec = TextSpec(check_templates(chosen), name, ensemble or base.ensemble, phrases or base.phrases)
    if spec.ensemble not in ENSEMBLES:
        raise ZslbenchError(f"unknown ensemble {spec.ensemble!r}", f"choose {' or '.join(ENSEMBLES)}")
    if spec.phrases not in PHRASE_STYLES:
        raise ZslbenchError(f"unknown phrase style {spec.phrases!r}", f"choose {' or '.join(PHRASE_STYLES)}")
    return spec


def check_templates(templates: Sequence[Any]) -> tuple[str, ...]:
    """The templates, each a string with exactly one `{}`; a ZslbenchError naming the first that is not."""
    if not 1 <= len(templates) <= MAX_TEMPLATES:
        raise ZslbenchError(f"{len(templates)} templates given", f"give 1 to {MAX_TEMPLATES} templates")
    for template in templates:
        if isinstance(template, str) and len(template) > MAX_TEMPLATE_CHARS:
            hint = f"keep templates to {MAX_TEMPLATE_CHARS} characters"
            raise ZslbenchError(f"template {template[:40]!r}... has {len(template)} characters", hint)
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ZslbenchError(
                f"template {template!r} must be text with exactly one {{}} where the class phrase goes",
                'e.g. "a video of a person {}."',
            )
    return tuple(templates)


def read_templates(path: Path) -> tuple[str, ...]:
    """Templates from a .yaml file (a list of strings) or a text file (one per line, blank lines skipped)."""
    import yaml

    from zslbench.core.files import read_regular_bytes

    try:
        text = read_regular_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ZslbenchError(f"cannot read templates from {path}: {err}", "pass a UTF-8 .txt or .yaml file") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ZslbenchError(f"templates file {path} is not YAML{line}", "write a list of strings") from None
        if not isinstance(data, list):
            raise ZslbenchError(f"templates file {path} must hold a list of strings", '- "a video of {}."')
        return check_templates(data)
    return check_templates([line.strip() for line in text.splitlines() if line.strip()])


def class_phrase(name: str, style: str = "natural", overrides: Overrides | None = None) -> str:
    """The phrase a template gets for a class. "natural": the name's words as written, lower case
    (`ApplyEyeMakeup` -> "apply eye makeup", `brush_hair` -> "brush hair"); "words": the protocol
    rule's words (stop words dropped, -ing verbs lemmatised). Both take the project's word overrides
    (class_lists/overrides.yaml and the user's), joined by spaces."""
    from zslbench.text.phrases import class_words, default_overrides, name_tokens

    overrides = overrides or default_overrides()
    if name in overrides.words:
        return " ".join(overrides.words[name])
    if style == "words":
        return " ".join(class_words(name, overrides))
    tokens = name_tokens(name)
    if not tokens:
        raise ZslbenchError(
            f"class {name!r} has no words to put in a template", f"add `{name}: [word, ...]` to {overrides.path}"
        )
    return " ".join(tokens)
