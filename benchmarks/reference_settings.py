"""How much the reference implementation's settings move top-1, on the synthetic benchmark (CPU).

Trains the paper's model (e2e_r2plus1d, 1/8 width) on `zslbench synth` data under zslbench's clip
settings and under each of the reference's (`clips.*`, `train.clips_per_epoch`; docs/protocol.md),
and scores every model under both test-side placements, so the test-side columns of a row compare
the same weights. A test-side setting never changes training: a row's models are the same weights in
each column. clips_per_epoch is scaled to the synthetic source: the reference's 100,000 clips are
about a fifth of a pass over Kinetics-664, so the scaled run sees a fifth of the source per epoch.

Usage: python benchmarks/reference_settings.py [--videos-per-class 8] [--epochs 3] [--seeds 0,1]
Prints a markdown table: top-1 over the 10 half-class splits (mean) and over all classes, mean and
standard deviation over the seeds. A training-side setting also changes the run's random draws, so
differences within the seeds' spread are noise; the test-side columns of a row are paired.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from zslbench.evaluation.test_clips import score_with_clips
from zslbench.protocol.spec import load_protocol
from zslbench.training.config import TrainConfig
from zslbench.training.trainer import train
from zslbench.video.sampler import ClipSpec
from zslbench.video.synth import make_synth

TRAININGS = {  # label: the training's --set values (test-side settings are the columns)
    "zslbench": (),
    "+ reference training clip position": ("clips.train_position=reference",),
    "+ reference resize (torch bilinear, floored size)": ("clips.resize=torch_bilinear", "clips.resize_rounding=floor"),
    "+ reference epoch length (clips_per_epoch)": ("train.clips_per_epoch={cpe}",),
    "all reference settings": (
        "clips.train_position=reference",
        "clips.resize=torch_bilinear",
        "clips.resize_rounding=floor",
        "clips.train_augment=per_video",
        "train.clips_per_epoch={cpe}",
    ),
}
TESTS = {  # column: test-side clip settings
    "test: zslbench": {},
    "test: reference positions": {"test_position": "reference"},
    "test: reference positions + crop rounding": {"test_position": "reference", "crop_rounding": "half_even"},
}
# The synthetic videos are 80x64: at short side 59 they are scaled (73.75 wide: 74 rounded, 73 floored)
# and the centre crop's offsets are halves (1.5 and 8.5 or 9), so the resize and crop settings matter.
SCALED = "clips.short_side=59"
PASS_SHARE = 100_034 / 500_000  # the reference's clips per epoch over Kinetics-664's ~0.5M videos


def scores(weights: Path, clips: ClipSpec, protocol, data: dict[str, Path]) -> tuple[float, float]:
    """(mean top-1 over the half-class splits, top-1 over all classes) of a checkpoint whose test
    videos are read with `clips`, through the evaluator's own encoder and scoring."""
    (metrics,) = score_with_clips(weights, clips, data, protocol=protocol, device="cpu", workers=1).values()
    return metrics["random_half"]["top1"]["mean"], metrics["all"]["top1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root = Path(tempfile.mkdtemp(prefix="zslbench-reference-settings-"))
    synth = make_synth(root / "data", videos_per_class=args.videos_per_class)
    source_videos = len(synth.source) * args.videos_per_class
    cpe = round(PASS_SHARE * source_videos)
    data = {"synth-source": synth.root / "source.csv", "synth-target": synth.root / "target.csv"}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    started = time.perf_counter()
    for label, sets in TRAININGS.items():
        for seed in seeds:
            sets_now = [s.format(cpe=cpe) for s in sets] + [f"train.seed={seed}", "train.lr_milestones=[2]", SCALED]
            protocol = load_protocol(str(synth.protocol), sets=sets_now)
            out = root / "runs" / f"{list(TRAININGS).index(label)}-{seed}"
            config = TrainConfig(
                model="e2e_r2plus1d", out=out, data=data, protocol=protocol, model_options={"width": 0.125},
                epochs=args.epochs, workers=1, device="cpu",
            )  # fmt: skip
            done = train(config)
            base = ClipSpec.from_protocol(protocol.data["clips"])
            for column, changes in TESTS.items():
                clips = ClipSpec(**{**base.__dict__, **changes})
                results.setdefault((label, column), []).append(scores(out / "checkpoint.pt", clips, protocol, data))
            print(f"trained {label!r} seed {seed}: {done.steps} steps ({time.perf_counter() - started:.0f} s)")
    print_table(results, seeds, source_videos, cpe, args)


def print_table(results, seeds, source_videos: int, cpe: int, args) -> None:
    print(
        f"\nsynthetic benchmark: {source_videos} source videos, 4 target classes x {args.videos_per_class} videos; "
        f"clips of 8 frames from 24, short side 59, crop 56; e2e_r2plus1d width 0.125, {args.epochs} epochs, "
        f"lr / 10 after epoch 2; clips_per_epoch {cpe}; {len(seeds)} seeds. Cells: top-1 % on the 10 half-class "
        "splits / on all classes, mean ± standard deviation over the seeds.\n"
    )
    print("| training settings | " + " | ".join(TESTS) + " |")
    print("|---|" + "---:|" * len(TESTS))
    for label in TRAININGS:
        cells = []
        for column in TESTS:
            half = [r[0] for r in results[(label, column)]]
            everything = [r[1] for r in results[(label, column)]]
            cells.append(f"{_mean_sd(half)} / {_mean_sd(everything)}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def _mean_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


if __name__ == "__main__":
    main()
