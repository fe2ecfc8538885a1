"""`zslbench eval`, `zslbench extract` and `zslbench cache info|prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.aliases import renamed
from zslbench.cli.app import app
from zslbench.cli.bounds import DeviceOpt, bounded
from zslbench.cli.common import (
    DecoderOpt,
    FinetunedOnOpt,
    ImageTextOpt,
    JsonOpt,
    LazyText,
    OptionOpt,
    PinMemoryOpt,
    PrefetchOpt,
    SetOpt,
    command,
    console,
    default_protocol_name,
    err_console,
    loader_options,
    print_json,
    protocol_option,
    with_sets,
    workers_option,
)
from zslbench.cli.progress import is_main_process, per_dataset
from zslbench.core.bounds import COUNT, DAYS, SEED, SHARE, WIDTH
from zslbench.core.errors import EXIT_FAILED

cache_app = typer.Typer(help="The feature cache of `zslbench eval`.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
DataOpt = Annotated[
    list[str] | None,
    typer.Option("--data", help="NAME=PATH: a test dataset's manifest or folder", show_default="its `data add` root"),
]
WorkersOpt = Annotated[int, workers_option("Decoding processes")]


@app.command("eval", context_settings=renamed({"--results": "--out"}))
@command
def eval_command(
    weights: Annotated[Path | None, typer.Option("--weights", "-w", help="checkpoint.pt, run or export")] = None,
    features: Annotated[Path | None, typer.Option("--features", help="Precomputed embeddings (.npz) instead")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name (checked); alone: the zoo's")] = None,
    protocol: Annotated[str | None, protocol_option("the checkpoint's")] = None,
    sets: SetOpt = None,
    data: DataOpt = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Only these test datasets", show_default="every test dataset of the protocol"),
    ] = None,
    option: OptionOpt = None,
    image_text: ImageTextOpt = None,
    finetuned_on: FinetunedOnOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Label of the results: OUT/<name>/", show_default="the model name")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the result records")] = Path("results"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace records that another model's weights or embeddings made")
    ] = False,
    log_samples: Annotated[
        bool,
        typer.Option("--log-samples", help="Also write each video's predictions beside the record (.samples.jsonl)"),
    ] = False,
    batch_size: Annotated[int, bounded(COUNT, "--batch-size", help="Videos per batch", kind="int")] = 8,
    workers: WorkersOpt = 0,
    limit: Annotated[
        int | None,
        bounded(
            COUNT,
            "--limit",
            help="Read only the first N videos of each test dataset: a quick look, recorded as incomplete",
            kind="int",
        ),
    ] = None,
    device: DeviceOpt = "auto",
    failure_budget: Annotated[
        float,
        bounded(SHARE, "--failure-budget", help="Share of videos allowed to fail before a run is incomplete (exit 1)"),
    ] = 0.005,
    decoder: DecoderOpt = "pyav",
    prefetch: PrefetchOpt = 2,
    pin_memory: PinMemoryOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the resolved protocol, data and what would run; read nothing")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Score a model on the protocol's test datasets; one result record per dataset. Exit 1 if incomplete.

    A video-text model (CLIP, X-CLIP) runs from its weights under any protocol: `--model clip_frames
    --weights DIR`, its input and templates set with --option, its history declared with --image-text
    and --finetuned-on for the compliance audit."""
    from zslbench.cli.common import parse_options
    from zslbench.core.errors import ZslbenchError
    from zslbench.evaluation.run import EvalConfig, evaluate, evaluate_features
    from zslbench.models.video_text.declared import Declared
    from zslbench.video.sources import parse_data_options

    if (weights is None) == (features is None) and not (weights is None and model):  # --model alone: the zoo's
        raise ZslbenchError(
            "pass exactly one of --weights and --features",
            "--weights runs/NAME, --features emb.npz, or --model NAME for its weights in the zoo",
        )
    if features is not None:
        _check_features_route(option, limit, dry_run)
        wanted, declared = dataset[0] if dataset else None, Declared(image_text, finetuned_on)
        outcome = evaluate_features(
            features, with_sets(protocol, sets), name, wanted, out, overwrite, failure_budget, log_samples, declared
        )
    else:
        config = EvalConfig(
            weights=weights,
            data=parse_data_options(data or []),
            protocol=protocol,
            sets=sets or (),
            model=model,
            label=name,
            datasets=dataset,
            results=out,
            batch_size=batch_size,
            workers=workers,
            device=device,
            failure_budget=failure_budget,
            loading=loader_options(decoder, prefetch, pin_memory),
            overwrite=overwrite,
            log_samples=log_samples,
            options=parse_options(option),
            declared=Declared(image_text, finetuned_on),
            limit=limit,
        )
        if dry_run:
            return _show_plan(config, json_out)
        with per_dataset("extracting", not json_out) as progress:
            outcome = evaluate(config, progress)
    if not is_main_process():
        return
    if json_out:
        print_json(
            [
                {"path": str(path), **{k: v for k, v in record.items() if k != "protocol"}}
                for path, record in outcome.records
            ]
        )
    else:
        _render(outcome)
    if not outcome.complete and limit is None:  # --limit: incomplete by design, and said so per record
        raise typer.Exit(EXIT_FAILED)


