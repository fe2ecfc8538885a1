import json
import re
import shutil
import textwrap

import pytest
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.protocol.spec import DEFAULT_PROTOCOL, load_protocol, read_protocol, shipped_protocols

MINIMAL = """\
name: mine
version: 1
train:
  source: lists/source.txt
test: [lists/target.txt]
"""


def write_protocol(tmp_path, text=MINIMAL):
    (tmp_path / "lists").mkdir(parents=True, exist_ok=True)
    (tmp_path / "lists" / "source.txt").write_text("playing guitar\nswimming\nskiing\n")
    (tmp_path / "lists" / "target.txt").write_text("PlayingGuitar\nDiving\n")
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_protocols_are_valid_named_after_their_files_and_distinct():
    shipped = shipped_protocols()
    assert {"brattoli2020-k700-ucf-hmdb", "brattoli2020-k700-ucf-hmdb-anet", "brattoli2020-k400-ucf-hmdb"} <= set(
        shipped
    )
    fingerprints = set()
    for name, path in shipped.items():
        proto = read_protocol(path)
        assert proto.name == name
        fingerprints.add(proto.fingerprint)
    assert len(fingerprints) == len(shipped)


def test_default_protocol_holds_the_papers_settings():
    proto = load_protocol()
    assert proto.name == DEFAULT_PROTOCOL
    assert (proto.train_source, proto.test, proto.tau) == ("kinetics700", ["ucf101", "hmdb51"], 0.05)
    clips = proto.data["clips"]
    assert (clips["clip_len"], clips["train_clips"], clips["test_clips"], clips["crop"], clips["short_side"]) == (
        16, 1, 25, 112, 128,
    )  # fmt: skip
    assert proto.data["evaluation"]["splits"] == [
        {"kind": "random_half", "repeats": 10, "first_seed": 0},
        {"kind": "all", "repeats": 1, "first_seed": 0},
    ]
    assert load_protocol("brattoli2020-k700-ucf-hmdb-anet").test == ["ucf101", "hmdb51", "activitynet200"]


def test_defaults_fill_a_minimal_protocol_and_paths_are_relative_to_it(tmp_path):
    proto = read_protocol(write_protocol(tmp_path))
    assert proto.tau == 0.05 and proto.embedding == "glove-6b-50d" and proto.data["clips"]["test_clips"] == 25
    assert proto.source_classes().classes == ("playing guitar", "swimming", "skiing")


def test_fingerprint_ignores_location_but_follows_content(tmp_path):
    (tmp_path / "a").mkdir()
    a = read_protocol(write_protocol(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    b = read_protocol(tmp_path / "b" / "mine.yaml")
    assert a.fingerprint == b.fingerprint
    (tmp_path / "b" / "lists" / "target.txt").write_text("PlayingGuitar\nDiving\nSurfing\n")
    assert read_protocol(tmp_path / "b" / "mine.yaml").fingerprint != a.fingerprint
    assert a.replace(tau=0.1).fingerprint != a.fingerprint
    assert a.replace(tau=0.05).fingerprint == a.fingerprint
    assert a.replace(embedding="glove-6b-50d").changed == ()
    assert a.replace(tau=0.2, test=["ucf101"]).changed == ("test", "overlap.tau")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "overlap:\n  tua: 0.1\n", r"mine.yaml:7: unknown key 'tua' in overlap. Did you mean 'tau'"),
        (MINIMAL + "overlap:\n  tau: lots\n", r"mine.yaml:7: overlap.tau must be a number in \[0.0, 2.0\], got 'lots'"),
        (MINIMAL + "overlap:\n  tau: 3\n", r"mine.yaml:7: overlap.tau must be a number in \[0.0, 2.0\], got 3.0"),
        (MINIMAL.replace("version: 1", 'version: "1"'), r"mine.yaml:2: version must be an integer >= 1"),
        (MINIMAL + "clips:\n  clip_len: [16]\n", r"mine.yaml:7: clips.clip_len must be an integer"),
        (MINIMAL.replace("name: mine\n", ""), r"mine.yaml:1: missing required key 'name'"),
        (MINIMAL + "test: [a]\n", r"mine.yaml:6: key 'test' appears twice"),
        (
            MINIMAL + "evaluation:\n  splits:\n    - {kind: half}\n",
            r"mine.yaml:8: evaluation.splits\[0\].kind must be one",
        ),
        (MINIMAL + "train: [\n", r"mine.yaml:\d+: YAML syntax error"),
        ("", r"mine.yaml:1: the file is empty"),
        (MINIMAL.replace("lists/target.txt", "lists/nope.txt"), r"class-list file .*nope.txt does not exist"),
    ],
)
def test_validation_errors_name_file_line_and_field(tmp_path, text, expected):
    path = write_protocol(tmp_path, text)
    with pytest.raises(ZslbenchError, match=expected) as err:
        read_protocol(path)
    assert err.value.hint


