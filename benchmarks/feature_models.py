"""Fitting the feature models at Kinetics size, on CPU.

Synthetic arrays of the shape a Kinetics-700 features file has: 500,000 videos x 512-d pooled
R(2+1)D features over 664 source classes, 300-d class vectors (word2vec size). Features are
class-structured (a class mean in a 300-d subspace plus noise, through a ReLU like the backbone's),
so the SGD methods do real work and the fitted models can be checked on held-out videos.
Targets: every method in minutes, ESZSL's closed form (with its validation search) under a minute.

Usage: python benchmarks/feature_models.py [--videos 500000] [--classes 664] [--methods eszsl,devise,...]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch

from zslbench.models import build_feature_method
from zslbench.models.feature_methods import FeatureInput, fit_method

METHODS = ("eszsl", "eszsl_fixed", "devise", "conse", "frozen_r2plus1d")


def synthetic(videos: int, classes: int, dim: int = 512, embed: int = 300, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    vectors = torch.nn.functional.normalize(torch.randn(classes, embed, generator=generator), dim=1)
    mixing = torch.randn(embed, dim, generator=generator) / embed**0.5
    labels = torch.randint(0, classes, (videos,), generator=generator)
    features = torch.empty(videos, dim)
    for start in range(0, videos, 65_536):  # bounded temporaries at any size
        rows = labels[start : start + 65_536]
        noise = torch.randn(len(rows), dim, generator=generator)
        features[start : start + 65_536] = torch.relu(4 * vectors[rows] @ mixing + noise)
    return features, labels, vectors


def fit(name: str, features, labels, vectors, seed: int = 0):
    options = {"gamma": 1.0, "lam": 1.0} if name == "eszsl_fixed" else {}
    model = "eszsl" if name == "eszsl_fixed" else name
    torch.manual_seed(seed)
    shape = FeatureInput(features.shape[1], len(vectors), "mse")
    method = build_feature_method(model, vectors.shape[1], shape, **options)
    settings = {"seed": seed, "epochs": None, "batch_size": 256, "lr": 1e-3}
    start = time.perf_counter()
    report = fit_method(method, features, labels, vectors, settings)
    return method, time.perf_counter() - start, report


@torch.no_grad()
def top1(method, features, labels, vectors) -> float:
    return float(((method(features) @ vectors.T).argmax(dim=1) == labels).double().mean() * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=500_000)
    parser.add_argument("--classes", type=int, default=664)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    start = time.perf_counter()
    features, labels, vectors = synthetic(args.videos + 20_000, args.classes)
    train, test = slice(0, args.videos), slice(args.videos, None)
    made = time.perf_counter() - start
    threads = torch.get_num_threads()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads")
    shape = f"{args.videos:,} x {features.shape[1]} features, {args.classes} classes"
    print(f"{shape}, {vectors.shape[1]}-d class vectors")
    chance = 100 / args.classes
    print(f"(made in {made:.1f} s; top-1 on 20,000 more videos of the same classes, chance {chance:.2f}%)\n")
    print("| method | fit | seconds | minutes | top-1 | peak RSS GB |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.methods.split(","):
        method, seconds, report = fit(name, features[train], labels[train], vectors)
        if "gamma" in report:
            how = f"closed form, gamma={report['gamma']:g}, lam={report['lam']:g}"
            how += " (searched 7x7 on held-out classes)" if "validation" in report else " (given)"
        else:
            how = f"Adam, {report['epochs']} epochs, {report['steps']:,} steps of 256"
        accuracy = top1(method, features[test], labels[test], vectors)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"| {name} | {how} | {seconds:.1f} | {seconds / 60:.1f} | {accuracy:.1f} | {peak:.1f} |", flush=True)


if __name__ == "__main__":
    main()
