"""Models of kind `features`: backbone extraction, DeViSE, ESZSL, ConSE and the frozen head, trained
on the synthetic benchmark's source features and evaluated on its unseen target classes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from zslbench.cli import app
from zslbench.evaluation.backbone_features import (
    BackboneExtraction,
    extract_backbone_features,
    load_backbone_features,
)
from zslbench.models import build_feature_method
from zslbench.models.checkpoint import load_checkpoint, weights_sha256
from zslbench.models.feature_methods import ConSE, DeViSE, FeatureInput, _solve, fit_method

METHODS = ("frozen_r2plus1d", "devise", "eszsl", "conse")


def invoke(runner, args: list[str], code: int = 0):
    done = runner.invoke(app, [str(a) for a in args])
    assert done.exit_code == code, (args[0], done.stdout[-800:], done.stderr[-800:])
    return done


@pytest.fixture(scope="module")
def features(synth_e2e, tmp_path_factory):
    """Source and target features of the tiny e2e model's backbone (the 'pretrained' extractor)."""
    from typer.testing import CliRunner

    data, run = synth_e2e(0)
    out = tmp_path_factory.mktemp("backbone-features")
    for part in ("source", "target"):
        videos = f"synth-{part}={data / f'{part}.csv'}"
        invoke(CliRunner(), ["extract", "--backbone", "r2plus1d_18", "--init", run, "--protocol", data / "synth.yaml",
                             "--data", videos, "--out", out / f"{part}.npz"])  # fmt: skip
    return data, run, out


def train_and_eval(runner, tmp_path, model, source, target, data, *extra):
    invoke(runner, ["train", "--model", model, "--features", source, "--protocol", data / "synth.yaml",
                    "--out", tmp_path / model, *extra])  # fmt: skip
    done = invoke(runner, ["eval", "--weights", tmp_path / model, "--data", f"synth-target={target}",
                           "--out", tmp_path / "results", "--json"])  # fmt: skip
    return json.loads(done.stdout)[0]


def test_features_file_records_the_backbone_its_weights_and_pretraining(features):
    _, run, out = features
    source, state = load_backbone_features(out / "source.npz"), load_checkpoint(run)
    backbone = {k.removeprefix("backbone."): v for k, v in state["state_dict"].items() if k.startswith("backbone.")}
    assert (source.backbone, source.width, source.features.shape) == ("r2plus1d_18", 0.25, (144, 128))
    assert source.weights_sha256 == weights_sha256(backbone)
    assert source.pretraining.status == "classes" and set(source.pretraining.classes) == set(state["classes"])
    assert sorted(set(source.labels)) == sorted(state["classes"]) and not source.failures


@pytest.mark.parametrize("model", METHODS)
def test_method_names_unseen_target_classes_clearly_above_chance(runner, features, tmp_path, model):
    data, run, out = features
    record = train_and_eval(runner, tmp_path, model, out / "source.npz", out / "target.npz", data)
    chance = 100 / record["dataset"]["classes"]
    assert record["metrics"]["all"]["top1"] >= 2 * chance, record["metrics"]["all"]
    assert record["compliance"]["verdict"] == "compliant" and record["data"]["complete"]
    state, e2e = load_checkpoint(tmp_path / model), load_checkpoint(run)
    for key in ("classes", "protocol", "embedder_id"):  # the same metadata as the e2e models
        assert state[key] == e2e[key], key
    assert state["pretraining"]["classes"] == list(load_backbone_features(out / "source.npz").pretraining.classes)
    assert state["model"]["input"] == "features" and record["model"]["identity"]["backbone"] == state["backbone"]
    own = {"devise": "hinge_rank", "eszsl": "eszsl_closed_form", "conse": "cross_entropy"}  # not the protocol's
    assert record["training"]["settings"]["loss"] == own.get(model, state["settings"]["loss"])