def test_unknown_protocol_name_and_missing_file(tmp_path):
    with pytest.raises(ZslbenchError, match="Did you mean 'brattoli2020-k700-ucf-hmdb'"):
        load_protocol("brattoli2020-k700-ucf-hmbd")
    with pytest.raises(ZslbenchError, match="does not exist"):
        load_protocol(str(tmp_path / "x.yaml"))


def test_tau_outside_range_is_rejected_on_replace():
    with pytest.raises(ZslbenchError, match=r"outside \[0, 2\]"):
        load_protocol().replace(tau=-0.1)


# include: and --set ------------------------------------------------------------------------------

BASE = """\
name: base
version: 3
train:
  source: lists/source.txt
  epochs: 10
  lr_milestones: [2, 4]
test: [lists/target.txt, hmdb51]
overlap:
  tau: 0.1
"""


def write_file(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_include_merges_mappings_replaces_lists_and_chains(tmp_path):
    write_protocol(tmp_path / "base", BASE)  # base/mine.yaml with base/lists/*.txt
    write_file(
        tmp_path / "mid" / "mid.yaml", "include: ../base/mine.yaml\ntrain:\n  epochs: 20\nclips: {clip_len: 8}\n"
    )
    child = write_file(
        tmp_path / "top" / "deeper" / "child.yaml",
        "include: ../../mid/mid.yaml\nname: child\ntrain:\n  lr_milestones: [5]\nclips: {crop: 64}\n",
    )
    proto = read_protocol(child)
    train = proto.data["train"]
    assert (proto.name, proto.version, proto.tau) == ("child", 3, 0.1)
    assert (train["epochs"], train["lr_milestones"], train["batch_size"]) == (20, [5], 22)  # merged, replaced, default
    assert (proto.data["clips"]["clip_len"], proto.data["clips"]["crop"]) == (8, 64)
    # the base's class-list paths still name the base's files, now written relative to the child
    assert train["source"] == "../../base/lists/source.txt" and proto.test == ["../../base/lists/target.txt", "hmdb51"]
    assert proto.source_classes().classes == ("playing guitar", "swimming", "skiing")
    assert proto.path == child.resolve() and proto.changed == () and "include" not in proto.data


def test_include_of_a_shipped_protocol_keeps_its_settings(tmp_path):
    path = write_file(tmp_path / "k400.yaml", "include: brattoli2020-k400-ucf-hmdb\noverlap: {tau: 0.2}\n")
    proto = read_protocol(path)
    shipped = load_protocol("brattoli2020-k400-ucf-hmdb")
    assert proto.tau == 0.2 and proto.data == {**shipped.data, "overlap": {"tau": 0.2}}
    assert proto.fingerprint == shipped.replace(tau=0.2).fingerprint


def test_an_include_and_a_whole_file_with_the_same_content_share_a_fingerprint(tmp_path):
    whole = read_protocol(write_protocol(tmp_path / "whole", BASE + "clips: {clip_len: 8}\n"))
    write_protocol(tmp_path / "base", BASE)
    same = read_protocol(
        write_file(tmp_path / "child" / "c.yaml", "include: ../base/mine.yaml\nclips: {clip_len: 8}\n")
    )
    assert same.fingerprint == whole.fingerprint  # the include's name and folder are not hashed
    nothing = read_protocol(write_file(tmp_path / "base" / "same.yaml", "include: mine.yaml\n"))
    assert nothing.data == read_protocol(tmp_path / "base" / "mine.yaml").data
    assert nothing.fingerprint == read_protocol(tmp_path / "base" / "mine.yaml").fingerprint
    other = read_protocol(
        write_file(tmp_path / "child" / "d.yaml", "include: ../base/mine.yaml\nclips: {clip_len: 4}\n")
    )
    assert other.fingerprint != whole.fingerprint


def test_an_include_cycle_is_refused_naming_the_chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_file(tmp_path / "a.yaml", "include: b.yaml\nname: a\n")
    write_file(tmp_path / "b.yaml", "version: 1\ninclude: a.yaml\n")
    write_file(tmp_path / "self.yaml", "include: self.yaml\n")
    with pytest.raises(ZslbenchError) as err:
        load_protocol("a.yaml")
    assert err.value.message == "b.yaml:2: include cycle: a.yaml -> b.yaml -> a.yaml" and err.value.hint
    with pytest.raises(ZslbenchError) as err:
        load_protocol("self.yaml")
    assert err.value.message == "self.yaml:1: include cycle: self.yaml -> self.yaml"


@pytest.mark.parametrize(
    ("base", "child", "expected"),
    [
        (BASE + "clips:\n  crop: big\n", "include: ../base/mine.yaml\n", r"^.*base/mine.yaml:11: clips.crop must be"),
        (BASE, "include: ../base/mine.yaml\nclips:\n  crop: big\n", r"^.*child/c.yaml:3: clips.crop must be"),
        (BASE, "include: ../base/mine.yaml\noverlap:\n  tua: 1\n", r"child/c.yaml:3: unknown key 'tua' in overlap"),
        (
            BASE.replace("name: base\n", ""),
            "include: ../base/mine.yaml\n",
            r"child/c.yaml:1: missing required key 'name'",
        ),
        (BASE, "include: ../base/nope.yaml\n", r"child/c.yaml:1: include '../base/nope.yaml' is no shipped protocol"),
        (BASE, "include: brattoli2020-k400-ucf-hmbd\n", r"Did you mean 'brattoli2020-k400-ucf-hmdb'"),
        (BASE, "include: [a]\n", r"child/c.yaml:1: include must be a protocol name or a YAML file path"),
        (BASE, "include: a.yaml\ninclude: b.yaml\n", r"child/c.yaml:2: key 'include' appears twice"),
        (BASE, "inclde: ../base/mine.yaml\n", r"child/c.yaml:1: unknown key 'inclde'. Did you mean 'include'"),
        (BASE + "train:\n  seed: 1\n", "include: ../base/mine.yaml\n", r"base/mine.yaml:10: key 'train' appears twice"),
    ],
)
def test_include_errors_name_the_file_and_line_the_value_was_written_in(tmp_path, base, child, expected):
    write_protocol(tmp_path / "base", base)
    with pytest.raises(ZslbenchError, match=expected) as err:
        read_protocol(write_file(tmp_path / "child" / "c.yaml", child))
    assert err.value.hint and "\n" not in str(err.value)


def test_sets_change_the_value_the_changed_list_and_the_fingerprint(tmp_path):
    plain = load_protocol()
    proto = load_protocol(sets=("clips.clip_len=8", "overlap.tau=0.1", "evaluation.metrics=[top1]"))
    assert (proto.data["clips"]["clip_len"], proto.tau, proto.data["evaluation"]["metrics"]) == (8, 0.1, ["top1"])
    assert proto.data["clips"]["crop"] == 112  # the rest of the section stays
    assert proto.changed == ("clips.clip_len", "overlap.tau", "evaluation.metrics")
    assert proto.fingerprint != plain.fingerprint
    same = load_protocol(sets=["overlap.tau=0.05", "clips={clip_len: 16}"])  # the values it has already
    assert same.changed == () and same.fingerprint == plain.fingerprint
    assert load_protocol(sets=["overlap.tau=0.1"]).fingerprint == plain.replace(tau=0.1).fingerprint
    assert load_protocol(sets=["overlap.tau=0.1", "overlap.tau=0.2"]).tau == 0.2  # in order: the last wins
    assert proto.replace(tau=0.3).changed == ("clips.clip_len", "overlap.tau", "evaluation.metrics")


def test_sets_apply_after_includes_and_class_lists_given_there_start_at_the_working_directory(tmp_path, monkeypatch):
    write_protocol(tmp_path / "base", BASE)
    child = write_file(tmp_path / "child" / "c.yaml", "include: ../base/mine.yaml\noverlap: {tau: 0.3}\n")
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "mine.txt").write_text("surfing\n")
    monkeypatch.chdir(tmp_path / "here")
    proto = read_protocol(child, sets=["overlap.tau=0.4", "train.source=mine.txt", "test=[ucf101]"])
    assert proto.tau == 0.4 and proto.test == ["ucf101"]
    assert proto.train_source == str(tmp_path / "here" / "mine.txt") and proto.source_classes().classes == ("surfing",)
    assert proto.changed == ("overlap.tau", "train.source", "test")


