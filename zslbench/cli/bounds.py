"""Numeric and device options, checked at parse time against the one range `zslbench.core.bounds` gives each.

`bounded(SEED, "--seed", help=...)` is a `typer.Option` whose value must lie in the bound: NaN, inf and
out-of-range values become the usual one line, `error: --seed -1 is outside [0, 4294967295] (hint: ...)`,
exit 2, before any work starts; -0.0 arrives as 0.0. Commands use these instead of typer's `min=`/`max=`,
which let NaN through.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zslbench.core.bounds import DEVICES, Bound, check_device_name


def bounded(bound: Bound, *decls: str, help: str, kind: str = "float", **kwargs: Any) -> Any:
    """A typer.Option (`decls`, `help` and any other typer.Option argument) whose value must lie in `bound`;
    `kind` ('int' or 'float') is what --help shows beside the interval."""

    def check(param: typer.CallbackParam, value: Any) -> Any:
        if value is None:  # not given: the default (often "the protocol's") applies
            return None
        return bound.check(value, option_name(param))

    return typer.Option(*decls, help=help, callback=check, metavar=f"<{kind}> {bound.interval}", **kwargs)


def option_name(param: Any) -> str:
    """The long name of an option ('--threshold' rather than '-t'), as errors name it."""
    names = list(getattr(param, "opts", None) or [])
    return max(names, key=len) if names else f"'{param.name}'"


def _check_device(param: typer.CallbackParam, value: str) -> str:
    return check_device_name(value)


# The same on train, eval and extract: the spelling is checked here, whether this machine has it by the library.
DeviceOpt = Annotated[str, typer.Option("--device", help=DEVICES, callback=_check_device)]
