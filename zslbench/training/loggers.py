"""Experiment trackers (TensorBoard, Weights & Biases, MLflow), fed what OUT/metrics.jsonl gets.

`train(..., loggers=("wandb",))`, `--logger NAME` on the command line. Each tracker is an optional
extra (`pip install "zslbench[wandb]"`) that `check_trackers` imports before any work, so a missing
library is one line (exit 2) and never a failure after the first hour of training. The trainer talks
to one `Tracker`: the run's settings once (`config`), every metrics.jsonl row (`row`), then `close`
with how the run ended: "finished" (`--max-steps` too), "interrupted" (a signal), or "failed".
Only the main rank opens them.

Where each one writes: TensorBoard to OUT/tensorboard (a resumed run drops the events after its
checkpoint, as metrics.jsonl drops its rows); W&B to $WANDB_DIR (else OUT), online or offline as
$WANDB_MODE says, in project $WANDB_PROJECT (else "zslbench"); MLflow to the tracking URI that
$MLFLOW_TRACKING_URI names (else MLflow's default), in experiment $MLFLOW_EXPERIMENT_NAME (else
"zslbench"). Each invocation, a resumed one too, is one tracker run named after OUT.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from zslbench.core.errors import ZslbenchError, named, unknown_name_error

# --logger NAME -> the module it needs; the extra of the same name installs it
TRACKERS = {"tensorboard": "torch.utils.tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
ENDINGS = ("finished", "interrupted", "failed")
PLACE_KEYS = frozenset({"global_step", "epoch", "step", "steps", "epoch_done"})  # where a row is, not a measure
MLFLOW_PARAMS_PER_CALL = 100  # MLflow's log_batch takes at most 100 params at a time
MLFLOW_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


class Tracker(Protocol):
    """One experiment tracker of a run, on the main rank."""

    def config(self, settings: dict[str, Any]) -> None:
        """The run's settings (hyperparameters, nested dicts), once, before the first row."""

    def row(self, row: dict[str, Any]) -> None:
        """One metrics.jsonl row: a step's (every `log_every` steps) or an epoch's (`epoch_done`)."""

    def close(self, ending: str) -> None:
        """Flush and end the tracker's run; `ending` is one of ENDINGS."""


def logger(name: str) -> str:
    """Tracker `name` as an error names it: `--logger NAME` on the command line, `logger 'NAME'` from Python."""
    return named(f"--logger {name}", f"logger {name!r}")


def check_trackers(names: Iterable[str]) -> tuple[str, ...]:
    """The --logger names without repeats, each tracker's library imported now. An unknown name or a
    library that does not import is a ZslbenchError naming the extra to install."""
    wanted = tuple(dict.fromkeys(names))
    for name in wanted:
        if name not in TRACKERS:
            raise unknown_name_error("logger", name, TRACKERS, "choose tensorboard, wandb or mlflow (repeatable)")
        try:
            importlib.import_module(TRACKERS[name])
        except ImportError as err:
            raise ZslbenchError(
                f"{logger(name)} needs the {name} package ({err})", f'pip install "zslbench[{name}]"'
            ) from None
    return wanted


def scalars(row: dict[str, Any]) -> tuple[int, dict[str, float]]:
    """A metrics.jsonl row as (global step, {tag: value}): tags `train/KEY` for a step's row and
    `epoch/KEY` for an epoch's, every finite number of the row but the keys that place it."""
    group = "epoch" if row.get("epoch_done") else "train"
    values = {
        f"{group}/{key}": float(value)
        for key, value in row.items()
        if key not in PLACE_KEYS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }
    return int(row["global_step"]), values


