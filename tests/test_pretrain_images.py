"""Image-to-video pretraining (Brattoli et al. 2020, "Augment"): pan-and-zoom clips, the rule on the
image classes, and the two-stage compliance record (pretrain-images -> train --init -> eval)."""

import json
from pathlib import Path

import numpy as np
import pytest
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.video.image_clips import image_folder, pan_zoom_clip, read_image

FAR_CLASSES = ("kitchen", "forest", "library", "beach", "bridge", "mountain")  # far from colours, shapes, motions


def write_png(path: Path, image: np.ndarray) -> Path:
    """An RGB uint8 [H, W, 3] image as a PNG file, with PyAV (Pillow is optional)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def pattern(seed: int, height: int = 72, width: int = 96) -> np.ndarray:
    """A coloured stripe-and-blob pattern [H, W, 3] uint8, different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = rng.integers(0, 256, 3)
    stripes = ((x + y * rng.integers(1, 4)) // rng.integers(4, 12)) % 2
    image = np.where(stripes[..., None], base, 255 - base).astype(np.uint8)
    cy, cx, r = rng.integers(10, height - 10), rng.integers(10, width - 10), rng.integers(5, 12)
    image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    return image


def make_images(root: Path, classes: tuple[str, ...], per_class: int = 2) -> Path:
    for c, name in enumerate(classes):
        for k in range(per_class):
            write_png(root / name / f"img{k}.png", pattern(100 * c + k))
    return root


def test_same_seed_gives_identical_clips_and_others_differ(tmp_path):
    path = write_png(tmp_path / "a.png", pattern(1))
    image = read_image(path)
    assert image.shape == (72, 96, 3) and (image == pattern(1)).all()
    clip = pan_zoom_clip(image, (64, 86), frames=16, seed=3, index=5, epoch=0)
    assert clip.shape == (16, 64, 86, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, pan_zoom_clip(image, (64, 86), 16, seed=3, index=5, epoch=0))
    for seed, index, epoch in ((4, 5, 0), (3, 6, 0), (3, 5, 1)):
        assert not np.array_equal(clip, pan_zoom_clip(image, (64, 86), 16, seed, index, epoch))
    assert not np.array_equal(clip[0], clip[-1])  # it pans or zooms


def test_image_folder_classes_are_the_folder_names(tmp_path):
    root = make_images(tmp_path / "imgs", ("b class", "a class"), per_class=1)
    (root / "notes.txt").write_text("not an image")
    folder = image_folder(root)
    assert folder.classes == ("a class", "b class") and len(folder) == 2


@pytest.mark.slow
def test_pretrain_images_then_train_init_then_eval_names_both_stages(runner, synth_dataset, tmp_path):
    data = synth_dataset.root
    close = synth_dataset.target[0].name  # a test class itself: distance 0, removed by the rule
    images = make_images(tmp_path / "images", (*FAR_CLASSES, close))
    pre, run, results = tmp_path / "pre", tmp_path / "run", tmp_path / "results"
    steps = [
        ["pretrain-images", "--images", str(images), "--protocol", str(synth_dataset.protocol), "--out", str(pre),
         "--width", "0.125", "--epochs", "1", "--json"],
        ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1", "--protocol",
         str(synth_dataset.protocol), "--data", f"synth-source={data / 'source.csv'}", "--out", str(run),
         "--init", str(pre)],  # no --pretrained-on: a zslbench checkpoint says what it saw
        ["eval", "--weights", str(run), "--data", f"synth-target={data / 'target.csv'}", "--out", str(results),
         "--json"],
    ]  # fmt: skip
    outputs = []
    for step in steps:
        done = runner.invoke(app, step)
        assert done.exit_code == 0, (step[0], done.stdout[-800:], done.stderr[-1500:])
        outputs.append(done.stdout)
    stage = json.loads(outputs[0])["stage"]
    assert stage["classes"] == sorted(FAR_CLASSES) and stage["clips"] == 2 * len(FAR_CLASSES)
    assert [(r["class"], r["nearest"], r["distance"]) for r in stage["removed"]] == [(close, close, 0.0)]

    from zslbench.models.checkpoint import load_checkpoint

    state = load_checkpoint(pre)
    assert state["pretraining_stage"]["classes"] == sorted(FAR_CLASSES)
    assert state["compliance"]["removed_by_split"] == 1 and state["classes"] == sorted(FAR_CLASSES)
    (record,) = json.loads(outputs[2])
    compliance = record["compliance"]
    assert compliance["verdict"] == "compliant", compliance
    assert compliance["checked"] == [
        f"training: training classes ({len(synth_dataset.source)} classes)",
        f"pretraining: e2e_r2plus1d checkpoint pre ({len(FAR_CLASSES)} classes)",
    ]
    trained = load_checkpoint(run)
    assert set(trained["classes"]) == {c.name for c in synth_dataset.source}


def test_classes_without_a_readable_image_are_dropped_and_one_class_is_refused(runner, synth_dataset, tmp_path):
    """A class whose every image is unreadable has nothing to pretrain on; fewer than 2 classes left
    would train a softmax over one class, whose loss is 0 from the start."""
    images = make_images(tmp_path / "images", FAR_CLASSES[:1])
    (images / FAR_CLASSES[1]).mkdir()
    (images / FAR_CLASSES[1] / "bad.jpg").write_bytes(b"not a jpeg")
    args = ["pretrain-images", "--images", str(images), "--protocol", str(synth_dataset.protocol)]
    refused = runner.invoke(app, [*args, "--out", str(tmp_path / "pre"), "--width", "0.125", "--epochs", "1"])
    assert refused.exit_code == 2, refused.stdout
    message = single_error_line(refused)
    assert "1 image class(es) with readable images remain" in message and FAR_CLASSES[1] in message
