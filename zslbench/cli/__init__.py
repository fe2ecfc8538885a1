"""The `zslbench` command line: a thin face over the library (docs/architecture.md maps it)."""

from zslbench.cli import (  # noqa: F401  (they register commands)
    data_cmds,
    eval_cmds,
    model_cmds,
    overlap_cmds,
    prepare_cmd,
    pretrain_cmd,
    protocol_cmds,
    report_cmds,
    site_cmd,
    text_cmds,
    train_cmd,
    weights_cmds,
)
from zslbench.cli.app import app


def main() -> None:
    """The `zslbench` console script: run the app on sys.argv; exit 0 ok, 1 failed check, 2 bad input, 3 bug."""
    app(prog_name="zslbench")


__all__ = ["app", "main"]
