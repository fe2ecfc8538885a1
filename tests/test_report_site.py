"""`zslbench report`: the static results page, opened in a real headless browser (Debian's chromium).

The browser is found on PATH, or installed by the `chromium` fixture where that is possible (root,
apt-get); otherwise the browser tests skip. ZSLBENCH_SCREENSHOT=PATH also saves a screenshot of the
page (docs/img/results_page.png is made so)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.records import find_records, load_record
from zslbench.reporting.site import build_site, write_site

PROTOCOL = "brattoli2020-k700-ucf-hmdb"
HOSTILE_LABEL = '<img src=x onerror="document.title=1">'
HOSTILE_CLASS = "<script>document.title=2</script>"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The chromium binary: on PATH, else `apt-get install chromium` when root with apt-get (unless
    ZSLBENCH_INSTALL_CHROMIUM=0); skips the test where there is none that runs."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    if not found and can_install and os.environ.get("ZSLBENCH_INSTALL_CHROMIUM", "1") != "0":
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        deadline = time.monotonic() + 240  # CI's budget: a slow mirror skips the browser tests instead
        for step in (install, ["apt-get", "update"], install):  # the package lists may be missing
            try:
                left = deadline - time.monotonic()
                done = subprocess.run(step, capture_output=True, timeout=max(left, 1), env=env)
            except (OSError, subprocess.SubprocessError):
                break
            if step is install and done.returncode == 0:
                break
        found = shutil.which("chromium")
    if not found:
        pytest.skip("no chromium on PATH and it could not be installed (needs root and apt-get)")
    try:
        works = subprocess.run([found, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        works = False
    if not works:
        pytest.skip(f"{found} does not run")
    return found


def open_page(chromium: str, page: Path, *extra: str) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, every console message the page caused)."""
    done = subprocess.run(
        [chromium, *BROWSER_FLAGS, *extra, "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if "CONSOLE" in line]


class Tables(HTMLParser):
    """Every <table> of a document as rows of cell texts (header row first)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_after(dom: str, heading: str) -> list[list[str]]:
    """The first table after the heading or summary `heading` (its escaped text) in `dom`."""
    found = re.search(rf"<(h\d|summary)>{re.escape(heading)}</\1>", dom)
    assert found, heading
    return Tables(dom[found.start() :]).tables[0]


def features_file(path: Path, protocol_ref: str, dataset: str, model: str, **declared) -> Path:
    """A features file of `dataset` under the protocol: 2 videos per class, each its class vector plus
    noise (seeded), named `model`; `declared`: e.g. training_classes (the compliance audit)."""
    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import ClassList

    protocol = load_protocol(protocol_ref)
    (test,) = [t for t in protocol.test_classes() if t.name == dataset]
    order = sorted(test.classes)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (vectors,) = embed_class_lists([ClassList(dataset, tuple(order), test.source)], embedder)
    rng = np.random.default_rng(0)
    ids = rng.permutation(np.repeat(np.arange(len(order)), 2))
    embeddings = vectors.vectors[ids] + 0.6 * rng.normal(size=(len(ids), vectors.vectors.shape[1]))
    extra = {key: np.array(value) for key, value in declared.items()}
    np.savez(path, embeddings=embeddings, labels=np.array(order)[ids], model=np.array(model), **extra)
    return path


@pytest.fixture(scope="module")
def results(synth_dataset, tmp_path_factory) -> Path:
    """Two real records scored by `zslbench eval --features`: the synthetic targets by a model that
    declares the synthetic source classes (compliant; per-video predictions; an overlap diagnostic),
    and UCF101 under the paper's protocol as `e2e_r2plus1d` (verdict unknown; compared with its
    published numbers)."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("site-results")
    sources = [c.name for c in synth_dataset.source]
    synth = features_file(
        folder.parent / "synth.npz", str(synth_dataset.protocol), "synth-target", "tiny", training_classes=sources
    )
    ucf = features_file(folder.parent / "ucf.npz", PROTOCOL, "ucf101", "e2e_r2plus1d")
    for features, protocol, extra in ((synth, synth_dataset.protocol, ["--log-samples"]), (ucf, PROTOCOL, [])):
        args = ["eval", "--features", str(features), "--protocol", str(protocol), "--out", str(folder), *extra]
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def site(results, tmp_path_factory) -> Path:
    return write_site([results], tmp_path_factory.mktemp("site") / "out")


def cells_of(record: dict) -> list[str]:
    """A record's top-1 cells as `zslbench table` formats them: half `mean ± std`, all `value`."""
    half, full = record["metrics"]["random_half"]["top1"], record["metrics"]["all"]["top1"]
    return [f"{half['mean']:.1f} ± {half['std']:.1f}", f"{full:.1f}"]


def test_the_page_loads_without_console_errors_and_shows_every_records_numbers(chromium, site, results):
    dom, console = open_page(chromium, site)
    assert console == []
    assert re.search(r'<html[^>]* data-js="ready"', dom)  # the script ran under the page's own policy
    records = {r["model"]["label"]: r for r in find_records([results])}
    for label, (heading, dataset) in {
        "tiny": ("synth-seed0@v1 · synth-target", "synth-target"),
        "e2e_r2plus1d": (f"{PROTOCOL}@v1 · ucf101", "ucf101"),
    }.items():
        grid = table_after(dom, heading)
        header, row = grid[0], next(r for r in grid if r[0] == label)
        shown = [row[header.index("half · top1")], row[header.index("all · top1")]]
        assert shown == cells_of(records[label]) and records[label]["dataset"]["name"] == dataset
    compliance = {row[0]: row[3] for row in table_after(dom, "Compliance")[1:]}
    assert compliance == {"tiny": "compliant", "e2e_r2plus1d": "unknown"}
    checked = table_after(dom, "Compared with published numbers")
    statuses = {(row[1], row[3], row[4], row[5]): (row[0], row[6]) for row in checked[1:]}
    half = records["e2e_r2plus1d"]["metrics"]["random_half"]["top1"]["mean"]
    assert statuses[("e2e_r2plus1d", "ucf101", "half", "top1")] == ("other_card", f"{half:.2f}")
    per_class = table_after(dom, "Every class (4), hardest first")
    recorded = records["tiny"]["metrics"]["all"]["per_class"]
    assert {row[0]: float(row[2]) for row in per_class[1:]} == pytest.approx(recorded, abs=0.05)
    if os.environ.get("ZSLBENCH_SCREENSHOT"):
        shot = Path(os.environ["ZSLBENCH_SCREENSHOT"]).resolve()
        open_page(chromium, site, "--hide-scrollbars", "--window-size=1280,1700", f"--screenshot={shot}")
        assert shot.stat().st_size > 10_000


def test_the_console_check_catches_a_broken_script(chromium, tmp_path):
    """The check above can fail: a page whose script throws shows a console line."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><p>x</p><script>null.x;</script></body></html>")
    _, console = open_page(chromium, broken)
    assert len(console) == 1 and "TypeError" in console[0]


def test_strings_from_records_are_escaped_and_nothing_is_loaded(chromium, results, tmp_path):
    """A model label and a class name that are HTML stay text: no element is made of them, no script
    runs (the browser reports nothing), and the page refers to no URL."""
    hostile = tmp_path / "hostile"
    shutil.copytree(results / "tiny", hostile / "tiny")
    (path,) = (hostile / "tiny").rglob("synth-target.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    record["model"]["label"] = HOSTILE_LABEL
    path.write_text(json.dumps(record), encoding="utf-8")
    samples = path.with_name(record["data"]["samples"])
    victim = json.loads(samples.read_text(encoding="utf-8").splitlines()[0])["label"]
    samples.write_text(samples.read_text(encoding="utf-8").replace(victim, HOSTILE_CLASS), encoding="utf-8")
    page = write_site([hostile], tmp_path / "site", published=False)
    text = page.read_text(encoding="utf-8")
    assert HOSTILE_LABEL not in text and HOSTILE_CLASS not in text
    assert "&lt;img src=x onerror=&quot;document.title=1&quot;&gt;" in text
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in re.findall(r'(?:src|href)="([^"]*)"', text))
    dom, console = open_page(chromium, page)
    assert console == [] and dom.count("<script") == 1 and '<img src="x"' not in dom
    assert "<title>zslbench results</title>" in dom  # neither hostile string set the title
    classes = [row[0] for row in table_after(dom, "Every class (4), hardest first")[1:]]
    assert HOSTILE_CLASS in classes  # shown as its text


def test_cli_writes_the_page_and_says_where(runner, results, tmp_path):
    done = runner.invoke(app, ["report", str(results), "--out", str(tmp_path / "site"), "--json"])
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    page = Path(summary["page"])
    assert page == tmp_path / "site" / "index.html" and page.is_file()
    assert (summary["records"], summary["models"]) == (2, ["e2e_r2plus1d", "tiny"])
    assert summary["check"]["other_card"] >= 1 and summary["gate"] == "pass"
    assert summary["bytes"] == len(page.read_bytes())
    human = runner.invoke(app, ["report", str(results), "-o", str(tmp_path / "again"), "--no-published"])
    assert human.exit_code == 0 and f"wrote {tmp_path / 'again' / 'index.html'}" in human.stdout
    assert (tmp_path / "again" / "index.html").resolve().as_uri() in human.stdout
    assert "Compared with published numbers" not in (tmp_path / "again" / "index.html").read_text(encoding="utf-8")


def test_no_record_is_one_line_and_nothing_is_written(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    done = runner.invoke(app, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "site")])
    assert done.exit_code == 2 and "no result records" in single_error_line(done)
    assert not (tmp_path / "site").exists()
    with pytest.raises(ZslbenchError, match="no result records"):
        write_site([], tmp_path / "site")


def test_out_that_is_a_file_is_refused_and_a_html_name_is_the_page(runner, results, tmp_path):
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    args = ["report", str(results), "--no-published", "--out"]
    done = runner.invoke(app, [*args, str(tmp_path / "taken")])
    assert done.exit_code == 2 and "is a file" in single_error_line(done)
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "mine"
    named = runner.invoke(app, [*args, str(tmp_path / "board.html")])
    assert named.exit_code == 0 and (tmp_path / "board.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_same_records_make_the_same_page(results, site):
    """A page kept in git changes only when the results do; loaded records make it as paths do."""
    again = build_site([load_record(p) for p in sorted(results.rglob("*.json"))]).html
    assert again == site.read_text(encoding="utf-8")
