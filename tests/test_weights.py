"""The weights zoo and safetensors exports, through the CLI on the synthetic benchmark: `weights add`
then `eval --model NAME` scores as `eval --weights RUN` does; a changed file is refused with both
hashes, a missing one names its sha256 and source; an export scores identically and holds no code."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.models.checkpoint import (
    EXPORT_METADATA,
    EXPORT_WEIGHTS,
    RESUME_ONLY,
    file_sha256,
    load_checkpoint,
    weights_sha256,
)
from zslbench.protocol.spec import load_protocol

MODEL = "e2e_r2plus1d"


@pytest.fixture(scope="module")
def tiny_run(synth_dataset, tmp_path_factory) -> Path:
    """The paper's model at 1/8 width, two steps on the synthetic source classes, trained through the CLI."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("weights-run") / "tiny"
    args = ["train", "--model", MODEL, "--width", "0.125", "--max-steps", "2",
            "--protocol", str(synth_dataset.protocol),
            "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(out)]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.stderr[-1500:]
    return out


def eval_args(synth, results: Path, *how: str) -> list[str]:
    return ["eval", *how, "--data", f"synth-target={synth.root / 'target.csv'}", "--out", str(results), "--json"]


def scored(result) -> dict:
    """The one record of a `zslbench eval --json` run (exit 0)."""
    assert result.exit_code == 0, result.stderr[-1500:]
    (record,) = json.loads(result.stdout)
    return record


@pytest.fixture(scope="module")
def baseline(tiny_run, synth_dataset, tmp_path_factory) -> dict:
    """`eval --weights RUN`: the record the zoo's and the export's evaluations must repeat."""
    from typer.testing import CliRunner

    results = tmp_path_factory.mktemp("weights-baseline")
    return scored(CliRunner().invoke(app, eval_args(synth_dataset, results, "--weights", str(tiny_run))))


@pytest.fixture
def zoo(tmp_path, monkeypatch) -> Path:
    """An empty weights zoo for this test alone (user_data_dir("weights") under $ZSLBENCH_DATA)."""
    monkeypatch.setenv("ZSLBENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "data" / "weights"


def add(runner, *args: str) -> dict:
    done = runner.invoke(app, ["weights", "add", *args, "--json"])
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def test_eval_by_model_name_takes_the_zoo_weights_and_scores_the_same(
    runner, tiny_run, synth_dataset, baseline, zoo, tmp_path
):
    entry = add(runner, str(tiny_run), "--id", "tiny-synth")
    checkpoint = tiny_run / "checkpoint.pt"
    state = load_checkpoint(checkpoint)
    assert entry["model"] == MODEL and entry["id"] == "tiny-synth"
    assert entry["sha256"] == file_sha256(checkpoint) == file_sha256(entry["path"])
    assert entry["size"] == checkpoint.stat().st_size and Path(entry["path"]).parent == zoo
    assert entry["protocol"]["fingerprint"] == load_protocol(synth_dataset.protocol).fingerprint
    assert entry["classes"]["count"] == len(state["classes"]) and entry["compliance"] == "compliant"
    assert str(checkpoint.resolve()) in entry["source"] and "2 steps" in entry["notes"]
    assert entry["weights_sha256"] == baseline["model"]["identity"]["model"]["weights_sha256"]
    listed = json.loads(runner.invoke(app, ["weights", "list", "--json"]).stdout)
    assert [row["id"] for row in listed] == ["tiny-synth"]
    assert runner.invoke(app, ["weights", "verify", "tiny-synth"]).exit_code == 0

    how = ["--model", MODEL, "--protocol", str(synth_dataset.protocol)]
    record = scored(runner.invoke(app, eval_args(synth_dataset, tmp_path / "r1", *how)))
    assert record["metrics"] == baseline["metrics"]
    assert record["model"]["identity"] == baseline["model"]["identity"]
    assert record["model"]["checkpoint"] == entry["path"]
    alone = scored(runner.invoke(app, eval_args(synth_dataset, tmp_path / "r2", "--model", MODEL)))  # the only entry
    assert alone["metrics"] == baseline["metrics"]


def test_a_changed_file_is_refused_naming_both_hashes(runner, tiny_run, synth_dataset, zoo, tmp_path):
    entry = add(runner, str(tiny_run), "--id", "tiny-synth")
    with open(entry["path"], "ab") as handle:
        handle.write(b"\0")
    changed = file_sha256(entry["path"])
    done = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", "--model", MODEL))
    assert done.exit_code == 2
    line = single_error_line(done)
    assert entry["sha256"] in line and changed in line and entry["path"] in line
    assert not (tmp_path / "r").exists()  # refused before anything was read or written
    checked = runner.invoke(app, ["weights", "verify", "--json"])
    assert checked.exit_code == 1
    assert json.loads(checked.stdout) == [
        {"id": "tiny-synth", "path": entry["path"], "status": "mismatch", "sha256": entry["sha256"], "actual": changed}
    ]


def test_a_missing_file_names_its_sha256_and_where_to_get_it(runner, tiny_run, synth_dataset, zoo, tmp_path):
    url = "https://example.org/zslbench/tiny-synth.pt"
    entry = add(runner, str(tiny_run), "--id", "tiny-synth", "--source", url)
    Path(entry["path"]).unlink()
    done = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", "--model", MODEL))
    assert done.exit_code == 2
    line = single_error_line(done)
    assert entry["path"] in line and entry["sha256"] in line and url in line
    assert runner.invoke(app, ["weights", "verify"]).exit_code == 1

    # adding the same bytes again puts the file back under the same entry
    assert add(runner, str(tiny_run / "checkpoint.pt"), "--id", "tiny-synth")["sha256"] == entry["sha256"]
    assert runner.invoke(app, ["weights", "verify"]).exit_code == 0


def test_the_zoo_says_what_it_lacks_and_what_is_ambiguous(runner, tiny_run, synth_dataset, zoo, tmp_path):
    from zslbench.models.checkpoint import save_checkpoint
    from zslbench.models.weights import find

    with pytest.raises(ZslbenchError, match=f"no weights of {MODEL}"):
        find(MODEL)
    add(runner, str(tiny_run), "--id", "tiny-a")
    with pytest.raises(ZslbenchError, match="no weights of e2e_r3d"):
        find("e2e_r3d")
    with pytest.raises(ZslbenchError, match=r"under brattoli2020-k700-ucf-hmdb v1 .*it has tiny-a \(synth-seed0"):
        find(MODEL, "brattoli2020-k700-ucf-hmdb")
    with pytest.raises(ZslbenchError, match="is a checkpoint of 'e2e_r2plus1d', not 'e2e_r3d'"):
        add_library(tiny_run, "tiny-b", "e2e_r3d")
    add_library(tiny_run / "checkpoint.pt", "tiny-b")  # the same tensors under a second name: still one model
    assert find(MODEL, str(synth_dataset.protocol)).id == find(MODEL).id == "tiny-a"

    other = load_checkpoint(tiny_run)  # other weights of the same model, under the same protocol
    other["state_dict"] = {name: tensor + 1 if tensor.is_floating_point() else tensor
                           for name, tensor in other["state_dict"].items()}  # fmt: skip
    save_checkpoint(tmp_path / "other" / "checkpoint.pt", {k: v for k, v in other.items() if k != "format"})
    add_library(tmp_path / "other", "tiny-c")
    with pytest.raises(
        ZslbenchError, match="several weights of e2e_r2plus1d fit synth-seed0 v1: tiny-a, tiny-b, tiny-c"
    ):
        find(MODEL, str(synth_dataset.protocol))
    taken = runner.invoke(app, ["weights", "add", str(tmp_path / "other"), "--id", "tiny-a"])
    assert taken.exit_code == 2 and "'tiny-a' already name other weights" in single_error_line(taken)
    odd = runner.invoke(app, ["weights", "add", str(synth_dataset.protocol), "--id", "tiny-d"])
    assert odd.exit_code == 2 and "cannot load" in single_error_line(odd)
    assert runner.invoke(app, ["weights", "remove", "tiny-c"]).exit_code == 0
    assert find(MODEL, str(synth_dataset.protocol)).id == "tiny-a"
    assert sorted(p.name for p in zoo.iterdir()) == ["tiny-a.pt", "tiny-b.pt", "zoo.json"]
    refused = runner.invoke(app, ["weights", "add", str(tiny_run), "--id", "../up"])
    assert refused.exit_code == 2 and "cannot name weights" in single_error_line(refused)


def add_library(file: Path, name: str, model: str | None = None):
    from zslbench.models.weights import add as add_weights

    return add_weights(file, name, model)


def test_declared_weights_are_found_and_installed_by_adding_their_file(runner, tiny_run, monkeypatch, zoo):
    """A package declares weights it publishes; the user puts the file in place with `weights add`."""
    from zslbench.models import weights

    state = load_checkpoint(tiny_run)
    declared = weights.WeightsEntry(
        id="paper-tiny",
        model=MODEL,
        file="paper-tiny.pt",
        sha256=file_sha256(tiny_run / "checkpoint.pt"),
        size=(tiny_run / "checkpoint.pt").stat().st_size,
        source="https://example.org/paper-tiny.pt",
        protocol={k: state["protocol"][k] for k in ("name", "version", "fingerprint")},
        classes={"count": len(state["classes"]), "sha256": ""},
        compliance="compliant",
        origin="zslbench-example-plugin",
    )
    monkeypatch.setitem(weights.DECLARED, declared.id, declared)
    assert weights.register_weights(declared) is declared  # the same entry twice is fine
    with pytest.raises(ZslbenchError, match="declared twice"):
        weights.register_weights(weights.WeightsEntry(**{**declared.describe(), "sha256": "0" * 64}))
    with pytest.raises(ZslbenchError, match=r"paper-tiny.pt is missing \(sha256 [0-9a-f]{64}; get it from https://"):
        weights.resolve_weights(MODEL)
    assert add(runner, str(tiny_run), "--id", "paper-tiny")["origin"] == "zslbench-example-plugin"
    assert weights.resolve_weights(MODEL) == zoo / "paper-tiny.pt"
    assert not (zoo / "zoo.json").exists()  # nothing of the user's was recorded
    removed = runner.invoke(app, ["weights", "remove", "paper-tiny"])
    assert removed.exit_code == 2 and "declared by zslbench-example-plugin" in single_error_line(removed)


def test_an_export_scores_identically_and_loads_as_its_checkpoint(
    runner, tiny_run, synth_dataset, baseline, zoo, tmp_path, monkeypatch
):
    out = tmp_path / "export"
    done = runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [EXPORT_WEIGHTS, "protocol", EXPORT_METADATA]
    again = runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(out)])
    assert again.exit_code == 2 and "already holds an export" in single_error_line(again)

    original, exported = load_checkpoint(tiny_run), load_checkpoint(out)
    assert load_checkpoint(out / EXPORT_WEIGHTS).keys() == exported.keys()
    kept = set(original) - {"state_dict", *RESUME_ONLY}
    assert {k: exported[k] for k in kept} == json.loads(json.dumps({k: original[k] for k in kept}))
    assert set(exported) - kept == {"state_dict", "export"}
    assert original["state_dict"].keys() == exported["state_dict"].keys()
    for name, tensor in original["state_dict"].items():
        assert tensor.dtype == exported["state_dict"][name].dtype and torch.equal(tensor, exported["state_dict"][name])
    assert exported["export"]["checkpoint_sha256"] == file_sha256(tiny_run / "checkpoint.pt")

    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))  # extracted again, not served from the cache
    record = scored(runner.invoke(app, eval_args(synth_dataset, tmp_path / "r1", "--weights", str(out))))
    assert record["metrics"] == baseline["metrics"]
    for key in ("compliance", "training"):
        assert record[key] == baseline[key], key
    assert record["model"]["identity"]["model"]["weights_sha256"] == weights_sha256(original["state_dict"])

    entry = add(runner, str(out), "--id", "tiny-shared")
    assert entry["file"] == "tiny-shared.safetensors" and entry["sha256"] == file_sha256(out / EXPORT_WEIGHTS)
    record = scored(runner.invoke(app, eval_args(synth_dataset, tmp_path / "r2", "--model", MODEL)))
    assert record["metrics"] == baseline["metrics"]