def test_reference_names_the_sets_and_reloads_the_same_protocol(tmp_path):
    plain = load_protocol("brattoli2020-k400-ucf-hmdb")
    assert plain.reference() == {
        "name": "brattoli2020-k400-ucf-hmdb", "version": 1, "fingerprint": plain.fingerprint,
        "training_fingerprint": plain.training_fingerprint, "path": str(plain.path),
    }  # fmt: skip
    assert list(plain.reference())[:3] == ["name", "version", "fingerprint"]  # what checkpoints stored before
    sets = ["clips.clip_len=8", "overlap.tau=0.1"]
    proto = load_protocol("brattoli2020-k400-ucf-hmdb", sets=sets)
    ref = json.loads(json.dumps(proto.reference()))  # as a checkpoint stores it
    assert ref["sets"] == sets and ref["fingerprint"] == proto.fingerprint != plain.fingerprint
    again = load_protocol(ref["path"], sets=ref["sets"])
    assert again.fingerprint == ref["fingerprint"] and again.changed == proto.changed
    assert load_protocol(proto) is proto  # a loaded protocol passes through config objects unchanged
    with pytest.raises(ValueError, match="sets"):
        load_protocol(proto, sets=["overlap.tau=0.2"])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("clips.clip_len=eight", r"^--set clips.clip_len=eight: clips.clip_len must be an integer >= 1, got 'eight'$"),
        ("clips.clip_len=0", r"^--set clips.clip_len=0: clips.clip_len must be an integer >= 1, got 0$"),
        ("overlap.tau=3", r"^--set overlap.tau=3: overlap.tau must be a number in \[0.0, 2.0\], got 3.0$"),
        ("overlap.tua=0.1", r"^--set overlap.tua=0.1: unknown key 'tua' in overlap. Did you mean 'tau'\?$"),
        ("clip.clip_len=8", r"^--set clip.clip_len=8: unknown key 'clip'. Did you mean 'clips'\?$"),
        ("clips.clip_len.x=8", r"^--set clips.clip_len.x=8: clips.clip_len is an integer >= 1, not a section$"),
        ("clips=8", r"^--set clips=8: clips must be a mapping"),
        ("overlap.tau", r"^--set 'overlap.tau' is not KEY=VALUE$"),
        ("..=1", r"^--set '..=1' is not KEY=VALUE$"),
        ("overlap.tau=[", r"^--set overlap.tau=\[: '\[' is not a YAML value$"),
        ("test=[]", r"^--set test=\[\]: test needs at least 1 item"),
        ("train.loss=l1", r"^--set train.loss=l1: train.loss must be one of mse, cosine, softmax, got 'l1'$"),
        ("train.source=nope.txt", r"class-list file .*nope.txt does not exist"),
    ],
)
def test_a_bad_set_is_one_error_naming_it(item, expected):
    with pytest.raises(ZslbenchError) as err:
        load_protocol(sets=[item])
    assert re.search(expected, err.value.cli_message), err.value.cli_message  # the CLI's words
    assert err.value.hint and "\n" not in str(err.value)


