"""The laptop zero-shot check: train the tiny e2e model on the synthetic source classes, then name
videos of target classes it never saw. It must beat chance at least twice over; if it does not, the
pipeline (data, sampling, model, loss, class vectors or scoring) is broken somewhere."""

import numpy as np

from zslbench.checkpoint import load_checkpoint
from zslbench.extract import embed_videos
from zslbench.metrics import class_distances, score
from zslbench.models import build_model, model_spec
from zslbench.protocol import read_protocol
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.train import TrainConfig, train
from zslbench.video.manifest import read_manifest
from zslbench.video.sampler import ClipSpec
from zslbench.video.synth import make_synth

SEEDS = (0, 1)
WIDTH = 0.25


def target_top1(root, out) -> tuple[float, float]:
    """Train on the source classes with the synthetic protocol; top-1 (%) and chance on the targets."""
    protocol = read_protocol(root / "synth.yaml")
    train(
        TrainConfig(
            "e2e_r2plus1d", out, {"synth-source": root / "source.csv"}, str(root / "synth.yaml"), {"width": WIDTH}
        )
    )
    (targets,) = embed_class_lists([protocol.test_classes()[0]], load_embedder(protocol.embedding))
    model = build_model("e2e_r2plus1d", targets.vectors.shape[1], width=WIDTH)
    model.load_state_dict(load_checkpoint(out)["state_dict"])
    spec = model_spec("e2e_r2plus1d")
    videos = read_manifest(root / "target.csv")
    clips = ClipSpec.from_protocol(protocol.data["clips"])
    embedded = embed_videos(model, videos.records, targets.names, clips, spec.mean, spec.std)
    assert not embedded.failures and len(embedded.labels) == len(videos)
    return score(class_distances(embedded.vectors, targets.vectors), embedded.labels).top1, 100 / len(targets.names)


def test_tiny_model_names_unseen_classes_well_above_chance(tmp_path):
    results = [
        target_top1(make_synth(tmp_path / f"synth{seed}", seed=seed).root, tmp_path / f"run{seed}") for seed in SEEDS
    ]
    top1, chance = float(np.mean([r[0] for r in results])), results[0][1]
    print(f"zero-shot top-1 on target classes: {[r[0] for r in results]} (mean {top1:.1f}%, chance {chance:.0f}%)")
    assert top1 >= 2 * chance