def test_an_export_holds_only_a_json_header_and_tensor_bytes(runner, tiny_run, tmp_path):
    """safetensors cannot hold code: every byte of the file is the JSON header or some tensor's data,
    and loading it never unpickles (pickle and torch.load are disabled in the loading process)."""
    out = tmp_path / "export"
    assert runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(out)]).exit_code == 0
    blob = (out / EXPORT_WEIGHTS).read_bytes()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + length])
    metadata = header.pop("__metadata__")
    assert list(metadata) == ["zslbench"]  # one key: a safetensors map's keys come out in any order
    assert json.loads(metadata["zslbench"])["export"]["format"] == "zslbench-weights-v1"
    assert json.loads(metadata["zslbench"]) == json.loads((out / EXPORT_METADATA).read_text())
    again = tmp_path / "again"
    assert runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(again)]).exit_code == 0
    assert (again / EXPORT_WEIGHTS).read_bytes() == blob  # the same checkpoint, the same bytes
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert 8 + length + spans[-1][1] == len(blob)
    assert {info["dtype"] for info in header.values()} <= {"F32", "I64"}

    code = (
        "import pickle, sys, torch\n"
        "from zslbench.models.checkpoint import load_checkpoint\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('unpickled')\n"
        "pickle.load = pickle.loads = pickle.Unpickler = torch.load = refuse\n"
        "print(len(load_checkpoint(sys.argv[1])['state_dict']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len(header)


def test_changed_exports_and_other_files_are_refused(runner, tiny_run, tmp_path):
    from safetensors.torch import save_file

    out = tmp_path / "export"
    assert runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(out)]).exit_code == 0
    meta = out / EXPORT_METADATA
    meta.write_text(meta.read_text().replace('"compliant": true', '"compliant": false'))
    with pytest.raises(ZslbenchError, match=r"does not match the metadata inside model\.safetensors"):
        load_checkpoint(out)
    meta.unlink()
    load_checkpoint(out)  # the header alone is complete
    blob = bytearray((out / EXPORT_WEIGHTS).read_bytes())
    blob[-1] ^= 0xFF  # one byte of the last tensor
    (out / EXPORT_WEIGHTS).write_bytes(bytes(blob))
    with pytest.raises(ZslbenchError, match="do not hash to the export's weights_sha256"):
        load_checkpoint(out)

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ZslbenchError, match="not a zslbench export"):
        load_checkpoint(plain)
    state_dict = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, state_dict)
    with pytest.raises(ZslbenchError, match="is not a zslbench checkpoint"):
        load_checkpoint(state_dict)


