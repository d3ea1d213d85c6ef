"""Show a refused answer as one line instead of a traceback.

Copier reports a validator's refusal of a `--data` / `--defaults` answer by letting a
ValueError escape, which Python prints as a full traceback. This extension is loaded
before any question is asked, so it wraps the interpreter's exception hook once: a
refused answer prints one line and the process still exits with status 1. Every other
error keeps its traceback.
"""

from __future__ import annotations

import re
import sys
from types import TracebackType

from jinja2 import Environment
from jinja2.ext import Extension

_REFUSAL = re.compile(r"^(?:Validation error|Invalid choice) for (?:question )?'(?P<question>\w+)': (?P<why>.+)$", re.S)
_MISSING = re.compile(r'^Question "(?P<question>\w+)" is required$')


def describe_refusal(error: BaseException) -> str | None:
    """`question: why` for Copier's refusal of an answer, None for any other error."""
    if not isinstance(error, ValueError):
        return None
    if match := _REFUSAL.match(str(error)):
        return f"{match['question']}: {match['why'].strip()}"
    if match := _MISSING.match(str(error)):
        return f"{match['question']}: an answer is required, e.g. -d {match['question']}=..."
    return None


def _one_line_hook(previous: object) -> object:
    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        refusal = describe_refusal(error)
        if refusal is None:
            previous(kind, error, trace)  # type: ignore[operator]
        else:
            print(f"copier-ml refused an answer: {refusal}", file=sys.stderr)

    hook.one_line_refusals = True  # type: ignore[attr-defined]
    return hook


class OneLineRefusals(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if not getattr(sys.excepthook, "one_line_refusals", False):
            sys.excepthook = _one_line_hook(sys.excepthook)
