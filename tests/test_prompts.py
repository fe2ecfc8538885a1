"""Prompt templates and class phrases of video-text models: what the text tower reads, as data."""

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.models.video_text.prompts import TEMPLATE_SETS, TextSpec, class_phrase, text_spec


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("ApplyEyeMakeup", "apply eye makeup"),  # UCF101 CamelCase
        ("brush_hair", "brush hair"),  # HMDB51 underscores
        ("playing guitar", "playing guitar"),  # Kinetics: -ing kept, unlike the rule's words
        ("BlowDryHair", "blow dry hair"),
        ("YoYo", "yoyo"),  # a packaged override
        ("CleanAndJerk", "weight lift"),  # an override wins over the name's own words
    ],
)
def test_natural_phrases(name, phrase):
    assert class_phrase(name) == phrase


def test_words_style_uses_the_rule(monkeypatch):
    assert class_phrase("playing guitar", "words") == "play guitar"
    assert class_phrase("PlayingDaf", "natural") == "playing daf"


def test_a_users_override_reaches_the_phrases_and_the_fingerprint(tmp_path, monkeypatch):
    before = TextSpec().describe()["fingerprint"]
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("ApplyEyeMakeup: [paint, eye, shadow]\n")
    monkeypatch.setenv("ZSLBENCH_OVERRIDES", str(overrides))
    assert class_phrase("ApplyEyeMakeup") == "paint eye shadow"
    assert TextSpec().describe()["fingerprint"] != before


def test_template_sets_and_texts():
    assert len(TEMPLATE_SETS["clip_ucf101"]) == 48 == len(set(TEMPLATE_SETS["clip_ucf101"]))
    assert len(TEMPLATE_SETS["actionclip"]) == 16
    spec = text_spec("actionclip")
    texts = spec.texts(["Archery", "brush_hair"])
    assert len(texts) == 32 and texts[:2] == ["a photo of action archery", "a photo of action brush hair"]


def test_every_choice_moves_the_fingerprint():
    base = text_spec(["a video of {}."])
    changed = [
        text_spec(["a video of {}!"]),
        text_spec(["a video of {}."], ensemble="score"),
        text_spec(["a video of {}."], phrases="words"),
        text_spec(["a video of {}.", "{}"]),
    ]
    prints = {spec.describe()["fingerprint"] for spec in [base, *changed]}
    assert len(prints) == 5


def test_templates_from_files(tmp_path):
    listed = tmp_path / "templates.txt"
    listed.write_text("a video of {}.\n\n  {} in action \n")
    assert text_spec(str(listed)).templates == ("a video of {}.", "{} in action")
    yaml_file = tmp_path / "templates.yaml"
    yaml_file.write_text('- "a clip of {}."\n- "{}"\n')
    assert text_spec(str(yaml_file)).templates == ("a clip of {}.", "{}")
    assert text_spec(str(yaml_file)).name == "custom"


@pytest.mark.parametrize(
    "templates",
    [["no slot"], ["{} and {}"], [], [42], ["{}" * 1 + "x" * 600]],
)
def test_bad_templates_are_refused(templates):
    with pytest.raises(ZslbenchError):
        text_spec(templates)


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(ZslbenchError, match="template set"):
        text_spec("clip_ucf")
    with pytest.raises(ZslbenchError, match="ensemble"):
        text_spec("bare", ensemble="median")
    with pytest.raises(ZslbenchError, match="phrase style"):
        text_spec("bare", phrases="poetic")
    with pytest.raises(ZslbenchError, match="cannot read templates"):
        text_spec(str(tmp_path / "missing.txt"))
