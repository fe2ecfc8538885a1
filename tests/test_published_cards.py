"""Protocol cards: every CLIP-era number is registered once with its card and source, and `check` and
`table --published` compare a result only with published numbers of its card, showing the others
labelled (records written here by `eval --features`)."""

import json
import re

import numpy as np
import pytest
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.reporting.cards import ProtocolCard, protocol_card
from zslbench.reporting.published import check_unique, load_published_file, published_numbers

# clip_era.md: its table's 10 rows x 3 datasets, 4 "full" numbers; Brattoli's 2 (in brattoli2020.yaml),
# ER-ZSAR's 3, InternVideo2's 3 and ViCLIP's 2
CLIP_ERA_NUMBERS = 10 * 3 + 4 + 2 + 3 + 3 + 2
DATASETS = {"UCF": "ucf101", "HMDB": "hmdb51", "K600": "kinetics600_new", "K400": "kinetics400"}
NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?(?: \(full (\d+(?:\.\d+)?)\))?")


def number(text: str | None) -> float | None:
    return float(text) if text else None


def clip_era_table(text: str) -> list[tuple]:
    """(method, backbone, dataset, split, value, std, where) of every number in clip_era.md's table."""
    numbers = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[1].startswith("ViT"):
            continue
        method, setting, *scores, where = cells
        backbone = setting.split(",")[0]
        for dataset, cell in zip(("ucf101", "hmdb51", "kinetics600_new"), scores, strict=True):
            value, std, full = NUMBER.fullmatch(cell).groups()
            numbers.append((method, backbone, dataset, "official", float(value), number(std), where))
            if full:
                numbers.append((method, backbone, dataset, "all", float(full), None, where))
    return numbers


def clip_era_others(text: str) -> list[tuple]:
    """The same for its "Other protocols" lines, named as the registry names them."""
    bullets = [" ".join(b.split()) for b in re.findall(r"^- .*(?:\n  .*)*", text, re.MULTILINE)]  # joined lines
    line = {key: next(b for b in bullets if key in b) for key in ("Brattoli", "ER-", "Full")}
    found = []

    def scores(method, part, split, backbone="unknown", k600="kinetics600_new", where=None):
        for name, value, std in re.findall(r"\b(UCF|HMDB|K600|K400) (\d+(?:\.\d+)?)(?: ± (\d+\.\d+))?", part):
            dataset = k600 if name == "K600" else DATASETS[name]
            kind = "official" if dataset == "kinetics600_new" else split
            found.append((method, backbone, dataset, kind, float(value), number(std), where or part))

    scores("Brattoli2020 e2e R(2+1)D-18, 664 classes", line["Brattoli"], "random_half", "R(2+1)D-18")
    scores("ER-ZSAR (ICCV 2021)", line["ER-"], "random_half")
    internvideo, viclip = line["Full"].split(";")
    scores("InternVideo2-clip-1B", internvideo, "all", k600="kinetics600", where=line["Full"])
    scores("ViCLIP-L", viclip, "all", k600="kinetics600", where=line["Full"])
    return found


def test_every_clip_era_number_is_registered_once_with_its_source(shared_dir):
    text = (shared_dir / "reference" / "clip_era.md").read_text(encoding="utf-8")
    expected = clip_era_table(text) + clip_era_others(text)
    assert len(expected) == CLIP_ERA_NUMBERS  # the parser read every number
    numbers = published_numbers()
    for method, backbone, dataset, split, value, std, where in expected:
        (found,) = [
            n for n in numbers
            if (n.method, n.backbone, n.dataset, n.split, n.metric, n.value) == (method, backbone, dataset, split,
                                                                                   "top1", value)
        ]  # fmt: skip
        assert found.std == std, (method, dataset)
        paper = found.table.split()[0] if found.table != "Table 1" else "X-CLIP"  # Brattoli's: as X-CLIP lists it
        assert paper in where and (paper in found.table or paper in found.notes), (method, dataset, found.table)


