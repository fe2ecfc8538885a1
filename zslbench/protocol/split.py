"""The split and the class-list audit as library calls: what `zslbench split` and `zslbench audit` do.

`split` applies the rule (Brattoli et al., CVPR 2020, Sec. 3, Eq. 3) to a protocol's source classes
and writes the kept list and its report (`report.write_split`); `audit_classes` checks a training class
list against the protocol's test datasets. Both resolve the protocol the same way (`resolve_protocol`:
its overrides, then the dedicated settings on top) and return typed results that hold the JSON report
the CLI prints with `--json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, named
from zslbench.protocol.calibration import Calibration, calibrate, calibration_report
from zslbench.protocol.overlap import OverlapTable, protocol_overlap
from zslbench.protocol.report import default_split_dir, overlap_report, write_split
from zslbench.protocol.spec import SET_OPTION, Protocol, as_sets, load_protocol
from zslbench.protocol.verdicts import COMPLIANT, NOT_COMPLIANT
from zslbench.text.vocab import ClassList

Sets = Sequence[str] | Mapping[str, Any]  # overrides: "key=value" strings, or {"dotted.key": value}

# each dedicated setting: (its option on the command line, its parameter in Python, the protocol key)
_DEDICATED = (
    ("--train", "train", "train.source"),
    ("--test", "test", "test"),
    ("--embedding", "embedding", "embedding.model"),
    ("--threshold", "threshold", "overlap.tau"),
)


def resolve_protocol(
    protocol: str | Path | Protocol | None = None,
    sets: Sets = (),
    *,
    train: str | None = None,
    test: str | Sequence[str] | None = None,
    embedding: str | None = None,
    threshold: float | None = None,
) -> Protocol:
    """The protocol (a shipped name, a YAML file or a loaded Protocol; default: the paper's) with its
    overrides `sets`, then the dedicated settings on top: `train` (source classes: a dataset or a
    class-list file), `test` (datasets or files; a str may be comma-separated), `embedding` and
    `threshold` (tau, a cosine distance in [0, 2]). Class-list paths given here start at the working
    directory. A setting given both ways is a ZslbenchError: which one should win is not obvious."""
    items = as_sets(sets)
    values = (train, test, embedding, threshold)
    for item in items:
        key = item.partition("=")[0].strip()
        for (cli, python, setting), value in zip(_DEDICATED, values, strict=True):
            if value is not None and (setting == key or setting.startswith(key + ".")):
                raise ZslbenchError(f"{named(cli, python)} and {SET_OPTION} {item} both set {setting}", "give it once")
    tests = [test] if isinstance(test, str) else test
    if tests is not None:  # "ucf101,hmdb51" is two, as on the command line
        tests = [part.strip() for ref in tests for part in ref.split(",") if part.strip()]
    return load_protocol(protocol, items).replace(train_source=train, test=tests, embedding=embedding, tau=threshold)


@dataclass(frozen=True)
class SplitResult:
    """What `split` found and wrote.

    `report` is the JSON report (split.json; `zslbench split --json` prints it): every source class
    with its words, nearest test class and cosine distance, and the resolved protocol. `kept_classes`
    and `report_path` are the files written (None when nothing was written); `calibration` is set when
    tau was carried over from another embedding (`calibrate_to`)."""

    protocol: Protocol
    tau: float
    table: OverlapTable = field(repr=False, compare=False)
    report: dict[str, Any] = field(repr=False, compare=False)
    kept_classes: Path | None = None
    report_path: Path | None = None
    calibration: Calibration | None = field(default=None, repr=False, compare=False)

    @property
    def kept(self) -> tuple[str, ...]:
        """The source classes the rule keeps (min cosine distance to every test class >= tau), in source order."""
        return tuple(c["name"] for c in self.report["classes"] if c["kept"])

    @property
    def removed(self) -> tuple[str, ...]:
        """The source classes within tau of a test class, in source order."""
        return tuple(c["name"] for c in self.report["classes"] if not c["kept"])


def split(
    protocol: str | Path | Protocol | None = None,
    threshold: float | None = None,
    out: str | Path | None = None,
    *,
    sets: Sets = (),
    train: str | None = None,
    test: str | Sequence[str] | None = None,
    embedding: str | None = None,
    calibrate_to: str | None = None,
    write: bool = True,
) -> SplitResult:
    """Remove every source class within tau of a test class (Eq. 3) and write the kept list and report.

    The protocol is resolved as `resolve_protocol` says (`threshold` is tau; None: the protocol's).
    Files go to `out`, default runs/splits/<protocol>-tau<tau>-<fingerprint> (relative to the working
    directory): kept_classes.txt (a class list zslbench reads back) and split.json, both or neither;
    `write=False` writes nothing. `calibrate_to` (a reference embedding spec) first carries tau over:
    the tau in `embedding` whose removed set best matches the reference's at `threshold`
    (protocol/calibration.py). Raises ZslbenchError for bad input (unknown protocol, dataset or
    embedding, tau outside [0, 2], a setting given twice)."""
    resolved = resolve_protocol(protocol, sets, train=train, test=test, embedding=embedding, threshold=threshold)
    calibration = None
    if calibrate_to is None:
        table, chosen = protocol_overlap(resolved), resolved
    else:
        reference = protocol_overlap(resolved.replace(embedding=calibrate_to))
        calibration = calibrate(reference, protocol_overlap(resolved), resolved.tau)
        table, chosen = calibration.other, resolved.replace(tau=calibration.tau)
    report = overlap_report(table, chosen, chosen.tau, "split")
    if calibration is not None:
        report["calibration"] = calibration_report(calibration, calibrate_to or "", resolved.embedding)
    kept_path = report_path = None
    if write:
        folder = Path(out) if out is not None else default_split_dir(chosen, chosen.tau)
        kept_path, report_path = write_split(report, folder)
        report["files"] = {"kept_classes": str(kept_path), "report": str(report_path)}
    return SplitResult(chosen, chosen.tau, table, report, kept_path, report_path, calibration)


@dataclass(frozen=True)
class Violation:
    """A class within tau of a test class: `name` (the audited class), its `nearest` test class, that
    class's `dataset`, their cosine `distance` (< tau), and the `role` of the list it came from
    ("training", "fine-tuning" or "pretraining")."""

    name: str
    nearest: str
    dataset: str
    distance: float
    role: str = "training"


@dataclass(frozen=True)
class AuditResult:
    """The verdict of an audit (`audit`): `verdict` is one of protocol/verdicts.py (compliant,
    not_compliant, finetuning_compliant, unknown), the worst over the test datasets, whose own
    verdicts `datasets` holds; `compliant` is True only for a plain "compliant". `violations` lists
    the classes within tau of a test class; `why` says what made a verdict other than compliant or
    not_compliant; `report` is the JSON the CLI prints with `--json`."""

    subject: str  # the class list's name, or the checkpoint's path
    protocol: Protocol
    tau: float
    verdict: str
    violations: tuple[Violation, ...]
    datasets: dict[str, str] = field(default_factory=dict)
    why: str = ""
    report: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # a class list's overlap table (each class's nearest test class and distance); None for a checkpoint
    table: OverlapTable | None = field(default=None, repr=False, compare=False)

    @property
    def compliant(self) -> bool:
        """Whether every audited class lies at cosine distance >= tau from every test class."""
        return self.verdict == COMPLIANT


def audit_classes(
    classes: str | Path,
    protocol: str | Path | Protocol | None = None,
    *,
    sets: Sets = (),
    test: str | Sequence[str] | None = None,
    embedding: str | None = None,
    threshold: float | None = None,
) -> AuditResult:
    """Audit a training class list (a dataset name or a class-list file) against the protocol's test
    datasets: every class at cosine distance >= tau from every test class, or a violation. The result
    holds the overlap table it was read from (`table`: each class's nearest test class and distance)."""
    resolved = resolve_protocol(protocol, sets, train=str(classes), test=test, embedding=embedding, threshold=threshold)
    table = protocol_overlap(resolved)
    report = overlap_report(table, resolved, resolved.tau, "audit")
    report["compliant"] = report["counts"]["removed"] == 0
    found = tuple(
        Violation(c["name"], c["nearest"], c["nearest_dataset"], c["distance"])
        for c in report["classes"]
        if not c["kept"]
    )
    verdict = COMPLIANT if not found else NOT_COMPLIANT
    per_test = {t.name: _list_verdict(t, found) for t in table.tests}
    name = table.source.name
    return AuditResult(name, resolved, resolved.tau, verdict, found, per_test, report=report, table=table)


def _list_verdict(test: ClassList, found: Sequence[Violation]) -> str:
    return NOT_COMPLIANT if any(v.dataset == test.name for v in found) else COMPLIANT
