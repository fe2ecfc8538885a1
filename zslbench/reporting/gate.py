"""The regression gate: compare result records with published numbers or a saved baseline.

Each comparable pair is `pass` (|ours - reference| <= max(tolerance, k x std)), `fail`, `missing`
(a reference with no result), `stale` (the reference was made under another protocol version,
protocol content or embedding), `other_card` (a published number made another way: other training
classes, splits, frames or views, backbone or templates, reporting/cards.py; shown, never compared)
or `incomplete` (our run lost more videos than its failure budget, so its number is not the
dataset's). Any `fail` or `incomplete` makes the gate fail; `--strict` also fails on `missing`,
`stale` and on having nothing compared like for like.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from zslbench.core.atomic import write_text
from zslbench.core.bounds import STD_K, TOLERANCE
from zslbench.core.errors import ZslbenchError, named
from zslbench.reporting.cards import WORD_VECTORS
from zslbench.reporting.observations import Observation, from_published
from zslbench.reporting.published import published_numbers
from zslbench.reporting.results import ResultsLike, observations_of

BASELINE_KIND = "zslbench-baseline"
BASELINE_SCHEMA = 1
WRITE_BASELINE = named("`zslbench check --write-baseline`", "zslbench.write_baseline(results, path)")


@dataclass(frozen=True)
class Comparison:
    """One row of the gate: a reference number (published or baseline) beside ours for one protocol, dataset,
    split and metric (percent), the allowed difference, and the status (module docstring) with its reason."""

    who: str
    protocol: str
    dataset: str
    split: str
    metric: str
    ours: float | None
    reference: float | None  # None: an incomplete result with no reference to compare with
    reference_std: float | None
    allowed: float | None
    status: str  # pass | fail | missing | stale | other_card | incomplete
    reason: str = ""
    note: str = ""  # our result's model_selection (e.g. selected on the test set: optimistic); "" otherwise

    @property
    def difference(self) -> float | None:
        """ours - reference in percentage points; None when either is missing."""
        return None if self.ours is None or self.reference is None else self.ours - self.reference

    @property
    def reference_text(self) -> str:
        """`50.00 ± 1.00`, `50.00`, or "" when there is no reference."""
        if self.reference is None:
            return ""
        return f"{self.reference:.2f}" + (f" ± {self.reference_std:.2f}" if self.reference_std is not None else "")

    @property
    def allowed_text(self) -> str:
        """The allowed difference as `±1.00`, or "" when there is none."""
        return "" if self.allowed is None else f"±{self.allowed:.2f}"


def compare(
    results: Sequence[Observation], references: Sequence[Observation], tolerance: float = 1.0, std_k: float = 2.0
) -> list[Comparison]:
    """Compare results with references (published: matched by model; baseline: by label). Published
    numbers of protocols none of the results used, or of models none of them is, are left out, not
    reported missing; so are published numbers of no zslbench protocol that no result's setting fits.
    A published number whose card disagrees with the result's is `other_card`, its reason naming the
    fields that differ."""
    used, models = {r.compared_as for r in results}, {r.model for r in results}
    out, reported = [], set()
    for ref in references:
        if ref.published and ref.protocol and (ref.protocol not in used or ref.model not in models):
            continue
        matched = [r for r in results if _same_setting(r, ref)]
        if not matched and (ref.protocol or not ref.published):
            out.append(_row(ref.who, ref, None, None, "missing", "no result for this setting", tolerance, std_k))
        for ours in matched:
            status, reason = _unlike(ours, ref)
            who = f"{ours.who} ({ours.protocol})" if ours.compared_as != ours.protocol else ours.who
            row = _row(who, ref, ours.value, ours.std, status, reason, tolerance, std_k)
            out.append(replace(row, note=ours.model_selection))
            reported.add(ours)
    for ours in results:  # an incomplete run with nothing to compare with must still fail the gate
        if ours.incomplete and ours not in reported:
            where = (ours.who, ours.protocol_label, ours.dataset, ours.split, ours.metric)
            out.append(
                Comparison(*where, ours.value, None, None, None, "incomplete", ours.incomplete, ours.model_selection)
            )
    return out


def _same_setting(result: Observation, ref: Observation) -> bool:
    """Published numbers: the same model under their protocol, or under a protocol published as it
    (`published_as`, e.g. the `-reference` variants), or under any protocol for a number of no
    zslbench protocol (its card decides); a baseline: the same label and protocol."""
    who = result.model == ref.model if ref.published else result.who == ref.who
    protocol = result.compared_as if ref.published else result.protocol
    if ref.published and not ref.protocol:
        protocol = ""
    setting = (protocol, result.dataset, result.split, result.metric)
    return who and setting == (ref.protocol, ref.dataset, ref.split, ref.metric)


def _unlike(result: Observation, ref: Observation) -> tuple[str | None, str]:
    """(status, reason) when the pair is not compared as numbers: an incomplete run fails whatever it is
    compared with; a published number of another card is shown, not compared; then `stale`.
    (None, "") when they compare."""
    if result.incomplete:
        return "incomplete", result.incomplete
    if ref.published and result.protocol_card and ref.protocol_card:
        differs = result.protocol_card.differences(ref.protocol_card)
        if differs:
            return "other_card", f"other card: {'; '.join(differs)}"
    reason = _stale(result, ref)
    return ("stale", reason) if reason else (None, "")


def _stale(result: Observation, ref: Observation) -> str:
    if ref.published and not ref.protocol:  # no zslbench protocol: its card says how it was made
        return ""
    if result.version != ref.version:
        return f"protocol version {result.version} vs {ref.version}"
    if ref.published and result.unshipped:  # a published number was made under the shipped protocol only
        return result.unshipped
    if ref.fingerprint and result.fingerprint != ref.fingerprint:
        return f"protocol content changed (fingerprint {result.fingerprint[:8]} vs {ref.fingerprint[:8]})"
    if _scored_in_word_vectors(ref) and not _same_embedding(result.embedding, ref.embedding):
        return f"embedding {result.embedding} vs {ref.embedding}"
    if not ref.published and result.card != ref.card:  # other frames, views or templates: another number
        return f"the model's input or templates changed (card {result.card[:8] or 'none'} vs {ref.card[:8] or 'none'})"
    return ""


def _scored_in_word_vectors(ref: Observation) -> bool:
    """Whether a number was scored against its protocol's class-name vectors, so the embedding is part of
    it; a video-text method's number is scored in its own text space (its card's templates), and the
    protocol's embedding only drives the rule, which the card's training filter already compares."""
    card = ref.protocol_card
    return not (ref.published and card is not None and card.templates != WORD_VECTORS)


def _same_embedding(ours: str, theirs: str) -> bool:
    kind, _, path = ours.partition(":")
    ref_kind, _, ref_path = theirs.partition(":")
    return kind == ref_kind and Path(path).name == Path(ref_path).name


def _row(who, ref, ours, ours_std, status, reason, tolerance, std_k) -> Comparison:
    std = ref.std if ref.std is not None else ours_std
    allowed = max(tolerance, std_k * std) if std is not None else tolerance
    if status is None and math.isnan(ours) and math.isnan(ref.value):
        status = "pass"  # undefined in both (e.g. GZSL seen with no seen classes): the same result
    if status is None:
        status = "pass" if abs(ours - ref.value) <= allowed + 1e-9 else "fail"
    return Comparison(
        who, ref.protocol_label, ref.dataset, ref.split, ref.metric, ours, ref.value, ref.std, allowed, status, reason
    )


def published_references() -> list[Observation]:
    """Published numbers that a zslbench model reproduces (the others only appear in tables)."""
    return [from_published(n) for n in published_numbers() if n.model]


STATUSES = ("pass", "fail", "missing", "stale", "other_card", "incomplete")
FAILING = frozenset({"fail", "incomplete"})
FAILING_STRICT = FAILING | {"missing", "stale"}


def gate_passes(rows: Sequence[Comparison], strict: bool) -> bool:
    """The CI verdict: no fail or incomplete; under `strict` also no missing or stale, and something
    was compared like for like (a gate that compared nothing proves nothing; numbers of another card
    are shown, not compared)."""
    failing = FAILING_STRICT if strict else FAILING
    compared = any(r.status != "other_card" for r in rows)
    return not any(r.status in failing for r in rows) and (compared or not strict)


def write_baseline(results: Sequence[Observation] | ResultsLike, path: str | Path) -> Path:
    """Save results (observations, or paths of result files or folders, or `Result`s) as the numbers
    later runs are checked against (`check(..., against=path)`); returns the JSON file's path. Raises
    ZslbenchError for an incomplete run's numbers: a baseline must come from complete runs."""
    results = _observations(results)
    path = Path(path)
    incomplete = [o for o in results if o.incomplete]
    if incomplete:
        raise ZslbenchError(
            f"{incomplete[0].source or incomplete[0].who} is {incomplete[0].incomplete}; a baseline must come "
            "from complete runs",
            "retrain with the failing training videos fixed or removed"
            if incomplete[0].incomplete.startswith("training")
            else "fix or remove the failing videos and re-run `zslbench eval`",
        )
    # a baseline compares label with label, protocol fingerprint and `card`; protocol cards are for published numbers
    entries = [{k: v for k, v in asdict(o).items() if k not in ("source", "protocol_card")} for o in results]
    payload = {"kind": BASELINE_KIND, "schema": BASELINE_SCHEMA, "entries": entries}
    write_text(path, json.dumps(payload, indent=2) + "\n")
    return path