def test_the_clip_era_numbers_are_there_without_shared():
    numbers = published_numbers()
    clip_era = [n for n in numbers if n.source.startswith("CLIP-era")]
    as_xclip_lists = [n for n in numbers if "X-CLIP (arXiv 2208.02816) Table 3 lists" in n.notes]
    assert len(clip_era) + len(as_xclip_lists) == CLIP_ERA_NUMBERS
    assert sorted(n.value for n in as_xclip_lists) == [32.7, 48.0]
    vifi = {n.dataset: n for n in clip_era if n.method == "ViFi-CLIP"}
    assert (vifi["kinetics600_new"].value, vifi["kinetics600_new"].std) == (71.2, 1.0)
    assert vifi["ucf101"].card == ProtocolCard("kinetics400", "none", "usual", "32", "1", "ViT-B/16", "bare")
    full = [(n.method, n.dataset, n.value) for n in clip_era if n.split == "all" and n.card.training == "kinetics400"]
    assert sorted(full) == [("FROSTER", "hmdb51", 54.5), ("FROSTER", "ucf101", 85.0),
                            ("Open-VCLIP", "hmdb51", 53.2), ("Open-VCLIP", "ucf101", 83.5)]  # fmt: skip
    assert not [n for n in numbers if n.table == "later methods" and "CLIP" in n.method]  # moved, not copied


def test_every_number_has_a_card_and_none_is_registered_twice(tmp_path):
    numbers = published_numbers()
    assert len({n.identity for n in numbers}) == len(numbers)
    for n in numbers:
        assert n.card.summary(), n.method
        if n.protocol:  # under a zslbench protocol: its training classes and splits; a named card: the input
            from zslbench.protocol.spec import load_protocol

            base = protocol_card(load_protocol(n.protocol).data, n.split, n.backbone)
            assert (n.card.training, n.card.filter, n.card.splits) == (base.training, base.filter, base.splits)
            if n.protocol.startswith("brattoli2020"):
                assert n.card == base
    assert {n.card.filter for n in numbers if n.protocol} == {"brattoli2020 tau 0.05", "none"}
    twice = tmp_path / "twice.yaml"
    row = "  - {method: m, protocol_note: x, dataset: ucf101, split: all, metric: top1, value: VALUE, table: T}\n"
    twice.write_text("source: s\nnumbers:\n" + row.replace("VALUE", "1") + row.replace("VALUE", "2"))
    with pytest.raises(ZslbenchError, match=r"m on ucf101 \(all, top1\) is registered twice: 1.0 \(T\) and 2.0"):
        check_unique(load_published_file(twice))


CARD_FILE = """source: s
protocol_note: x
card: {training: kinetics400, filter: none, splits: usual, frames: 8}
cards:
  - {name: vifi, frames: 32, views: 1, templates: bare}
numbers:
  - {method: m, dataset: ucf101, split: official, metric: top1, value: 1, table: T, NUMBER}
"""


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("card: vif", r"unknown card 'vif'. Did you mean 'vifi'"),
        ("card: vifo, protocol: clip-era-k400-ucf-hmdb", r"unknown card 'vifo'. Did you mean 'vifi'"),
        ("card: vifi, backbone: [ViT]", r"x.yaml:\d+: numbers\[0\].backbone must be a string"),
    ],
)
def test_card_mistakes_name_the_file_and_the_number(tmp_path, number, message):
    path = tmp_path / "x.yaml"
    path.write_text(CARD_FILE.replace("NUMBER", number))
    with pytest.raises(ZslbenchError, match=message):
        load_published_file(path)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("{training: kinetics401}", "training 'kinetics401' is not a dataset name"),
        ("{training: kinetics700, filter: brattoli2020}", "filter brattoli2020 needs its tau"),
        ("{filter: strict}", r"x.yaml:3: card.filter must be one of none, brattoli2020, own, unknown"),
        ("{frames: 0}", r"card.frames must be an integer >= 1"),
    ],
)
def test_a_card_that_says_nothing_checkable_is_refused(tmp_path, card, message):
    path = tmp_path / "x.yaml"
    path.write_text(CARD_FILE.replace("card: {training: kinetics400, filter: none, splits: usual, frames: 8}",
                                      f"card: {card}").replace(", NUMBER", ""))  # fmt: skip
    with pytest.raises(ZslbenchError, match=message):
        load_published_file(path)