def _check_features_route(option: list[str] | None, limit: int | None, dry_run: bool) -> None:
    """The options that read videos or set a model's input do not apply to a features file."""
    from zslbench.core.errors import ZslbenchError

    if dry_run:
        raise ZslbenchError("--dry-run shows what reading videos would do", "a features file is scored at once")
    if option:
        raise ZslbenchError(
            "--option does not apply to a features file: it holds its model's input and templates",
            "pass the options to `zslbench extract`, or evaluate the model with --weights",
        )
    if limit is not None:
        raise ZslbenchError("--limit reads videos; a features file holds them all", "drop --limit")


def _show_plan(config: Any, json_out: bool) -> None:
    """`eval --dry-run`: the plan (`evaluation.plan.eval_plan`) as JSON, or a few lines."""
    from zslbench.evaluation.plan import eval_plan

    plan = eval_plan(config)
    if json_out:
        print_json(plan)
        return
    proto = plan["protocol"]
    changed = f"; changed: {', '.join(proto['changed'])}" if proto["changed"] else ""
    splits = ", ".join(s["kind"] + (f" x{s['repeats']}" if s.get("repeats", 1) > 1 else "") for s in proto["splits"])
    clips = proto["clips"]
    lines = [
        "dry run: no video read, nothing written",
        f"model     {plan['model']} (weights: {plan['weights']})",
        f"protocol  {proto['name']} v{proto['version']} (fingerprint {proto['fingerprint'][:12]}, "
        f"training {proto['training_fingerprint'][:12]}){changed}",
        f"scores    {splits}; metrics {', '.join(proto['metrics'])}",
        f"clips     {clips['test_clips']} test clips of {clips['clip_len']} frames, crop {clips['crop']}",
    ]
    for d in plan["datasets"]:
        read = f"{d['read']} of {d['videos']}" if d["read"] != d["videos"] else str(d["videos"])
        lines.append(f"{d['name']}: {d['classes']} classes, {read} videos from {d['data']} -> {d['record']}")
    for line in lines:
        console.print(Text(line))


