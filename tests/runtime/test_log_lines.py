"""A value a sender chose (an incident key with a newline, an ANSI escape) cannot forge a log line or
repaint a terminal: every process's logging escapes control characters in the message."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from afterword.runtime.log_lines import OneLineFormatter, escape_controls
from afterword.settings import LOG_FORMAT

FORGED = "k1\n2026-12-03 15:00:00,000 INFO afterword.intake: generic firing k2 -> started pm-x \x1b[2J\u2028end"


def test_control_characters_are_escaped_and_printable_text_is_left_alone() -> None:
    assert escape_controls("a\nb\r\tc\x00\x1b[31m\x7f\x85\u2028\u2029") == (
        "a\\nb\\r\\tc\\x00\\x1b[31m\\x7f\\x85\\u2028\\u2029"
    )
    assert escape_controls("plain text, ünïcödé, 日本, \\n stays") == "plain text, ünïcödé, 日本, \\n stays"


def test_a_record_is_one_line_and_a_traceback_keeps_its_lines() -> None:
    formatter = OneLineFormatter(LOG_FORMAT)
    record = logging.LogRecord("afterword.intake", logging.INFO, __file__, 1, "key %s", (FORGED,), None)
    line = formatter.format(record)
    assert "\n" not in line and "\x1b" not in line and "k1\\n2026-12-03" in line
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("afterword", logging.ERROR, __file__, 1, "failed\n%s", ("x",), sys.exc_info())
    text = formatter.format(record)
    assert text.splitlines()[0].endswith("failed\\nx") and "Traceback (most recent call last):" in text


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "AFTERWORD_DATA_DIR": str(tmp_path), **env},
    )


LOG_AFTER = f"import logging; logging.getLogger('afterword.intake').warning('key %s', {FORGED!r})"


@pytest.mark.parametrize(
    ("entry", "env"),
    [
        # the `afterword` command configures logging before any subcommand runs
        ("from afterword.cli import main; main.main(args=['policy', '--help'], standalone_mode=False)", {}),
        # the worker configures it first thing (here it then stops: an unusable setting)
        ("from afterword.worker import cli; cli.main(args=[], standalone_mode=False)", {"AFTERWORD_INTAKE_PORT": "x"}),
    ],
    ids=["afterword command", "worker"],
)
def test_every_process_writes_one_line_per_record(entry: str, env: dict[str, str], tmp_path: Path) -> None:
    result = run_python(f"{entry}\n{LOG_AFTER}", tmp_path, **env)
    lines = [line for line in result.stderr.splitlines() if "key k1" in line or "forged" in line or "k2" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("WARNING afterword.intake: key " + escape_controls(FORGED))
