import json

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.text.phrases import class_words, default_overrides, load_overrides
from zslbench.text.vocab import DATASETS, load_class_list


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ApplyEyeMakeup", ("apply", "eye", "makeup")),  # UCF101 CamelCase
        ("WalkingWithDog", ("walk", "dog")),  # stop word dropped, -ing lemmatised
        ("ride_bike", ("ride", "bike")),  # HMDB51 underscores
        ("skiing (not slalom or crosscountry)", ("ski",)),  # (not ...) qualifier dropped
        ("backflip (human)", ("backflip", "human")),  # parentheses stripped
        ("massaging person's head", ("massage", "person", "head")),  # possessive
        ("BMX", ("bmx",)),  # an acronym stays one word
        ("Ping-pong", ("ping", "pong")),  # hyphens split
        ("Doing karate", ("karate",)),  # "doing" -> "do", a stop word
        ("Raking leaves", ("rake", "leaves")),  # only -ing forms are lemmatised
        ("using circular saw", ("circular", "saw")),
    ],
)
def test_general_rule(name, words):
    assert class_words(name) == words


def test_overrides_apply_by_exact_name():
    assert class_words("Skijet") == ("jet", "ski")
    assert class_words("situp") == ("sit", "up")
    assert class_words("photobombing") == ("photo", "prank")


def test_every_override_names_a_shipped_class():
    shipped = {name for dataset in DATASETS for name in load_class_list(dataset).classes}
    stale = set(default_overrides().words) - shipped
    assert not stale, f"overrides for classes no dataset has: {sorted(stale)}"


def test_every_shipped_class_has_words_the_default_vectors_know():
    from zslbench.text import load_embedder

    glove = load_embedder("glove-6b-50d")
    words = {w for dataset in DATASETS for name in load_class_list(dataset).classes for w in class_words(name)}
    known = glove.lookup(words)
    assert words - set(known) == set(), "add overrides for these words in class_lists/overrides.yaml"


def test_a_name_of_only_stop_words_is_an_error_naming_the_override_file():
    with pytest.raises(ZslbenchError, match="no words left") as err:
        class_words("the")
    assert "overrides.yaml" in err.value.hint


def test_overrides_file_errors(tmp_path):
    bad = tmp_path / "o.yaml"
    bad.write_text("Skijet: jet ski\n")
    with pytest.raises(ZslbenchError, match="non-empty list"):
        load_overrides(bad)
    bad.write_text("[a, b]\n")
    with pytest.raises(ZslbenchError, match="must map"):
        load_overrides(bad)
    good = tmp_path / "g.yaml"
    good.write_text("My Class: [alpha, beta]\n")
    overrides = load_overrides(good)
    assert class_words("My Class", overrides) == ("alpha", "beta")
    assert overrides.sha256 != default_overrides().sha256


def test_lemmas_are_remembered_so_a_warm_run_skips_lemminflect(fresh_cache):
    import subprocess
    import sys

    code = (
        "import sys; from zslbench.text.phrases import phrases_for\n"
        "assert phrases_for(['playing guitar', 'Skiing']) == [('play', 'guitar'), ('ski',)]\n"
        "print('lemminflect' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (first.stdout.strip(), second.stdout.strip()) == ("True", "False")
    assert list((fresh_cache / "lemmas").glob("lemminflect-*.json"))


def test_a_users_overrides_file_fixes_words_without_editing_the_package(runner, tmp_path, monkeypatch):
    """The user's file (config folder, or $ZSLBENCH_OVERRIDES) wins over the packaged one, the error hint
    points to it, and a protocol's fingerprint says whether it was used."""
    from zslbench.cli import app
    from zslbench.protocol.spec import load_protocol

    monkeypatch.setenv("ZSLBENCH_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("ZSLBENCH_OVERRIDES", raising=False)
    plain = load_protocol().fingerprint
    with pytest.raises(ZslbenchError) as err:
        class_words("the")
    assert str(tmp_path / "config" / "overrides.yaml") in err.value.hint
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "overrides.yaml").write_text("the: [definite, article]\nPlayingGuitar: [guitar]\n")
    assert class_words("the") == ("definite", "article") and class_words("PlayingGuitar") == ("guitar",)
    assert class_words("Skijet") == default_overrides().words["Skijet"]  # packaged entries stay
    assert load_protocol().fingerprint != plain
    shown = runner.invoke(app, ["classes", "ucf101", "--json"])
    assert shown.exit_code == 0 and ["guitar"] in [row["words"] for row in json.loads(shown.stdout)["classes"]]
    (tmp_path / "config" / "overrides.yaml").unlink()
    assert load_protocol().fingerprint == plain
    monkeypatch.setenv("ZSLBENCH_OVERRIDES", str(tmp_path / "missing.yaml"))
    with pytest.raises(ZslbenchError, match="ZSLBENCH_OVERRIDES names"):
        class_words("PlayingGuitar")