def _render(outcome) -> None:
    from zslbench.protocol.verdicts import VERDICT_STYLES, VERDICT_WORDS
    from zslbench.video.sources import ignored_warnings

    table = Table(header_style="bold")
    shown = _shown_metrics(outcome.records)
    headers = [f"half {shown[0][1]}", *(f"all {label}" for _, label in shown)]
    extra = _test_side_columns(outcome.records, shown[0])
    for column in ("dataset", "videos", *headers, *extra, "compliance"):
        table.add_column(column, no_wrap=column != "dataset", overflow="fold")
    for _, record in outcome.records:
        metrics, data = record["metrics"], record["data"]
        half = metrics.get("random_half", {}).get(shown[0][0])
        everything = metrics.get("all", {})
        videos = f"{data['scored']}/{data['expected']}" + ("" if data["complete"] else " [red]incomplete[/]")
        videos += f" [yellow](--limit {data['limit']})[/]" if data.get("limit") is not None else ""
        verdict = record["compliance"]["verdict"]
        style = VERDICT_STYLES.get(verdict, "")
        table.add_row(
            Text(record["dataset"]["name"]),
            videos,
            f"{half['mean']:.1f} ± {half['std']:.1f}" if half else "",
            *(f"{everything[name]:.1f}" if name in everything else "" for name, _ in shown),
            *(cell(metrics) for cell in extra.values()),
            Text(VERDICT_WORDS.get(verdict, verdict), style=style),
        )
    console.print(table)
    for path, record in outcome.records:
        console.print(Text(f"record {path}", style="dim"))
        if record["data"].get("samples"):
            console.print(Text(f"per-video predictions {path.with_name(record['data']['samples'])}", style="dim"))
        _compliance_notes(record["compliance"])
        if record.get("card"):
            console.print(Text(f"input {describe_card(record['card'])}", style="dim"), soft_wrap=True)
        selection = ((record.get("training") or {}).get("settings") or {}).get("model_selection")
        if selection:
            err_console.print(Text(f"note: {selection}", style="yellow"), soft_wrap=True)
        trained = (record.get("training") or {}).get("data") or {}
        if trained.get("complete") is False:
            err_console.print(Text(f"incomplete: the model's training lost its videos: {trained['why']}", style="red"))
        failures = record["data"]["failures"]
        for failure in failures[:5]:
            where = failure["path"] or (
                f"row {failure['index']} ({failure['label']})" if failure.get("index") is not None else "a video"
            )
            err_console.print(Text(f"failed video: {where}: {failure['reason']}", style="yellow"))
        if len(failures) > 5:
            err_console.print(Text(f"... and {len(failures) - 5} more failed videos in the record", style="yellow"))
        for line in ignored_warnings(record["data"].get("ignored"), record["dataset"]["name"]):
            err_console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
    _overlap(outcome.records)


def _overlap(records) -> None:
    """The overlap diagnostic of the records that have one (a model with declared training classes)."""
    from zslbench.cli.overlap_view import print_overlap
    from zslbench.reporting.overlap import record_overlap

    print_overlap([found for _, record in records if (found := record_overlap(record))])


def _compliance_notes(compliance: dict[str, Any]) -> None:
    """Why a verdict is not plainly compliant: what is unknown or unaudited, and the first violation."""
    from zslbench.protocol.verdicts import VERDICT_WORDS

    if compliance.get("why"):
        verdict = VERDICT_WORDS.get(compliance["verdict"], "")
        err_console.print(Text(f"compliance {verdict}: {compliance['why']}", style="yellow"), soft_wrap=True)
    if compliance.get("violations"):
        found = compliance["violations"]
        first = f"{found[0]['class']!r} is {found[0]['distance']:.4f} from {found[0]['nearest']!r}"
        count = f"{len(found)} {found[0]['role']} class(es) within tau {compliance['tau']}"
        err_console.print(Text(f"NOT compliant: {count}, e.g. {first}", style="bold red"), soft_wrap=True)


def describe_card(card: dict[str, Any]) -> str:
    """A video-text record's input and text in one line: frames, sampling, size, views, templates."""
    source, text = card["input"], card["text"]
    views = f"{source['views']} view(s) x {source['crops']} crop(s), {source['view_average']} average"
    sampling = source["sampling"] + ("" if source["sampling"] == "segments" else f" stride {source['stride']}")
    templates = f"{card['templates']} template(s) ({text['template_set']}, {text['ensemble']} ensemble)"
    frames = f"{source['frames']} frames ({sampling}) at {source['size']}"
    return f"{frames}, {views}; {templates}; card {card['fingerprint'][:12]}"


