"""The whole pipeline as a user runs it, and the project's CI gate.

synth -> train -> eval for two seeds, with the tiny model on 2 CPU cores (about 100 s):
1. the laptop zero-shot check: on target classes it never saw, the model must name videos at least
   twice as well as chance (mean over seeds); if not, data, sampling, model, loss, class vectors or
   scoring is broken;
2. the CI gate: `zslbench check --strict` against the baseline kept in .ci/baselines, with a
   tolerance that holds across machines (a broken pipeline falls to chance, 75 points below).
"""

import json
from pathlib import Path

from zslbench.cli import app

BASELINE = Path(__file__).resolve().parents[1] / ".ci" / "baselines" / "synth-tiny.json"
SEEDS = (0, 1)
TOLERANCE = "25"


def pipeline(runner, synth_e2e, results: Path) -> list[dict]:
    records = []
    for seed in SEEDS:
        data, run = synth_e2e(seed)  # zslbench synth, then zslbench train (tests/conftest.py)
        step = ["eval", "--weights", str(run), "--data", f"synth-target={data / 'target.csv'}",
                "--name", f"tiny-e2e-seed{seed}", "--out", str(results), "--json"]  # fmt: skip
        done = runner.invoke(app, step)
        assert done.exit_code == 0, (step[0], done.stdout[-500:], done.stderr[-1500:])
        records += json.loads(done.stdout)
    return records


def test_tiny_model_names_unseen_classes_and_passes_the_ci_gate(runner, synth_e2e, tmp_path):
    records = pipeline(runner, synth_e2e, tmp_path / "results")
    top1 = [r["metrics"]["all"]["top1"] for r in records]
    chance = 100 / records[0]["dataset"]["classes"]
    print(f"zero-shot top-1 on unseen target classes: {top1} (chance {chance:.0f}%)")
    assert sum(top1) / len(top1) >= 2 * chance
    assert all(r["compliance"]["verdict"] == "compliant" and r["data"]["complete"] for r in records)
    gate = runner.invoke(app, ["check", str(tmp_path / "results"), "--against", str(BASELINE),
                               "--tolerance", TOLERANCE, "--strict"])  # fmt: skip
    assert gate.exit_code == 0, gate.stdout
