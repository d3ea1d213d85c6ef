"""MkDocs hook: replaces `<!-- question-reference -->` with a reference built from copier.yml.

The questionnaire is the single source: a question added, renamed or given new choices
shows up in the documentation on the next build, so the two never drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MARKER = "<!-- question-reference -->"
COPIER_YML = Path(__file__).resolve().parents[2] / "copier.yml"
_SECTION = re.compile(r"^# --- (?P<title>.+?) -+$")
_QUESTION = re.compile(r"^(?P<name>[a-z][a-z0-9_]*):\s*$")


def sections(text: str) -> list[tuple[str, list[str]]]:
    """(section title, question names) in the order copier.yml asks them."""
    result: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if match := _SECTION.match(line):
            result.append((match["title"], []))
        elif (match := _QUESTION.match(line)) and result:
            result[-1][1].append(match["name"])
    return [(title, names) for title, names in result if names]


def _choices(spec: dict[str, Any]) -> list[tuple[str, str]]:
    choices = spec.get("choices") or {}
    if isinstance(choices, list):
        return [(str(value), str(value)) for value in choices]
    return [(str(value["value"] if isinstance(value, dict) else value), label) for label, value in choices.items()]


def _validated(spec: dict[str, Any]) -> bool:
    choices = spec.get("choices")
    per_choice = isinstance(choices, dict) and any(isinstance(c, dict) and "validator" in c for c in choices.values())
    return bool(spec.get("validator")) or per_choice


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "none: an answer is required"
    default = spec["default"]
    if isinstance(default, str) and "{{" in default:
        return f"computed: `{default.strip()}`"
    return f"`{str(default).lower() if isinstance(default, bool) else default}`"


def render_reference(text: str) -> str:
    questions = yaml.safe_load(text)
    lines: list[str] = []
    for title, names in sections(text):
        lines += [f"## {title}", ""]
        for name in names:
            spec = questions[name]
            lines += [f"### `{name}`", "", spec.get("help", "").strip() + ".", ""]
            lines.append(f"- Type: {spec.get('type', 'str')}")
            lines.append(f"- Default: {_default(spec)}")
            if choices := _choices(spec):
                lines.append("- Choices:")
                lines += [f"    - `{value}`: {label}" for value, label in choices]
            if "when" in spec:
                lines.append(f"- Asked only when: `{str(spec['when']).strip()}`")
            if _validated(spec):
                lines.append("- Validated: a refused answer stops Copier with one line saying what to change.")
            lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference(COPIER_YML.read_text(encoding="utf-8")))