def test_features_of_another_backbone_are_refused(runner, features, tmp_path):
    data, _, out = features
    invoke(runner, ["extract", "--backbone", "r2plus1d_18", "--width", "0.25", "--protocol", data / "synth.yaml",
                    "--data", f"synth-target={data / 'target.csv'}", "--out", tmp_path / "random.npz"])  # fmt: skip
    invoke(runner, ["train", "--model", "eszsl", "--features", out / "source.npz", "--protocol", data / "synth.yaml",
                    "--out", tmp_path / "eszsl"])  # fmt: skip
    done = invoke(runner, ["eval", "--weights", tmp_path / "eszsl", "--data", f"synth-target={tmp_path / 'random.npz'}",
                           "--out", tmp_path / "results"], code=2)  # fmt: skip
    assert "holds features of r2plus1d_18 (width 0.25, weights" in done.stderr and "hint:" in done.stderr
    assert not (tmp_path / "results").exists()
    r3d = dataclasses.replace(load_backbone_features(out / "source.npz"), backbone="r3d_18")
    r3d.save(tmp_path / "r3d.npz")
    done = invoke(runner, ["train", "--model", "frozen_r2plus1d", "--features", tmp_path / "r3d.npz",
                           "--protocol", data / "synth.yaml", "--out", tmp_path / "frozen"], code=2)  # fmt: skip
    assert "holds r3d_18 features, but frozen_r2plus1d takes r2plus1d_18" in done.stderr
    assert not (tmp_path / "frozen").exists()


def test_source_classes_missing_from_the_features_are_an_error(runner, features, tmp_path):
    data, _, out = features
    source = load_backbone_features(out / "source.npz")
    dropped = source.labels[0]
    keep = [i for i, label in enumerate(source.labels) if label != dropped]
    partial = dataclasses.replace(
        source, features=source.features[keep], labels=tuple(source.labels[i] for i in keep),
        paths=tuple(source.paths[i] for i in keep),
    )  # fmt: skip
    partial.save(tmp_path / "partial.npz")
    done = invoke(runner, ["train", "--model", "devise", "--features", tmp_path / "partial.npz",
                           "--protocol", data / "synth.yaml", "--out", tmp_path / "devise"], code=2)  # fmt: skip
    assert f"has no features of 1 of the 36 training classes, e.g. {dropped!r}" in done.stderr
    assert not (tmp_path / "devise").exists()


def test_unknown_pretraining_makes_the_verdict_unknown_until_declared(runner, features, tmp_path):
    data, run, _ = features
    state = load_checkpoint(run)
    weights = {k.removeprefix("backbone."): v for k, v in state["state_dict"].items() if k.startswith("backbone.")}
    torch.save(weights, tmp_path / "backbone.pth")  # a torchvision-style state dict: it says nothing of its data
    for part in ("source", "target"):
        videos = f"synth-{part}={data / f'{part}.csv'}"
        done = invoke(runner, ["extract", "--backbone", "r2plus1d_18", "--width", "0.25", "--init",
                               tmp_path / "backbone.pth", "--protocol", data / "synth.yaml",
                               "--data", videos, "--out", tmp_path / f"{part}.npz"])  # fmt: skip
    assert "pretraining is unknown" in done.stderr
    assert load_backbone_features(tmp_path / "source.npz").pretraining.status == "unknown"
    record = train_and_eval(runner, tmp_path, "eszsl", tmp_path / "source.npz", tmp_path / "target.npz", data)
    assert record["compliance"]["verdict"] == "unknown" and "--pretrained-on" in record["compliance"]["why"]
    declared = data / "synth-source.txt"
    (tmp_path / "eszsl").rename(tmp_path / "undeclared")
    record = train_and_eval(runner, tmp_path, "eszsl", tmp_path / "source.npz", tmp_path / "target.npz", data,
                            "--pretrained-on", declared)  # fmt: skip
    assert record["compliance"]["verdict"] == "compliant"
    assert any(line.startswith("pretraining: ") for line in record["compliance"]["checked"])