def test_named_cards_start_from_the_file_card_and_unknown_agrees_with_nothing(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(CARD_FILE.replace("NUMBER", "card: vifi, backbone: ViT-B/16").replace("official", "all"))
    (number,) = load_published_file(path)
    assert number.card == ProtocolCard("kinetics400", "none", "usual", "32", "1", "ViT-B/16", "bare")
    assert number.label == "m (ViT-B/16)"
    record_like = ProtocolCard("kinetics400", "none", "usual", "32", "1", "", "bare")  # a features file: no backbone
    assert record_like.differences(number.card) == []
    assert ProtocolCard("kinetics400", "brattoli2020 tau 0.05", "usual", "32", "1", "", "bare").differences(
        number.card
    ) == ["training: kinetics400 filtered at tau 0.05 (brattoli2020) vs kinetics400 unfiltered"]
    unknown = ProtocolCard("kinetics400", "none", "usual", "unknown", "1", "", "bare")
    assert unknown.differences(unknown) == ["frames unknown vs unknown"]  # unknown matches nothing, itself neither
    assert unknown.summary() == "kinetics400 unfiltered, ? f x 1, templates bare"


# Records written by `eval --features`: a video-text model (ViFi-CLIP's setting: declared fine-tuned on
# all of Kinetics-400, 32 frames x 1 view, the bare class name) and the same with 8 frames, on
# Kinetics-600's new classes over ER-ZSAR's 3 official draws; and a word-vector model under
# brattoli2020-k700-ucf-hmdb, trained on the rule's kept classes or on all 700.

K600_PROTOCOL = """name: k600-new-test
version: 1
train: {source: kinetics400}
test: [kinetics600_new]
overlap: {tau: 0.0}
evaluation:
  splits: [{kind: official, repeats: 3}, {kind: all}]
  metrics: [top1]
"""


def video_text_features(path, frames: int):
    """A clip_frames features file on kinetics600_new: 16-d class texts, 2 videos per class near them."""
    from zslbench.evaluation.class_space import TextTowerSpace, space_arrays
    from zslbench.evaluation.embeddings_file import write_features
    from zslbench.evaluation.video_text_run import card
    from zslbench.models.video_input import VideoInput
    from zslbench.models.video_text.prompts import TextSpec
    from zslbench.text.vocab import load_class_list

    classes = list(load_class_list("kinetics600_new").classes)
    rng = np.random.default_rng(0)
    texts = rng.normal(size=(len(classes), 1, 16)).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=-1, keepdims=True)
    labels = [name for name in classes for _ in range(2)]
    videos = np.repeat(texts[:, 0], 2, axis=0) + 0.3 * rng.normal(size=(len(labels), 16))
    space = TextTowerSpace(dict(zip(classes, texts, strict=True)), "embedding", 1, {"text": TextSpec().describe()})
    extra = {
        **space_arrays(space),
        "card": np.array(json.dumps(card(VideoInput(frames=frames), TextSpec(), {}))),
        "image_text": np.array("OpenAI CLIP, 400M web image-text pairs"),
        "finetuned_on": np.array("kinetics400"),
    }
    return write_features(path, videos, labels, "clip_frames", "kinetics600_new", None, None, extra=extra)


