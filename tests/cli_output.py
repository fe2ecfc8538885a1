"""What every CLI error must look like: one line on stderr, `error: ... (hint: ...)`, no traceback."""


def single_error_line(result) -> str:
    """The one error line of a CliRunner result; fails the test unless there is exactly one."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]