def test_protocols_show_and_validate_take_sets_and_includes(runner, tmp_path):
    from zslbench.cli import app

    name = "brattoli2020-k400-ucf-hmdb"
    shown = runner.invoke(app, ["protocols", "show", name, "--set", "overlap.tau=0.1", "--set", "clips.clip_len=8"])
    assert shown.exit_code == 0, shown.stderr
    expected = load_protocol(name, sets=["overlap.tau=0.1", "clips.clip_len=8"]).fingerprint
    assert expected != load_protocol(name).fingerprint
    assert f"# fingerprint: {expected}\n# changed: overlap.tau, clips.clip_len\n" in shown.stdout
    assert "overlap:\n  tau: 0.1\n" in shown.stdout and "  clip_len: 8\n" in shown.stdout
    as_json = json.loads(runner.invoke(app, ["protocols", "show", name, "--set", "overlap.tau=0.1", "--json"]).stdout)
    assert (as_json["tau"], as_json["sets"], as_json["changed"]) == (0.1, ["overlap.tau=0.1"], ["overlap.tau"])
    assert "sets" not in json.loads(runner.invoke(app, ["protocols", "show", name, "--json"]).stdout)

    bad = runner.invoke(app, ["protocols", "show", name, "--set", "clips.clip_len=eight"])
    assert bad.exit_code == 2
    assert "error: --set clips.clip_len=eight: clips.clip_len must be an integer" in single_error_line(bad)
    assert "(hint:" in single_error_line(bad)
    unknown = runner.invoke(app, ["protocols", "show", name, "--set", "overlap.tua=0.1"])
    assert unknown.exit_code == 2 and "Did you mean 'tau'?" in single_error_line(unknown)

    child = write_file(tmp_path / "child.yaml", f"include: {name}\nname: child\n")
    ok = runner.invoke(app, ["protocols", "validate", str(child), "--set", "overlap.tau=0.2", "--json"])
    (result,) = json.loads(ok.stdout)
    assert ok.exit_code == 0 and result["valid"] and result["name"] == "child" and result["tau"] == 0.2
    assert result["fingerprint"] == read_protocol(child, sets=["overlap.tau=0.2"]).fingerprint
    bad_set = runner.invoke(app, ["protocols", "validate", str(child), "--set", "overlap.tau=lots"])
    assert bad_set.exit_code == 2
    assert "--set overlap.tau=lots: overlap.tau must be a number" in single_error_line(bad_set)