@pytest.fixture(scope="module")
def clip_results(tmp_path_factory, session_cache):
    folder = tmp_path_factory.mktemp("clip-cards")
    protocol = "er-zsar-k400-k600"  # the published K600 numbers' own protocol
    for frames in (32, 8):
        features = video_text_features(folder / f"f{frames}.npz", frames)
        args = ["eval", "--features", str(features), "--protocol", str(protocol), "--name", f"clip-{frames}f",
                "--out", str(folder / f"results{frames}"), "--json"]  # fmt: skip
        from typer.testing import CliRunner

        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.stderr[-2000:]
    return folder


def test_check_compares_a_result_only_with_numbers_of_its_card(runner, clip_results):
    both = [str(clip_results / "results32"), str(clip_results / "results8")]
    checked = runner.invoke(app, ["check", *both, "--json"])
    rows = {row["who"]: row for row in json.loads(checked.stdout)}
    # ViFi-CLIP's K600 number is the one of model clip_frames there; X-CLIP's (model xclip): no model ran
    assert set(rows) == {"clip-32f", "clip-8f"}
    assert rows["clip-32f"]["status"] in ("pass", "fail") and rows["clip-32f"]["reference"] == 71.2
    assert (rows["clip-8f"]["status"], rows["clip-8f"]["reason"]) == ("other_card", "other card: frames 8 vs 32")
    assert checked.exit_code == (1 if rows["clip-32f"]["status"] == "fail" else 0)
    shown = runner.invoke(app, ["check", both[1]])
    assert shown.exit_code == 0 and "other card: frames 8 vs 32" in shown.stdout and "1 other_card" in shown.stdout
    strict = runner.invoke(app, ["check", both[1], "--strict"])
    assert strict.exit_code == 1 and "nothing compared like for like" in strict.stderr


def test_table_puts_numbers_of_the_same_card_beside_the_result_and_labels_the_others(runner, clip_results):
    shown = runner.invoke(app, ["table", str(clip_results / "results32"), "--published", "--format", "csv"])
    assert shown.exit_code == 0, shown.stderr
    frame = csv_rows(shown.stdout)
    column = next(c for c in frame["model"] if c.startswith("er-zsar-k400-k600@v1 · kinetics600_new · official"))
    assert frame["clip-32f"]["card"] == "kinetics400 unfiltered, 32 f x 1, templates bare"
    vifi, froster = frame["[published] ViFi-CLIP (ViT-B/16)"], frame["[published] FROSTER (ViT-B/16)"]
    assert (float(vifi[column]), float(vifi[f"{column} · std"])) == (71.2, 1.0)  # numbers, not "71.2 ± 1.0"
    assert vifi["card"] == "kinetics400 unfiltered, 32 f x 1, ViT-B/16, templates bare"
    # the same protocol: beside the result, labelled as made another way
    assert (
        float(froster[column]) == 74.8 and froster[f"{column} · note"] == "other card" and not vifi[f"{column} · note"]
    )
    assert froster["card"].startswith("other card: kinetics400 unfiltered, 8 f x 3")
    eight = csv_rows(runner.invoke(app, ["table", str(clip_results / "results8"), "--published", "--format",
                                         "csv"]).stdout)  # fmt: skip
    assert eight["[published] ViFi-CLIP (ViT-B/16)"]["card"].startswith("other card:")


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    """A `table --format csv` as {row label: {column: cell}}, with the header under "model"."""
    import csv
    import io

    header, *rows = list(csv.reader(io.StringIO(text)))
    return {"model": dict.fromkeys(header, ""), **{row[0]: dict(zip(header, row, strict=True)) for row in rows}}


