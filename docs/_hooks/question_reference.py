"""MkDocs hook: fills the pages that are generated from the repository's own files.

- `<!-- question-reference -->` becomes the reference of every question in copier.yml.
- `<!-- changelog -->` becomes CHANGELOG.md.
- `<!-- benchmark-results -->` becomes one table per benchmarks/results/*.json file.

The questionnaire, the changelog and the measured figures are the single sources: a
question added, renamed or given new choices, a release, or a new benchmark run shows up
in the documentation on the next build, so the two never drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- question-reference -->"
CHANGELOG_MARKER = "<!-- changelog -->"
BENCHMARKS_MARKER = "<!-- benchmark-results -->"
COPIER_YML = ROOT / "copier.yml"
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


def questions(text: str) -> dict[str, dict[str, Any]]:
    """Every question of copier.yml by name, settings (`_` keys) left out."""
    return {name: spec for name, spec in yaml.safe_load(text).items() if not name.startswith("_")}


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
    if default == "":
        return "empty"
    return f"`{str(default).lower() if isinstance(default, bool) else default}`"


def _help(spec: dict[str, Any]) -> str:
    text = str(spec.get("help", "")).strip()
    if not text:
        return "Computed for the templates and tasks."
    if "{{" in text:
        # Copier renders the help text with the answers so far; show the template as it is.
        return f"Help (filled in with earlier answers): `{text}`"
    return text if text.endswith((".", ")")) else text + "."


def _question(name: str, spec: dict[str, Any]) -> list[str]:
    lines = [f"### `{name}`", "", _help(spec), ""]
    computed = spec.get("when") is False
    lines.append(f"- Type: {spec.get('type', 'str')}")
    lines.append(f"- Default: {_default(spec)}")
    if choices := _choices(spec):
        lines.append("- Choices:")
        lines += [f"    - `{value}`: {label}" for value, label in choices]
    if computed:
        lines.append("- Never asked and never recorded in `.copier-answers.yml`: computed from other answers.")
    elif "when" in spec:
        lines.append(f"- Asked only when: `{str(spec['when']).strip()}`")
    else:
        lines.append("- Always asked.")
    if _validated(spec):
        lines.append("- Validated: a refused answer stops Copier with one line saying what to change.")
    lines.append("")
    return lines


def render_reference(text: str) -> str:
    specs = questions(text)
    lines: list[str] = []
    for title, names in sections(text):
        lines += [f"## {title}", ""]
        for name in names:
            lines += _question(name, specs[name])
    return "\n".join(lines)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [pair for key, value in data.items() for pair in _flatten(value, f"{prefix}{key}.")]
    if isinstance(data, list):
        return [pair for index, value in enumerate(data) for pair in _flatten(value, f"{prefix}{index}.")]
    return [(prefix.rstrip("."), data)]


def render_benchmarks(folder: Path) -> str:
    """Each results file as a table: what was measured, and on which machine."""
    lines: list[str] = []
    for path in sorted(folder.glob("*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        machine = results.pop("machine", "not recorded")
        lines += [f"### `{path.relative_to(ROOT).as_posix()}`", "", f"Machine: {machine}.", ""]
        lines += ["| measure | value |", "|---|---|"]
        lines += [f"| `{key}` | {value} |" for key, value in _flatten(results)]
        lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, render_reference(COPIER_YML.read_text(encoding="utf-8")))
    if CHANGELOG_MARKER in markdown:
        changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
        # The page has its own title; the changelog's headings move one level down.
        body = changelog.split("\n", 1)[1] if changelog.startswith("# ") else changelog
        markdown = markdown.replace(CHANGELOG_MARKER, body)
    if BENCHMARKS_MARKER in markdown:
        markdown = markdown.replace(BENCHMARKS_MARKER, render_benchmarks(ROOT / "benchmarks" / "results"))
    return markdown