def load_baseline(path: Path) -> list[Observation]:
    """The observations of a baseline file `check --write-baseline` wrote, each with the file as its source.

    Raises ZslbenchError when the file is missing, unreadable or not JSON, or not a baseline of this schema."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZslbenchError(f"baseline {path} does not exist", f"write one with {WRITE_BASELINE}") from None
    except (OSError, ValueError) as err:
        raise ZslbenchError(f"cannot read baseline {path}: {err}", "it should be JSON written by zslbench") from None
    if (
        not isinstance(payload, dict)
        or payload.get("kind") != BASELINE_KIND
        or payload.get("schema") != BASELINE_SCHEMA
    ):
        raise ZslbenchError(
            f"{path} is not a zslbench baseline (schema {BASELINE_SCHEMA})", f"write one with {WRITE_BASELINE}"
        )
    return [Observation(**entry, source=str(path)) for entry in payload["entries"]]


def markdown_summary(rows: Sequence[Comparison]) -> str:
    """The gate as Markdown (e.g. for a CI job summary): counts per status, then one table row per comparison."""
    counts = {status: sum(r.status == status for r in rows) for status in STATUSES}
    counts = {s: n for s, n in counts.items() if n or s != "other_card"}  # other cards: only when there are some
    lines = [
        "## zslbench check",
        "",
        ", ".join(f"**{n}** {status}" for status, n in counts.items()),
        "",
        "| status | model | protocol | dataset | split | metric | ours | reference | allowed | note |",
        "|---|---|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        ours = "" if r.ours is None else f"{r.ours:.2f}" + (" \\" + SELECTED_MARK if r.note else "")
        names = (r.status, r.who, r.protocol, r.dataset, r.split, r.metric)
        cells = (*names, ours, r.reference_text, r.allowed_text, r.reason)
        lines.append("| " + " | ".join(map(_md_cell, cells)) + " |")
    lines += [f"\n\\{SELECTED_MARK} {line}" for line in selection_notes(rows)]  # `\*`: not a list item
    return "\n".join(lines) + "\n"


SELECTED_MARK = "*"  # after our number when its model was chosen another way (`Comparison.note`)


def selection_notes(rows: Sequence[Comparison]) -> list[str]:
    """One line per distinct `note`: the models whose numbers it concerns (marked `SELECTED_MARK`), and
    the note. A number whose model the test set chose (`train --select-on-test`, the reference's
    checkpoints) is optimistic; a reader must see that beside it, not only in the record."""
    by_note: dict[str, list[str]] = {}
    for r in rows:
        if r.note and r.who not in by_note.setdefault(r.note, []):
            by_note[r.note].append(r.who)
    return [f"{', '.join(who)}: {note}" for note, who in by_note.items()]


def _md_cell(text: str) -> str:
    """A Markdown table cell: a `|` or a line break in a name must not end the cell or the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def junit_xml(rows: Sequence[Comparison]) -> str:
    """The gate as a JUnit XML test suite: `fail` and `incomplete` rows are failures; `missing`, `stale`
    and `other_card` rows are skipped."""
    failures = sum(r.status in FAILING for r in rows)
    skipped = sum(r.status in ("missing", "stale", "other_card") for r in rows)
    cases = []
    for r in rows:
        name = quoteattr(f"{r.who} {r.protocol} {r.dataset} {r.split} {r.metric}")
        body = ""
        if r.status == "fail":
            message = f"{r.ours:.2f} vs {r.reference:.2f} (allowed ±{r.allowed:.2f})"
            body = f"<failure message={quoteattr(message)}/>"
        elif r.status == "incomplete":
            body = f"<failure message={quoteattr(r.reason)}/>"
        elif r.status in ("missing", "stale", "other_card"):
            body = f"<skipped message={quoteattr(r.status + ': ' + r.reason)}/>"
        if r.note:  # a passing number is still one whose model the test set may have chosen
            body += f"<system-out>{escape('note: ' + r.note)}</system-out>"
        cases.append(f'  <testcase classname="zslbench.reporting.gate" name={name}>{body}</testcase>')
    header = f'<testsuite name="zslbench check" tests="{len(rows)}" failures="{failures}" skipped="{skipped}">'
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + header + "\n" + "\n".join(cases) + "\n</testsuite>\n"