def test_audit_takes_sets_and_reports_them_as_changed(runner):
    from zslbench.cli import app

    result = runner.invoke(app, ["audit", "kinetics400", "--test", "ucf101", "--set", "overlap.tau=0", "--json"])
    assert result.exit_code == 0, result.stderr  # tau 0 keeps every class
    report = json.loads(result.stdout)
    assert report["tau"] == 0.0 and report["protocol"]["changed"] == ["overlap.tau", "train.source", "test"]
    bad = runner.invoke(app, ["split", "--set", "overlap.tau=-1"])
    assert bad.exit_code == 2 and "--set overlap.tau=-1: overlap.tau must be a number" in single_error_line(bad)


def test_a_references_sets_reload_the_same_protocol_from_another_folder(tmp_path, monkeypatch):
    """A checkpoint stores the sets resolved: a relative class-list path becomes absolute."""
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "mine.txt").write_text("Archery\nDiving\n")
    monkeypatch.chdir(tmp_path / "here")
    given = ["test=[mine.txt]", "clips.clip_len=8", "clips.clip_len=4"]
    proto = load_protocol("brattoli2020-k400-ucf-hmdb", sets=given)
    stored = proto.reference()["sets"]
    assert stored == [f'test=["{tmp_path / "here" / "mine.txt"}"]', "clips.clip_len=4"]
    monkeypatch.chdir(tmp_path)
    assert load_protocol("brattoli2020-k400-ucf-hmdb", sets=stored).fingerprint == proto.fingerprint


