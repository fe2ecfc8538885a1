"""The results page (`zslbench report`): result records as one static, self-contained `index.html`.

What `zslbench table` and `zslbench check` show, on one page a browser opens offline, like the
leaderboards of MTEB or open_clip: the comparison table, bar charts of top-1 (and top-1 against the
distance to the training classes, for records with an overlap diagnostic), the comparison with the
published numbers (the `table --published` columns that hold our results, and the `check` rows), the
compliance verdicts, the protocol cards, the protocols, the per-class results of records evaluated
with `--log-samples`, and the records themselves. The page loads nothing: images are inline PNG, the
style and the one script (sorting a table by a clicked header) are inline (`site_html`). The same
records make the same bytes, so a page can be kept in git. Every string from a record is escaped.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, named
from zslbench.evaluation.records import find_records, incomplete_reason
from zslbench.evaluation.samples import confusion, read_samples
from zslbench.reporting.gate import (
    STATUSES,
    Comparison,
    compare,
    gate_passes,
    published_references,
    selection_notes,
)
from zslbench.reporting.observations import Observation, from_published, from_record
from zslbench.reporting.published import published_numbers
from zslbench.reporting.site_html import (
    Html,
    Section,
    badge,
    details,
    esc,
    figure,
    figures,
    frame_table,
    join,
    page,
    paragraph,
    table,
)
from zslbench.reporting.tables import SPLIT_SHORT, build_table, plot_bars

if TYPE_CHECKING:
    import pandas as pd

TITLE = "zslbench results"
PAGE = "index.html"
TOP_PAIRS = 10  # the most confused class pairs shown per record
PUBLISHED_PREFIX = "[published] "  # how build_table labels a published row


@dataclass(frozen=True)
class Site:
    """A built page and what it holds (`summary` for `--json`)."""

    html: str
    records: int
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    sections: tuple[str, ...]
    check: dict[str, int]  # status -> count of the comparison with published numbers ({} without it)
    gate: str | None  # "pass" or "fail" as `zslbench check` decides; None when nothing was compared

    def write(self, out: Path | str) -> Path:
        """Write the page to `page_path(out)` atomically (a reader never sees half a page); its path."""
        path = page_path(out)
        write_text(path, self.html)
        return path

    def summary(self) -> dict[str, Any]:
        """What the page holds, as `zslbench report --json` prints it (with the page's path)."""
        return {
            "records": self.records,
            "models": list(self.models),
            "datasets": list(self.datasets),
            "sections": list(self.sections),
            "check": self.check,
            "gate": self.gate,
            "bytes": len(self.html.encode("utf-8")),
        }


def page_path(out: Path | str) -> Path:
    """Where the page of `--out out` goes: `out/index.html`, or `out` itself when it ends in .html.
    Raises ZslbenchError when `out` is a file of another kind (checked before any work)."""
    out = Path(out)
    if out.suffix.lower() in (".html", ".htm"):
        return out
    if out.exists() and not out.is_dir():
        raise ZslbenchError(f"{out} is a file, not a folder", f"pass a folder (the page is its {PAGE}) or a .html file")
    return out / PAGE


def write_site(
    records: Iterable[dict[str, Any] | Path | str], out: Path | str, published: bool = True, title: str = TITLE
) -> Path:
    """Write the results page of `records` (loaded records, or result files and folders) to
    `page_path(out)` (`out/index.html`); returns its path. ZslbenchError when there is no record."""
    return build_site(records, published, title).write(out)


def load_records(items: Iterable[dict[str, Any] | Path | str]) -> list[dict[str, Any]]:
    """Records as given (dicts, as `records.load_record` returns them) and those in the files and
    folders given (`records.find_records`). Raises ZslbenchError when there is none."""
    items = list(items)
    records = [item for item in items if isinstance(item, dict)]
    paths = [Path(item) for item in items if not isinstance(item, dict)]
    records += find_records(paths) if paths else []
    if not records:
        raise ZslbenchError("no result records to report", "run `zslbench eval`, then pass its results folder")
    return records


def build_site(
    items: Iterable[dict[str, Any] | Path | str],
    published: bool = True,
    title: str = TITLE,
) -> Site:
    """The page of `items` (see `load_records`); with `published`, compared with the registry's
    published numbers as `table --published` and `check` do."""
    from zslbench import __version__

    records = load_records(items)
    results = [o for record in records for o in from_record(record)]
    rows = compare(results, published_references()) if published else []
    sections = [
        _leaderboard(results),
        _plots(results, records),
        *([_published(results, rows)] if published else []),
        _compliance(records),
        _cards(results),
        _protocols(records, results),
        _per_class(records),
        _records(records),
    ]
    counts = Counter(r.status for r in rows)
    check = {status: counts[status] for status in STATUSES if counts[status]}
    gate = ("pass" if gate_passes(rows, strict=False) else "fail") if rows else None
    footer = f"Made by zslbench {__version__} (zslbench report) from {len(records)} result record(s)."
    html = page(title, _header(records, results, check), sections, footer)
    models = tuple(sorted({r["model"]["label"] for r in records}))
    datasets = tuple(sorted({r["dataset"]["name"] for r in records}))
    return Site(html, len(records), models, datasets, tuple(s.id for s in sections), check, gate)


def _header(records: list[dict[str, Any]], results: list[Observation], check: dict[str, int]) -> list[str]:
    """The lines under the title: what the page holds, the verdicts, the comparison's counts."""
    from zslbench.protocol.verdicts import VERDICT_WORDS, VERDICTS

    models = {r["model"]["label"] for r in records}
    datasets = sorted({r["dataset"]["name"] for r in records})
    protocols = sorted({o.protocol_label for o in results})
    verdicts = Counter(r["compliance"]["verdict"] for r in records)
    lines = [
        f"{len(records)} result record(s) of {len(models)} model(s) on {', '.join(datasets)}, "
        f"under {', '.join(protocols)}.",
        "Compliance: " + ", ".join(f"{verdicts[v]} {VERDICT_WORDS[v]}" for v in VERDICTS if verdicts[v]) + ".",
    ]
    if check:
        lines.append("Against published numbers: " + ", ".join(f"{n} {s}" for s, n in check.items()) + ".")
    incomplete = sum(bool(incomplete_reason(r)) for r in records)
    lines += [f"{incomplete} record(s) incomplete: their numbers are marked (incomplete)."] if incomplete else []
    return lines


def _leaderboard(results: list[Observation]) -> Section:
    note = (
        "As `zslbench table` shows them, one table per protocol and dataset: one row per model, one column "
        "per split · metric; mean ± std over a split's draws (half: 10 half-class splits). Click a header to sort."
    )
    return Section("leaderboard", "Results", join([paragraph(note, "note"), _per_protocol(build_table(results))]))


def _per_protocol(frame: pd.DataFrame, heading: str = "h3") -> Html:
    """`build_table`'s `frame` as one table per protocol and dataset (the first two parts of its
    column names, which then read split · metric) under a `heading` (h3, h4), each with the rows that
    hold a number there: a leaderboard per test set."""
    fixed = [c for c in ("compliance", "card") if c in frame.columns]
    groups: dict[str, list[str]] = defaultdict(list)
    for column in frame.columns:
        if column.count(" · ") == 3:  # protocol · dataset · split · metric
            groups[" · ".join(column.split(" · ")[:2])].append(column)
    parts: list[object] = []
    for where, columns in groups.items():
        rows = [label for label in frame.index if (frame.loc[label, columns] != "").any()]
        part = frame.loc[rows, fixed + columns].rename(columns=lambda c: " · ".join(c.split(" · ")[2:]) or c)
        parts += [Html(f"<{heading}>{esc(where)}</{heading}>"), frame_table(part, _verdict_kinds())]
    return join(parts)


def _verdict_kinds() -> dict[str, str]:
    """The compliance column's words (`tables._verdict`) -> the verdict they say, for its badges."""
    from zslbench.protocol.verdicts import VERDICT_WORDS

    return {**{words: verdict for verdict, words in VERDICT_WORDS.items()}, "published": "published"}


def _png(draw: Callable[[Path], Path]) -> bytes:
    """The bytes of a PNG that `draw(path)` writes (the project's plot functions write files)."""
    with tempfile.TemporaryDirectory() as folder:
        return draw(Path(folder) / "plot.png").read_bytes()


def _plots(results: list[Observation], records: list[dict[str, Any]]) -> Section:
    """Top-1 bars per split kind (as `table --plot`), and top-1 by distance to the training classes
    (as `table --overlap --plot`, with its bins) for the records that have an overlap diagnostic."""
    from zslbench.reporting.overlap import plot_overlap, record_overlap

    shown: list[Html] = []
    for split, short in SPLIT_SHORT.items():
        if any(o.split == split and o.metric == "top1" for o in results):
            png = _png(lambda path, split=split: plot_bars(results, path, split=split, metric="top1"))
            drawn = split in ("random_half", "official", "random_subset")  # several draws: a std
            shown.append(
                figure(png, f"top-1 (%) per dataset, {short} split" + (", std as error bars" if drawn else ""))
            )
    overlaps = [found for record in records if (found := record_overlap(record))]
    if overlaps:
        png = _png(lambda path: plot_overlap(overlaps, path))
        shown.append(figure(png, "per-class top-1 (%) by distance to the nearest class the model declares it saw"))
    parts: list[object] = [figures(shown) if shown else paragraph("No top-1 to plot.", "note")]
    if overlaps:
        rows = [
            [o.label, o.dataset, space, b.label(o.tau), b.classes, b.videos, "" if b.top1 is None else f"{b.top1:.1f}"]
            for o in overlaps
            for space, bins in o.bins.items()
            for b in bins
        ]
        header = ["model", "dataset", "space", "distance", "classes", "videos", "mean top-1"]
        parts += [Html("<h3>Test classes by distance to the training classes</h3>"), table(header, rows, {4, 5, 6})]
    return Section("plots", "Plots", join(parts))


def _published(results: list[Observation], rows: list[Comparison]) -> Section:
    """The `check` rows against the published numbers, then the `table --published` columns that
    hold a result of ours (published rows with a number there), then every published number."""
    parts: list[object] = [paragraph("As `zslbench check` compares them (tolerance 1 point or 2 std).", "note")]
    if rows:
        header = ["status", "model", "protocol", "dataset", "split", "metric", "ours", "reference", "allowed", "note"]
        cells = [
            [
                badge(r.status, r.status),
                r.who,
                r.protocol,
                r.dataset,
                SPLIT_SHORT.get(r.split, r.split),
                r.metric,
                "" if r.ours is None else f"{r.ours:.2f}",
                r.reference_text,
                r.allowed_text,
                r.reason,
            ]
            for r in rows
        ]
        parts.append(table(header, cells, numeric={6, 7, 8}))
        parts += [paragraph(f"* {line}", "note") for line in selection_notes(rows)]
    else:
        used = ", ".join(sorted({o.protocol_label for o in results}))
        parts.append(paragraph(f"Nothing to compare: no published number of these models under {used}."))
    everything = build_table([*results, *(from_published(n) for n in published_numbers())])
    beside = _beside_ours(everything)
    if beside is not None:
        parts += [Html("<h3>Published numbers beside ours</h3>"), _per_protocol(beside, "h4")]
        parts.append(paragraph("(other card): made another way (the card column says how), shown, not compared."))
    every = frame_table(everything, _verdict_kinds())
    parts.append(details(f"Every published number ({len(everything)} rows)", every))
    return Section("published", "Compared with published numbers", join(parts))


def _beside_ours(frame: pd.DataFrame) -> pd.DataFrame | None:
    """`frame` (`build_table` with published numbers) cut to the columns that hold a result of ours and
    the rows with a number in them; None when no published row has one."""
    ours = [label for label in frame.index if not str(label).startswith(PUBLISHED_PREFIX)]
    fixed = [c for c in ("protocol", "compliance", "card") if c in frame.columns]
    columns = [c for c in frame.columns if c not in fixed and (frame.loc[ours, c] != "").any()]
    kept = frame[fixed + columns]
    rows = [label for label in kept.index if label in ours or (kept.loc[label, columns] != "").any()]
    return kept.loc[rows] if len(rows) > len(ours) else None


def _compliance(records: list[dict[str, Any]]) -> Section:
    """Each record's verdict (Brattoli et al. 2020, Eq. 3), what was checked and why; the classes
    that broke the rule, per record."""
    from zslbench.protocol.verdicts import VERDICT_WORDS

    header = ["model", "protocol", "dataset", "verdict", "tau", "checked", "why", "violations"]
    rows, broken = [], []
    for r in records:
        verdict = r["compliance"]
        why = "; ".join(x for x in (verdict.get("why"), verdict.get("unaudited")) if x)
        word = VERDICT_WORDS.get(verdict["verdict"], verdict["verdict"])
        found = verdict.get("violations") or []
        who = (r["model"]["label"], _protocol_label(r), r["dataset"]["name"])
        checked = "; ".join(verdict.get("checked") or [])
        rows.append([*who, badge(word, verdict["verdict"]), verdict.get("tau", ""), checked, why, len(found)])
        if found:
            cells = [[v.get("role", "training"), v["class"], v["nearest"], f"{v['distance']:.4f}"] for v in found]
            listing = table(["role", "class", "nearest test class", "distance"], cells, numeric={3})
            broken.append(details(f"{' · '.join(who)}: {len(found)} class(es) within tau", listing))
    note = "Brattoli et al. (CVPR 2020), Eq. 3: no class the model saw within cosine distance tau of a test class."
    return Section("compliance", "Compliance", join([paragraph(note, "note"), table(header, rows, {4, 7}), *broken]))


def _protocol_label(record: dict[str, Any]) -> str:
    return f"{record['protocol']['name']}@v{record['protocol']['version']}"


def _cards(results: list[Observation]) -> Section:
    """One row per model, protocol, dataset and split: how its numbers were made (reporting/cards.py)."""
    header = ["model", "protocol", "dataset", "split", "training", "splits", "frames", "views", "backbone"]
    seen, rows = set(), []
    for o in results:
        key = (o.who, o.protocol_label, o.dataset, o.split)
        if key in seen or o.protocol_card is None:
            continue
        seen.add(key)
        card = o.protocol_card
        fields = (card.splits, card.frames, card.views, card.backbone, card.templates)
        rows.append([*key[:3], SPLIT_SHORT[o.split], card.training_words(), *(f or "not declared" for f in fields)])
    note = (
        "How each number was made: a result is compared only with published numbers whose card agrees "
        "(docs/results.md). Not declared: the record says nothing of it (e.g. a features file's backbone)."
    )
    return Section("cards", "Protocol cards", join([paragraph(note, "note"), table([*header, "templates"], rows)]))


def _protocols(records: list[dict[str, Any]], results: list[Observation]) -> Section:
    """Each protocol the records were made under, once per fingerprint: its rule and evaluation."""
    unshipped = {(o.protocol, o.fingerprint): o.unshipped for o in results if o.unshipped}
    header = ["protocol", "fingerprint", "source", "tau", "embedding", "test", "splits", "metrics", "changed"]
    rows, seen = [], set()
    for r in records:
        protocol = r["protocol"]
        key = (protocol["name"], protocol["fingerprint"])
        if key in seen:
            continue
        seen.add(key)
        data = protocol.get("resolved") or {}
        evaluation = data.get("evaluation") or {}
        splits = [f"{s['kind']} x{s.get('repeats', 1)}" for s in evaluation.get("splits", [])]
        changed = [*map(str, protocol.get("changed") or []), *([unshipped[key]] if key in unshipped else [])]
        rows.append(
            [
                _protocol_label(r),
                protocol["fingerprint"][:12],
                (data.get("train") or {}).get("source", ""),
                (data.get("overlap") or {}).get("tau", ""),
                (data.get("embedding") or {}).get("model", ""),
                ", ".join(data.get("test") or []),
                ", ".join(splits),
                ", ".join(evaluation.get("metrics") or []),
                "; ".join(changed) or "none",
            ]
        )
    described = [paragraph(f"{row[0]}: {d}") for row, d in zip(rows, _descriptions(records), strict=True) if d]
    return Section("protocols", "Protocols", join([table(header, rows, numeric={3}), *described]))


def _descriptions(records: list[dict[str, Any]]) -> list[str]:
    """Each distinct protocol's description (as `_protocols` lists them), "" where it has none."""
    seen, out = set(), []
    for r in records:
        key = (r["protocol"]["name"], r["protocol"]["fingerprint"])
        if key not in seen:
            seen.add(key)
            out.append(str((r["protocol"].get("resolved") or {}).get("description") or ""))
    return out


def _per_class(records: list[dict[str, Any]]) -> Section:
    """Per class: videos, top-1, top-5 and the class most often predicted instead, and the most confused
    pairs, from each record's per-video predictions (`eval --log-samples`)."""
    parts: list[object] = []
    for record in records:
        if not (record.get("data") or {}).get("samples"):
            continue
        rows = read_samples(record)
        summary = _checked_confusion(record, rows)
        who = f"{record['model']['label']} on {record['dataset']['name']} ({_protocol_label(record)})"
        top1 = "" if summary["top1"] is None else f", top-1 {summary['top1']:.1f}%"
        parts.append(Html(f"<h3>{esc(who)}</h3>"))
        parts.append(paragraph(f"{summary['scored']} scored videos{top1}, {summary['misclassified']} misclassified."))
        pairs = [
            [p["true"], p["predicted"], p["count"], f"{p['share']:.1f}% of {p['videos']}"] for p in summary["pairs"]
        ]
        if pairs:
            parts.append(table(["true class", "predicted top-1", "videos", "share of true class"], pairs, {2, 3}))
        per_class = table(["class", "videos", "top-1 (%)", "top-5 (%)", "most often predicted instead"], _classes(rows))
        parts.append(details(f"Every class ({len({r['label'] for r in rows})}), hardest first", per_class))
    if not parts:
        parts = [paragraph("No record has per-video predictions: evaluate with `zslbench eval --log-samples`.")]
    return Section("per-class", "Per class", join(parts))


def _checked_confusion(record: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`samples.confusion` of `rows`, refused (ZslbenchError) when their top-1 is not the record's:
    the samples file of another run would put wrong numbers on the page."""
    summary = confusion(rows, TOP_PAIRS)
    recorded = (record["metrics"].get("all") or {}).get("top1")
    if summary["top1"] is not None and recorded is not None and abs(summary["top1"] - recorded) > 1e-9:
        raise ZslbenchError(
            f"{record.get('_path', 'a record')}: its samples give top-1 {summary['top1']:.2f}, "
            f"the record {recorded:.2f}",
            "the samples file belongs to another run; evaluate again with "
            + named("--log-samples", "log_samples=True"),
        )
    return summary


def _classes(rows: Sequence[dict[str, Any]]) -> list[list[object]]:
    """Per class of the per-video `rows`: videos (scored, unusable ones included, as the metrics count
    them), top-1 and top-5 percent, and the class most often predicted instead ("" when none); the
    lowest top-1 first, then by name."""
    by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] != "failed":
            by_class[row["label"]].append(row)
    out = []
    for name, members in by_class.items():
        scored = [m for m in members if m["status"] == "scored"]
        top1 = 100 * sum(m["rank"] == 0 for m in scored) / len(members)
        top5 = 100 * sum(m["rank"] < 5 for m in scored) / len(members)
        wrong = Counter(m["top5"][0]["class"] for m in scored if m["rank"] > 0)
        instead = min(wrong.items(), key=lambda item: (-item[1], item[0]), default=None)
        shown = "" if instead is None else f"{instead[0]} ({instead[1]})"
        out.append([name, len(members), f"{top1:.1f}", f"{top5:.1f}", shown, top1])
    out.sort(key=lambda row: (row[-1], row[0]))
    return [row[:-1] for row in out]


def _records(records: list[dict[str, Any]]) -> Section:
    """Each record: who, where, its data accounting and its file."""
    header = ["model", "model name", "protocol", "dataset", "videos scored", "status", "created", "file"]
    rows = []
    for r in records:
        data = r["data"]
        status = incomplete_reason(r) or "complete"
        rows.append(
            [
                r["model"]["label"],
                r["model"]["name"],
                _protocol_label(r),
                r["dataset"]["name"],
                f"{data['scored']} of {data['expected']}",
                status,
                r.get("created", ""),
                r.get("_path", ""),
            ]
        )
    return Section("records", "Records", table(header, rows, numeric={4}))