def test_extraction_resumes_from_the_cache_after_an_interruption(features, tmp_path, fresh_cache):
    data, run, out = features
    calls: list[tuple[int, int]] = []

    def interrupt(dataset: str, done: int, total: int) -> None:
        calls.append((done, total))
        raise KeyboardInterrupt

    def request(out: Path) -> BackboneExtraction:
        sources = {"synth-target": data / "target.csv"}
        protocol = str(data / "synth.yaml")
        return BackboneExtraction(
            "r2plus1d_18", "synth-target", sources, out, init=run, protocol=protocol, batch_size=4
        )

    with pytest.raises(KeyboardInterrupt):
        extract_backbone_features(request(tmp_path / "first.npz"), progress=interrupt)
    assert calls == [(4, 16)] and not (tmp_path / "first.npz").exists()
    calls.clear()
    _, result = extract_backbone_features(
        request(tmp_path / "second.npz"), progress=lambda d, done, total: calls.append((done, total))
    )
    assert calls[-1] == (12, 12)  # the 4 videos cached before the interruption were not decoded again
    expected = load_backbone_features(out / "target.npz")
    order = {path: i for i, path in enumerate(expected.paths)}
    same_order = expected.features[[order[p] for p in result.paths]]
    np.testing.assert_allclose(result.features, same_order, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "devise", "--data", "synth-source=x.csv"], "devise trains on backbone features, not on videos"),
        (["--model", "e2e_r2plus1d", "--features", "F"], "trained end to end on videos, not on backbone features"),
        (["--model", "eszsl", "--features", "F", "--option", "gamma=abc"], "gamma='abc' must be a positive number"),
        (["--model", "conse", "--features", "F", "--option", "top=3"], "model 'conse' has no option 'top'"),
        (["--model", "devise", "--features", "F", "--option", "margin"], "--option 'margin' is not KEY=VALUE"),
        (["--model", "devise"], "devise trains on backbone features, not on videos"),
    ],
)
def test_bad_training_requests_are_one_line_errors(runner, features, tmp_path, args, message):
    data, _, out = features
    args = [str(out / "source.npz") if a == "F" else a for a in args]
    done = invoke(runner, ["train", *args, "--protocol", data / "synth.yaml", "--out", tmp_path / "run"], code=2)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_eszsl_is_the_closed_form_of_romera_paredes_and_torr():
    """V = (X Xt + g I)^-1 X Y St (S St + l I)^-1 with Y in {-1, 1}, computed here the slow way."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 7, generator=generator, dtype=torch.float64)
    labels = torch.arange(60) % 5
    s = torch.nn.functional.normalize(torch.randn(5, 4, generator=generator, dtype=torch.float64), dim=1)
    y = -torch.ones(60, 5, dtype=torch.float64)
    y[torch.arange(60), labels] = 1
    gamma, lam = 0.3 * torch.trace(x.T @ x) / 7, 2.0 * torch.trace(s.T @ s) / 4
    left, right = torch.linalg.inv(x.T @ x + gamma * torch.eye(7)), torch.linalg.inv(s.T @ s + lam * torch.eye(4))
    expected = left @ x.T @ y @ s @ right
    sums = torch.zeros(7, 5, dtype=torch.float64).index_add_(1, labels, x.T)
    torch.testing.assert_close(_solve(x.T @ x, sums, s, 0.3, 2.0), expected)


def test_eszsl_search_scores_the_grid_on_held_out_classes_only():
    generator = torch.Generator().manual_seed(1)
    class_vectors = torch.nn.functional.normalize(torch.randn(20, 6, generator=generator), dim=1)
    labels = torch.arange(400) % 20
    mixing = torch.randn(6, 12, generator=generator)
    features = class_vectors[labels] @ mixing + 0.3 * torch.randn(400, 12, generator=generator)
    method = build_feature_method("eszsl", 6, FeatureInput(12, 20))
    report = fit_method(method, features, labels, class_vectors, {"seed": 0})
    assert report["validation"]["held_out_classes"] == 4 and report["validation"]["videos"] == 80
    fixed = build_feature_method("eszsl", 6, FeatureInput(12, 20), gamma=report["gamma"], lam=report["lam"])
    fit_method(fixed, features, labels, class_vectors, {"seed": 0})
    torch.testing.assert_close(method.V, fixed.V)  # the refit on all classes uses the chosen regularisers
    accuracy = ((method(features) @ class_vectors.T).argmax(1) == labels).double().mean()
    assert accuracy > 0.9  # a linear problem: the closed form solves it


def test_devise_hinge_rank_loss_and_conse_top_t_embedding():
    shape = FeatureInput(2, 2)
    devise = DeViSE(shape, 2, margin=0.1)
    devise.map.weight.data = torch.eye(2)
    vectors = torch.eye(2)
    x, labels = torch.tensor([[1.0, 0.0], [0.5, 0.45]]), torch.tensor([0, 0])
    torch.testing.assert_close(devise.loss(x, labels, vectors), torch.tensor((0.0 + 0.05) / 2))
    conse = ConSE(FeatureInput(2, 3), 2, top_t=1)
    conse.prepare(torch.randn(10, 2), torch.nn.functional.normalize(torch.randn(3, 2), dim=1))
    standardised = torch.randn(5, 2)
    winner = conse.classifier(standardised).argmax(dim=1)
    torch.testing.assert_close(conse.project(standardised) / conse.project(standardised).norm(dim=1, keepdim=True),
                               conse.class_vectors[winner])  # fmt: skip