def test_scientific_notation_is_a_number_and_merge_keys_are_one_line_errors(tmp_path, runner):
    assert load_protocol(sets=["overlap.tau=5e-2"]).tau == 0.05
    assert load_protocol(sets=["overlap.tau=1E-1"]).tau == 0.1
    path = write_file(tmp_path / "merge.yaml", "include: brattoli2020-k400-ucf-hmdb\n<<: {name: q}\n")
    for args in (
        ["protocols", "validate", str(path)],
        ["protocols", "show", "brattoli2020-k400-ucf-hmdb", "--set", "clips={<<: {crop: 96}}"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "merge keys (<<)" in single_error_line(result)


def test_a_setting_given_by_its_option_and_by_set_is_refused(runner):
    for extra in (["--threshold", "0.1", "--set", "overlap.tau=0.2"], ["--test", "ucf101", "--set", "test=[hmdb51]"]):
        result = runner.invoke(app, ["split", "--json", *extra])
        assert result.exit_code == 2 and "both set" in single_error_line(result)
    assert runner.invoke(app, ["split", "--json", "--threshold", "0.1", "--set", "clips.clip_len=4"]).exit_code == 0


def test_a_crop_larger_than_the_short_side_is_a_protocol_error(runner):
    result = runner.invoke(app, ["protocols", "show", "brattoli2020-k700-ucf-hmdb", "--set", "clips.crop=200"])
    assert result.exit_code == 2
    assert "clips.crop 200 is larger than clips.short_side 128" in single_error_line(result)


# Each shipped protocol's fingerprint before `clips.test_crops`, the `segments` positions and the
# `model_input` section existed: settings added at their neutral values must not move one (records,
# checkpoints and feature caches name these).
SHIPPED_FINGERPRINTS = {
    "brattoli2020-k400-ucf-hmdb-reference": "a208a5011591d6706cbcc51df1b4dc59098dba95746a3e2efb5b34494f08a2d8",
    "brattoli2020-k400-ucf-hmdb": "55fd7a302ce3500a0eb347cb940d416a0f16527d9f5ae27d475e1460723a73b9",
    "brattoli2020-k700-ucf-hmdb-anet-reference": "f7f06e176db95eb191d81fbce69a736d9fe6ea1c4df14955571a265395a9a5d8",
    "brattoli2020-k700-ucf-hmdb-anet": "953adffb49e14454574f9e0cd05bcfd293ac8d89f5aa98f18f9f5a5113290979",
    "brattoli2020-k700-ucf-hmdb-reference": "24cbc7fcc772739e83282f6d07dd8c47743982b780fafcd8ce81b9e2325142f3",
    "brattoli2020-k700-ucf-hmdb": "26ea9e050c51663bf97c8708d52b513aabd10113da2b1d78079e7d7fb7101bba",
    "truze-k400-ucf-hmdb": "d4b69e6764f64c7372ecc30b30c2c6a10aabb95593bc6a68ff8812d0e66c397f",
}


def test_shipped_fingerprints_stay_as_they_were_before_the_video_text_settings():
    assert {name: load_protocol(name).fingerprint for name in SHIPPED_FINGERPRINTS} == SHIPPED_FINGERPRINTS
    for name in shipped_protocols():
        proto = load_protocol(name)
        assert proto.data["clips"]["test_crops"] == 1 and proto.model_input == {}
        assert set(proto.data["model_input"].values()) == {None}


def test_video_text_settings_move_the_fingerprint_and_model_input_names_the_pins(tmp_path):
    plain = read_protocol(write_protocol(tmp_path))
    neutral = write_protocol(
        tmp_path / "n", MINIMAL + "clips: {test_crops: 1}\nmodel_input: {frames: null, crops: null}\n"
    )
    assert read_protocol(neutral).fingerprint == plain.fingerprint
    sets = ["clips.test_crops=3", "clips.test_position=segments", "clips.train_position=segments"]
    sets += ["model_input.frames=16", "model_input.sampling=dense", "model_input.crops=1", "model_input.views=3"]
    moved = {item: read_protocol(plain.path, [item]) for item in sets}
    assert len({proto.fingerprint for proto in moved.values()} | {plain.fingerprint}) == len(sets) + 1
    assert [proto.changed for proto in moved.values()] == [(item.split("=")[0],) for item in sets]
    assert moved["model_input.frames=16"].model_input == {"frames": 16}
    assert moved["clips.test_crops=3"].model_input == {}
    both = read_protocol(plain.path, ["model_input={size: 336, view_average: score}"])
    assert both.model_input == {"size": 336, "view_average": "score"}
    back = read_protocol(plain.path, ["model_input.frames=16", "model_input.frames=null"])
    assert back.fingerprint == plain.fingerprint and back.changed == ()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("model_input.crops=2", r"^--set model_input.crops=2: model_input.crops must be one of 1, 3, got 2$"),
        ("model_input.sampling=foo", r"^--set model_input.sampling=foo: model_input.sampling must be one of "),
        ("model_input.frames=0", r"^--set model_input.frames=0: model_input.frames must be an integer in \[1, 512\]"),
        ("model_input.size=7", r"^--set model_input.size=7: model_input.size must be an integer in \[8, 4096\]"),
        ("model_input.views=true", r"^--set model_input.views=true: model_input.views must be an integer"),
        ("model_input.frame=8", r"^--set model_input.frame=8: unknown key 'frame' in model_input. Did you mean"),
        ("clips.test_crops=2", r"^--set clips.test_crops=2: clips.test_crops must be one of 1, 3, got 2$"),
        ("clips.test_position=tsn", r"^--set clips.test_position=tsn: clips.test_position must be one of .*segments"),
    ],
)
def test_a_bad_video_text_setting_is_one_error_naming_the_key(item, expected):
    with pytest.raises(ZslbenchError) as err:
        load_protocol(sets=[item])
    assert re.search(expected, err.value.cli_message), err.value.cli_message  # the CLI's words
    assert err.value.hint and "\n" not in str(err.value)


def test_a_frame_stride_no_segment_placement_reads_is_refused():
    both = ["clips.train_position=segments", "clips.test_position=segments", "clips.frame_stride=2"]
    with pytest.raises(ZslbenchError, match=r"^override clips.frame_stride=2: .*segments read one frame per segment"):
        load_protocol(sets=both)
    assert load_protocol(sets=both[1:]).data["clips"]["frame_stride"] == 2  # training still reads strided clips
