"""Scoring and extraction speed.

1. Scoring a UCF101-sized set (13,320 videos x 300-d, 101 classes) for the 10 seeded half-class
   splits and all classes, top-1 and top-5: zslbench's one-matrix scoring against the reference
   implementation's per-split approach (a Python membership loop and a scipy cdist per split), side
   by side, checking they agree. Targets: >= 10x faster and under 1 s.
2. Extraction throughput (videos/s, 25 test clips per video) of the tiny and the full R(2+1)D on
   this CPU, with 0 and 2 decoding workers, on the synthetic benchmark's videos.

Usage: python benchmarks/score.py [--repeats 3] [--videos 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from zslbench.evaluation.scoring import class_distances, score_protocol

SPLITS = [{"kind": "random_half", "repeats": 10, "first_seed": 0}, {"kind": "all", "repeats": 1, "first_seed": 0}]


def reference_scoring(predicted, class_embed, labels):
    """The reference implementation's evaluate(): per split, membership loop + cdist + argsort."""
    from scipy.spatial.distance import cdist

    def accuracy(pred, classes, true):
        ranked = cdist(pred, classes, "cosine").argsort(1)
        truth = cdist(true, classes, "cosine").argmin(1)
        return np.mean(truth == ranked[:, 0]) * 100, np.mean(
            [t in r for t, r in zip(truth, ranked[:, :5], strict=True)]
        ) * 100

    true_embed = class_embed[labels]
    top1 = []
    for split in range(10):
        np.random.seed(split)
        chosen = np.random.permutation(len(class_embed))[: len(class_embed) // 2]
        keep = [label in chosen for label in labels]
        top1.append(accuracy(predicted[keep], class_embed[chosen], true_embed[keep])[0])
    return np.mean(top1), accuracy(predicted, class_embed, true_embed)[0]


def timed(function, repeats):
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def scoring_rows(repeats):
    rng = np.random.default_rng(0)
    classes = rng.normal(size=(101, 300)).astype(np.float32)
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    labels = rng.integers(0, 101, size=13_320)
    predicted = (classes[labels] + rng.normal(scale=1.5, size=(13_320, 300))).astype(np.float32)
    names = [f"c{i}" for i in range(101)]
    ours_s, ours = timed(lambda: score_protocol(class_distances(predicted, classes), labels, names, SPLITS), repeats)
    ref_s, (ref_half, ref_all) = timed(lambda: reference_scoring(predicted, classes, labels), repeats)
    assert ours["random_half"]["top1"]["mean"] == ref_half and ours["all"]["top1"] == ref_all, "results differ"
    return [
        ("reference (per-split membership loop + cdist)", ref_s, "1.0x"),
        ("zslbench (one distance matrix, all splits)", ours_s, f"{ref_s / ours_s:.1f}x faster"),
    ]


def extraction_rows(videos: int, repeats: int):
    import torch

    from zslbench.evaluation.embed import embed_videos
    from zslbench.models import build_model
    from zslbench.video.manifest import read_manifest
    from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD
    from zslbench.video.sampler import ClipSpec
    from zslbench.video.synth import make_synth

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_synth(Path(tmp) / "synth").root
        records = list(read_manifest(root / "source.csv").records)[:videos]
        classes = sorted({r.label for r in records})
        for name, width in (("tiny (width 0.25)", 0.25), ("full (width 1)", 1.0)):
            torch.manual_seed(0)
            model = build_model("e2e_r2plus1d", 50, width=width).eval()
            for workers in (0, 2):
                spec = ClipSpec()  # the paper's: 25 clips of 16 frames, short side 128, crop 112
                seconds, _ = timed(
                    lambda m=model, w=workers, s=spec: embed_videos(
                        m, records, classes, s, KINETICS_MEAN, KINETICS_STD, 4, w
                    ),
                    repeats,
                )
                rows.append((f"{name}, {workers} workers", seconds, f"{len(records) / seconds:.2f} videos/s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", type=int, default=16)
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}, median of {args.repeats} runs\n")
    print("Scoring 13,320 videos x 300-d against 101 classes: 10 half-class splits + all, top-1 and top-5")
    print("| method | seconds | speed |")
    print("|---|---:|---|")
    for name, seconds, note in scoring_rows(args.repeats):
        print(f"| {name} | {seconds:.3f} | {note} |")
    print(f"\nExtraction, 25 test clips x 16 frames per video, {args.videos} synthetic videos, CPU")
    print("| model | seconds | throughput |")
    print("|---|---:|---|")
    for name, seconds, note in extraction_rows(args.videos, max(1, args.repeats - 2)):
        print(f"| {name} | {seconds:.2f} | {note} |")


if __name__ == "__main__":
    main()
