"""The README's story from Python alone: the synthetic benchmark, its split and audit, a tiny model
trained and evaluated, the results as numbers and as the table, and the gate.

    python examples/python_api.py            # writes python-api-demo/ in the working directory

It imports nothing but `zslbench` (tests/test_python_api.py runs `story` and holds it to that, and
type-checks this file with mypy); docs/api.md shows its output. The defaults keep it small: 8 classes
of 2 videos each and a model at 1/8 width, one epoch, a few seconds on a CPU.
"""

import zslbench


def story(workdir: str, classes: int = 8, videos_per_class: int = 2, width: float = 0.125) -> zslbench.GateResult:
    """Run the whole story in the new folder `workdir`; returns the gate's outcome."""
    data = zslbench.synth(f"{workdir}/data", n_classes=classes, videos_per_class=videos_per_class, seed=0)
    protocol = zslbench.load_protocol(data.protocol, sets={"train.epochs": 1})  # overrides as a dict

    made = zslbench.split(protocol, out=f"{workdir}/split")  # the rule: kept_classes.txt and split.json
    print(f"split: kept {len(made.kept)}, removed {len(made.removed)} at tau {made.tau}")
    listed = zslbench.audit(f"{workdir}/split/kept_classes.txt", protocol)  # a class list ...
    print(f"audit of the kept classes: {listed.verdict}")

    run = zslbench.train(
        zslbench.TrainConfig(
            model="e2e_r2plus1d",
            out=f"{workdir}/run",
            data=data.data,
            protocol=protocol,
            model_options={"width": width},
        )
    )
    print(f"trained {run.epochs} epoch(s) on {run.classes} classes: {run.checkpoint}")
    seen = zslbench.audit(run.checkpoint)  # ... or a checkpoint, under the protocol it was trained with
    print(f"audit of the checkpoint: {seen.verdict} {seen.datasets}")

    outcome = zslbench.evaluate(
        zslbench.EvalConfig(weights=run.checkpoint, data=data.data, results=f"{workdir}/results")
    )
    print(f"evaluated: {len(outcome.records)} record(s), complete: {outcome.complete}")

    results = zslbench.load_results(f"{workdir}/results")
    top1 = results[0].score("random_half", "top1")
    print(
        f"{results[0].label} on {results[0].dataset}: top-1 {top1.mean:.1f} ± {top1.std or 0:.1f} over {top1.n} draws"
    )
    frame = zslbench.results_frame(results)  # long and numeric: one row per record, split and metric
    print(frame[["label", "dataset", "split", "metric", "mean", "std", "n", "verdict"]].to_string(index=False))
    print(zslbench.table(results).text("md"))  # what `zslbench table` prints

    zslbench.write_baseline(results, f"{workdir}/baseline.json")
    gate = zslbench.check(results, against=f"{workdir}/baseline.json")
    print(f"gate: {'passed' if gate.passed else 'FAILED'} {gate.counts}")
    return gate


if __name__ == "__main__":
    story("python-api-demo")