def _test_side_columns(records, first: tuple[str, str]) -> dict[str, Any]:
    """Columns for the other splits a protocol scores (the official splits and seeded class subsets, mean
    ± std; TruZe's unseen part; GZSL seen, unseen and their harmonic mean), only when some record has
    them: other protocols' summaries are unchanged."""
    kinds = {kind for _, record in records for kind in record["metrics"]}
    columns: dict[str, Any] = {}
    for kind, word in (("official", "official"), ("random_subset", "subset")):  # mean ± std over their splits
        if kind in kinds:
            name, label = first
            columns[f"{word} {label}"] = lambda m, kind=kind, name=name: (
                f"{m[kind][name]['mean']:.1f} ± {m[kind][name]['std']:.1f}" if name in m.get(kind, {}) else ""
            )
    if "unseen" in kinds:
        name, label = first
        columns[f"unseen {label}"] = lambda m: f"{m['unseen'][name]:.1f}" if name in m.get("unseen", {}) else ""
    if "gzsl" in kinds:
        for key, label in (("gzsl_seen", "GZSL seen"), ("gzsl_unseen", "GZSL unseen"), ("gzsl_h", "GZSL H")):
            columns[label] = lambda m, key=key: f"{m['gzsl'][key]:.1f}" if key in m.get("gzsl", {}) else ""
    return columns


def _shown_metrics(records) -> list[tuple[str, str]]:
    """(name, label) of the summary's metrics: the protocol's first two (top-1 and top-5 by default)."""
    from zslbench.metrics import BUILTIN_METRICS, metric_words, record_metrics

    names = record_metrics(records[0][1]) if records else list(BUILTIN_METRICS)
    return [(name, metric_words(name)[0]) for name in names[:2]]


@app.command()
@command
def extract(
    out: Annotated[Path, typer.Option("--out", "-o", help="Features file (.npz) to write")],
    data: DataOpt = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", "-w", help="A trained checkpoint: its class-space embeddings")
    ] = None,
    backbone: Annotated[
        str | None, typer.Option("--backbone", help="r2plus1d_18 or r3d_18: its pooled features instead")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="A video-text model for --weights (clip_frames, xclip)")
    ] = None,
    option: OptionOpt = None,
    image_text: ImageTextOpt = None,
    finetuned_on: FinetunedOnOpt = None,
    init: Annotated[
        Path | None, typer.Option(help="Backbone weights: torchvision state dict or a zslbench checkpoint")
    ] = None,
    width: Annotated[
        float | None, bounded(WIDTH, "--width", help="Backbone width", show_default="1, or the checkpoint's")
    ] = None,
    pretrained_on: Annotated[
        str | None, typer.Option(help="Dataset or class list the --init weights were trained on (for the audit)")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Which of the protocol's datasets", show_default="the one --data names"),
    ] = None,
    protocol: Annotated[
        str | None,
        protocol_option(LazyText("the checkpoint's", lambda: f"the checkpoint's, or {default_protocol_name()}")),
    ] = None,
    sets: SetOpt = None,
    seed: Annotated[
        int, bounded(SEED, "--seed", help="Seeds the random backbone when there is no --init", kind="int")
    ] = 0,
    batch_size: Annotated[int, bounded(COUNT, "--batch-size", help="Videos per batch", kind="int")] = 8,
    workers: WorkersOpt = 0,
    device: DeviceOpt = "auto",
    decoder: DecoderOpt = "pyav",
    json_out: JsonOpt = False,
) -> None:
    """Write a features file: a backbone's pooled video features, or a trained model's embeddings.

    --backbone: the pooled features of every video, for models of kind features. --weights: a trained
    model's embeddings of a test dataset, for `eval --features`; a video-text model's (--model
    clip_frames --weights DIR) with its class embeddings, so the file is scored in its own text space."""
    from zslbench.core.errors import ZslbenchError
    from zslbench.video.sources import parse_data_options

    if (weights is None) == (backbone is None):
        raise ZslbenchError(
            "pass exactly one of --weights and --backbone", "--backbone r2plus1d_18 --init W, or --weights runs/NAME"
        )
    sources = parse_data_options(data or [])
    dataset = dataset or (next(iter(sources)) if len(sources) == 1 else None)
    if dataset is None:
        raise ZslbenchError("which dataset?", "pass --dataset NAME, or a single --data NAME=PATH")
    proto = with_sets(protocol, sets)
    if backbone is not None:
        from zslbench.evaluation.backbone_features import BackboneExtraction

        request = BackboneExtraction(
            backbone,
            dataset,
            sources,
            out,
            init,
            width,
            pretrained_on,
            proto,
            batch_size,
            workers,
            device,
            seed,
            loader_options(decoder),
        )
        summary = _extract_features(request, show_progress=not json_out)
    else:
        if init or width is not None or pretrained_on:
            raise ZslbenchError("--init, --width and --pretrained-on go with --backbone", "a checkpoint holds its own")
        from zslbench.cli.common import parse_options
        from zslbench.evaluation.extract import extract_embeddings
        from zslbench.evaluation.run import EvalConfig
        from zslbench.models.video_text.declared import Declared

        config = EvalConfig(
            weights=weights,
            data=sources,
            protocol=proto,
            model=model,
            batch_size=batch_size,
            workers=workers,
            device=device,
            loading=loader_options(decoder),
            options=parse_options(option),
            declared=Declared(image_text, finetuned_on),
        )
        summary = extract_embeddings(config, dataset, out)
    if summary is None:  # not the main process
        return
    if json_out:
        print_json(summary)
    else:
        _render_extract(summary, backbone is not None)