def summary_json(rows: Sequence[Comparison]) -> list[dict[str, Any]]:
    """Plain values of every row for `--json`, each with its `difference`."""
    return [{**asdict(r), "difference": r.difference} for r in rows]


@dataclass(frozen=True)
class GateResult:
    """The regression gate's outcome (`check`): every `Comparison` (ours beside a reference number, its
    status: pass, fail, missing, stale, other_card or incomplete, module docstring), and `passed`, the
    CI verdict (`gate_passes`: no fail or incomplete; under `strict` also no missing or stale, and
    something compared like for like). `protocols` names the protocols the results were made under."""

    comparisons: tuple[Comparison, ...]
    passed: bool
    strict: bool = False
    protocols: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """How many comparisons have each status, e.g. {"pass": 12, "fail": 0, ...}."""
        return {status: sum(r.status == status for r in self.comparisons) for status in STATUSES}

    def markdown(self) -> str:
        """The gate as Markdown (`check --format md`, e.g. for a CI job summary)."""
        return markdown_summary(self.comparisons)

    def junit(self) -> str:
        """The gate as JUnit XML (`check --junit FILE`)."""
        return junit_xml(self.comparisons)

    def to_json(self) -> list[dict[str, Any]]:
        """Plain values of every comparison, as `check --json` prints them."""
        return summary_json(self.comparisons)


