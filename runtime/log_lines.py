"""Log lines that stay lines: every afterword process (the worker, the intake, the `afterword` command)
configures logging through `configure_logging`, whose formatter escapes control characters in each
record's message, and redacts the secrets in it.

Log messages carry values that senders choose (an incident key, an alert title, a label): a newline
in one would start a line that looks like afterword's own (`... INFO afterword.intake: started ...`),
and an ANSI escape would repaint the operator's terminal. Escaping in the one formatter, rather than at
each call site, covers every logger and every value, including those of libraries. A traceback after
the message keeps its lines.
"""

from __future__ import annotations

import logging
from typing import Any

from afterword.settings import LOG_FORMAT

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls, DEL, C1 controls, and the two Unicode line breaks some log viewers honour
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _CONTROLS}


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return text if text.isprintable() else text.translate(_ESCAPES)


def _redacted(text: str) -> str:
    # imported on the first line logged: commands that log nothing never load the redaction engine
    from afterword.gates.redaction import redactor_for

    return redactor_for(None, "internal").redact(text).text


class OneLineFormatter(logging.Formatter):
    """`logging.Formatter` whose message part is always one line of printable text, with secrets redacted
    (the redaction engine's shipped defaults, internal readers): a log line carries alert titles, incident keys
    and error messages, and log files go where the evidence store's protection does not."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(_redacted(record.message))
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _redacted(super().formatException(ei))


def configure_logging(level: str | int) -> None:
    """Log to stderr in LOG_FORMAT through OneLineFormatter, at `level`. Called again (the `afterword`
    command, then the subcommand that knows its level), it only changes the level. A program that
    configured logging itself (a test runner, an application embedding afterword) is left as it is."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, OneLineFormatter) for handler in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