def _extract_features(request, show_progress: bool) -> dict[str, Any] | None:
    from zslbench.evaluation.backbone_features import extract_backbone_features

    with per_dataset("extracting", show_progress) as progress:
        path, result = extract_backbone_features(request, progress)
    if result is None:
        return None
    return {
        "path": str(path),
        "dataset": result.dataset,
        "videos": len(result.labels),
        "classes": len(set(result.labels)),
        "dim": int(result.features.shape[1]),
        "backbone": result.backbone,
        "weights_sha256": result.weights_sha256,
        "pretraining": result.pretraining.status,
        "pretraining_name": result.pretraining.name,
        "failed": len(result.failures),
    }


def _render_extract(summary: dict[str, Any], backbone: bool) -> None:
    what = f"{summary['dim']}-d {summary.get('backbone', 'model')} features" if backbone else "embeddings"
    videos = f"{summary['videos']} {summary['dataset']} videos"
    console.print(Text(f"wrote {summary['path']}: {what} of {videos} ({summary['failed']} undecodable left out)"))
    if backbone and summary["pretraining"] == "unknown":
        err_console.print(
            "[yellow]the --init weights' pretraining is unknown: models trained on these features get the "
            "compliance verdict unknown (declare it with --pretrained-on)[/]"
        )


@cache_app.command("info")
@command
def cache_info(json_out: JsonOpt = False) -> None:
    """What the feature cache holds, per model identity."""
    from zslbench.core.paths import cache_dir
    from zslbench.evaluation.feature_cache import cache_summary

    rows = cache_summary()
    if json_out:
        print_json({"root": str(cache_dir("features")), "namespaces": rows})
        return
    table = Table(title=Text(f"feature cache: {cache_dir('features')}"), title_justify="left", header_style="bold")
    for column in ("namespace", "model", "videos", "MB", "last used (days)"):
        table.add_column(column, no_wrap=column != "model", overflow="fold")
    for row in rows:
        table.add_row(
            row["namespace"][:12],
            str(row["model"]),
            str(row["videos"]),
            f"{row['bytes'] / 1e6:.1f}",
            str(row["last_used_days"]),
        )
    console.print(table)


@cache_app.command("prune")
@command
def cache_prune(
    older_than: Annotated[
        float | None, bounded(DAYS, "--older-than", help="Only namespaces unused for this many days")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Everything")] = False,
) -> None:
    """Delete cached embeddings (whole model identities at a time)."""
    from zslbench.core.errors import ZslbenchError
    from zslbench.evaluation.feature_cache import prune

    if older_than is None and not all_:
        raise ZslbenchError("say what to prune", "--older-than DAYS, or --all")
    removed = prune(older_than_days=None if all_ else older_than)
    console.print(f"removed {len(removed)} cache namespace(s)")