@pytest.fixture(scope="module")
def brattoli_results(tmp_path_factory, session_cache):
    """Two word-vector records under brattoli2020-k700-ucf-hmdb (model e2e_r2plus1d): trained on the
    rule's kept Kinetics-700 classes (the paper's card) and on all 700 (another card)."""
    from typer.testing import CliRunner

    import zslbench
    from zslbench.evaluation.embeddings_file import write_features
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import load_class_list

    folder = tmp_path_factory.mktemp("brattoli-cards")
    protocol = zslbench.load_protocol("brattoli2020-k700-ucf-hmdb")
    overlap = zslbench.protocol_overlap(protocol)
    kept = [name for name, keep in zip(overlap.source.classes, overlap.kept(protocol.tau), strict=True) if keep]
    ucf = load_class_list("ucf101")
    embedder = zslbench.load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (vectors,) = embed_class_lists([ucf], embedder)
    noise = np.random.default_rng(0).normal(size=vectors.vectors.shape)
    for name, classes in (("kept", kept), ("all700", list(overlap.source.classes))):
        path = write_features(folder / f"{name}.npz", vectors.vectors + 0.2 * noise, list(ucf.classes),
                              "e2e_r2plus1d", "ucf101", classes, None)  # fmt: skip
        args = ["eval", "--features", str(path), "--protocol", protocol.name, "--name", name,
                "--out", str(folder / name)]  # fmt: skip
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.stderr[-2000:]
    return folder


def test_brattoli_numbers_still_compare_with_records_of_their_protocol_and_card(runner, brattoli_results):
    checked = runner.invoke(app, ["check", str(brattoli_results / "kept"), str(brattoli_results / "all700"), "--json"])
    rows = [(r["who"], r["split"], r["metric"], r["status"], r["reason"]) for r in json.loads(checked.stdout)]
    kept = [r for r in rows if r[0] == "kept"]
    assert kept and all(status == "stale" and "embedding" in reason for *_, status, reason in kept)  # as before
    other = [r for r in rows if r[0] == "all700"]
    assert len(other) == len(kept)
    assert {r[4] for r in other} == {
        "other card: training: kinetics700 unfiltered vs kinetics700 filtered at tau 0.05 (brattoli2020)"
    }
    table = csv_rows(runner.invoke(app, ["table", str(brattoli_results / "all700"), "--published", "--format",
                                         "csv"]).stdout)  # fmt: skip
    paper = table["[published] Brattoli2020 e2e R(2+1)D-18, 664 classes"]
    half = "brattoli2020-k700-ucf-hmdb@v1 · ucf101 · half · top1"
    assert (paper[half], paper[f"{half} · note"]) == ("48.0", "other card")
    assert paper["card"].startswith("other card: kinetics700 filtered")
    assert table["all700"]["card"].startswith("kinetics700 unfiltered, 16 f x 25")
    beside = csv_rows(runner.invoke(app, ["table", str(brattoli_results / "kept"), "--published", "--format",
                                          "csv"]).stdout)  # fmt: skip
    assert beside["[published] Brattoli2020 e2e R(2+1)D-18, 664 classes"][half] == "48.0"


def test_a_published_card_mistake_is_one_line_through_the_cli(runner, tmp_path, monkeypatch):
    """The registry is read on use: a broken file is `error: ... (hint: ...)`, exit 2, for table and check."""
    import zslbench.reporting.published as published

    broken = tmp_path / "protocols" / "published"
    broken.mkdir(parents=True)
    (broken / "x.yaml").write_text(CARD_FILE.replace("NUMBER", "card: nope"))
    monkeypatch.setattr(published, "data_dir", lambda name: tmp_path / name)
    published.published_numbers.cache_clear()
    try:
        features = tmp_path / "f.npz"
        np.savez(features, embeddings=np.eye(2, 50), labels=np.array(["Archery", "Diving"]))
        assert runner.invoke(app, ["eval", "--features", str(features), "--out", str(tmp_path / "r")]).exit_code == 0
        done = runner.invoke(app, ["table", str(tmp_path / "r"), "--published"])
        assert done.exit_code == 2 and "unknown card 'nope'" in single_error_line(done)
    finally:
        published.published_numbers.cache_clear()