def flat_config(settings: dict[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """Nested settings as one level with dotted keys ("settings.lr"), what hyperparameter tables show;
    lists and None become their JSON text."""
    flat: dict[str, str | int | float | bool] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{name}."))
        elif isinstance(value, str | int | float | bool):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat


class TensorBoard:
    """OUT/tensorboard through torch.utils.tensorboard (the `tensorboard` package): scalars, the
    settings as text and in the HParams tab."""

    def __init__(self, out: Path, first_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # events from `first_step` on, written by a run killed after its last checkpoint, are dropped
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=first_step)

    def config(self, settings: dict[str, Any]) -> None:
        """The settings in the HParams tab (flattened, `flat_config`) and as JSON text under `config`."""
        from torch.utils.tensorboard.summary import hparams

        for summary in hparams(flat_config(settings), {}):  # in this run's own event file
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", f"```\n{json.dumps(settings, indent=2, default=str)}\n```")

    def row(self, row: dict[str, Any]) -> None:
        """Each number of the row as a scalar at its global step (`scalars`), flushed at once."""
        step, values = scalars(row)
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self, ending: str) -> None:
        """Close the event file (`ending` is not recorded)."""
        self.writer.close()


class WandB:
    """A Weights & Biases run; WANDB_MODE=offline keeps it in its folder for `wandb sync`."""

    def __init__(self, out: Path, first_step: int) -> None:
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or "zslbench",
            name=out.name,
            dir=os.environ.get("WANDB_DIR") or str(out),
        )

    def config(self, settings: dict[str, Any]) -> None:
        """The settings as the W&B run's config (nested as given)."""
        self.run.config.update(settings)

    def row(self, row: dict[str, Any]) -> None:
        """The row's numbers logged at its global step (`scalars`)."""
        step, values = scalars(row)
        self.run.log(values, step=step)

    def close(self, ending: str) -> None:
        """Finish the W&B run: exit code 1 for a failed run, 0 otherwise."""
        self.run.finish(exit_code=1 if ending == "failed" else 0)


class MLflow:
    """An MLflow run in the tracking store that MLFLOW_TRACKING_URI names (MLflow reads it itself)."""

    def __init__(self, out: Path, first_step: int) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "zslbench"
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=out.name).info.run_id

    def config(self, settings: dict[str, Any]) -> None:
        """The flattened settings (`flat_config`) as MLflow params, MLFLOW_PARAMS_PER_CALL per call."""
        from mlflow.entities import Param

        params = [Param(key, str(value)) for key, value in flat_config(settings).items()]
        for start in range(0, len(params), MLFLOW_PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=params[start : start + MLFLOW_PARAMS_PER_CALL])

    def row(self, row: dict[str, Any]) -> None:
        """The row's numbers as MLflow metrics at its global step (`scalars`), in one batch."""
        from mlflow.entities import Metric

        step, values = scalars(row)
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(tag, value, now, step) for tag, value in values.items()])

    def close(self, ending: str) -> None:
        """End the MLflow run as FINISHED, KILLED (stopped, resumable) or FAILED (MLFLOW_STATUS)."""
        self.client.set_terminated(self.run_id, status=MLFLOW_STATUS[ending])


ADAPTERS: dict[str, Callable[[Path, int], Tracker]] = {"tensorboard": TensorBoard, "wandb": WandB, "mlflow": MLflow}


class Trackers:
    """Every tracker of a run behind the one Tracker interface; with none, each call does nothing."""

    def __init__(self, trackers: Iterable[Tracker] = ()) -> None:
        self.trackers = list(trackers)

    def config(self, settings: dict[str, Any]) -> None:
        """Give the run's settings to every tracker."""
        for tracker in self.trackers:
            tracker.config(settings)

    def row(self, row: dict[str, Any]) -> None:
        """Give one metrics.jsonl row to every tracker."""
        for tracker in self.trackers:
            tracker.row(row)

    def close(self, ending: str) -> None:
        """Close each (once); after a failed run an error while closing never hides the run's own."""
        trackers, self.trackers = self.trackers, []
        errors = []
        for tracker in trackers:
            try:
                tracker.close(ending)
            except Exception as err:  # the others still close
                errors.append(err)
        if errors and ending != "failed":
            raise errors[0]


def open_trackers(names: Iterable[str], out: Path, first_step: int, settings: dict[str, Any]) -> Trackers:
    """Start a run in each tracker and give it `settings`; `first_step` is the first global step this
    invocation logs. A tracker that cannot start (a tracking server out of reach, a bad
    MLFLOW_TRACKING_URI) closes those already started and is a ZslbenchError."""
    trackers = Trackers()
    for name in check_trackers(names):
        try:
            trackers.trackers.append(ADAPTERS[name](out, first_step))
            trackers.trackers[-1].config(settings)
        except Exception as err:
            trackers.close("failed")
            raise ZslbenchError(
                f"{logger(name)} could not start a run: {type(err).__name__}: {err}",
                f"check the tracker's settings (docs/logging.md), or drop {logger(name)}",
            ) from None
    return trackers
