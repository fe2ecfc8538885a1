import shutil
import textwrap

import pytest

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
    (tmp_path / "lists").mkdir(exist_ok=True)
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