def check(
    results: ResultsLike = "results",
    against: str | Path = "published",
    *,
    tolerance: float = 1.0,
    std_k: float = 2.0,
    strict: bool = False,
) -> GateResult:
    """Compare results (paths of result files or folders, or `Result`s) with the published numbers
    (`against="published"`) or a baseline file (`write_baseline`): a pair passes when |ours - reference|
    <= max(`tolerance`, `std_k` x std) accuracy points (both in [0, 100]). Raises ZslbenchError for a
    path or baseline that cannot be read, or a tolerance out of range."""
    tolerance, std_k = TOLERANCE.check(float(tolerance), "tolerance"), STD_K.check(float(std_k), "std_k")
    observations = observations_of(results)
    references = published_references() if str(against) == "published" else load_baseline(Path(against))
    rows = tuple(compare(observations, references, tolerance, std_k))
    used = tuple(sorted({o.protocol for o in observations}))
    return GateResult(rows, gate_passes(rows, strict), strict, used)


def _observations(results: Sequence[Observation] | ResultsLike) -> list[Observation]:
    """Observations as given, or those of result paths and `Result`s."""
    if (
        isinstance(results, Sequence)
        and not isinstance(results, str)
        and all(isinstance(o, Observation) for o in results)
    ):
        return list(results)  # type: ignore[arg-type]
    return observations_of(results)  # type: ignore[arg-type]