class Payload:
    """A pickle that creates a file when it is unpickled: what weights_only=True must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_is_not_a_checkpoint_is_never_unpickled(runner, tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "checkpoint.pt"
    torch.save({"format": "zslbench-checkpoint-v1", "model": Payload(marker)}, evil)
    with pytest.raises(ZslbenchError, match="other pickles are never loaded"):
        load_checkpoint(tmp_path)
    done = runner.invoke(app, ["weights", "add", str(evil), "--id", "evil"])
    assert done.exit_code == 2 and "other pickles are never loaded" in single_error_line(done)
    done = runner.invoke(app, ["weights", "export", str(evil), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2 and not (tmp_path / "out").exists()
    assert not marker.exists()


def edited_export(runner, tiny_run: Path, out: Path, change) -> Path:
    """An export of `tiny_run` whose header metadata `change(fields)` edited; the tensors stay."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    assert runner.invoke(app, ["weights", "export", str(tiny_run), "--out", str(out)]).exit_code == 0
    with safe_open(str(out / EXPORT_WEIGHTS), framework="pt") as handle:
        fields = json.loads(handle.metadata()["zslbench"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    change(fields)
    path = out.parent / f"{out.name}.safetensors"
    save_file(tensors, str(path), metadata={"zslbench": json.dumps(fields)})
    return path


def test_metadata_that_does_not_fit_the_tensors_is_one_line(runner, zoo, tiny_run, synth_dataset, tmp_path):
    """An edited export is refused when added or evaluated, naming the differing tensors: not a crash."""
    wider = edited_export(runner, tiny_run, tmp_path / "w", lambda f: f["model"]["options"].update(width=0.25))
    refused = runner.invoke(app, ["weights", "add", str(wider), "--id", "wider"])
    assert refused.exit_code == 2 and "do not fit the model its metadata names" in single_error_line(refused)
    refused = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", "--weights", str(wider)))
    assert refused.exit_code == 2 and "do not fit" in single_error_line(refused)
    nameless = edited_export(runner, tiny_run, tmp_path / "n", lambda f: f.pop("model"))
    refused = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", "--weights", str(nameless)))
    assert refused.exit_code == 2 and "names no model" in single_error_line(refused)
    (tmp_path / "w" / EXPORT_METADATA).write_text("{not json")
    refused = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", "--weights", str(tmp_path / "w")))
    assert refused.exit_code == 2 and "does not match" in single_error_line(refused)


def test_same_tensors_that_claim_other_classes_are_a_choice_not_one_entry(
    runner, zoo, tiny_run, synth_dataset, tmp_path
):
    other = edited_export(runner, tiny_run, tmp_path / "c", lambda f: f["classes"].__setitem__(0, "surfing"))
    add(runner, str(tiny_run), "--id", "a-good")
    add(runner, str(other), "--id", "b-classes")
    args = ["--model", MODEL, "--protocol", str(synth_dataset.protocol)]
    refused = runner.invoke(app, eval_args(synth_dataset, tmp_path / "r", *args))
    assert refused.exit_code == 2 and "several weights of e2e_r2plus1d fit" in single_error_line(refused)


def test_a_zoo_entry_never_names_a_file_outside_the_zoo(runner, zoo, tiny_run, tmp_path):
    add(runner, str(tiny_run), "--id", "t")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    data = json.loads((zoo / "zoo.json").read_text())
    data["entries"][0]["file"] = "../../victim.txt"
    (zoo / "zoo.json").write_text(json.dumps(data))
    for args in (["weights", "remove", "t"], ["weights", "list"], ["weights", "add", str(tiny_run), "--id", "u"]):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and "not a plain name in the zoo folder" in single_error_line(refused), args
    assert victim.read_text() == "keep"
