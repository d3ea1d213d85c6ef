"""Brings an older project's recorded answers up to this template version's questionnaire.

Copier runs this on `copier update` only (copier.yml `_migrations`, stage "before"), in the
project, with Copier's own Python, after it has re-rendered the old version from the old
answers and before it renders the new version. It rewrites the answers file so that
questions renamed since the project's version keep their answers under the new name, and
renamed choices keep meaning the same thing. What changed is listed in migrations.yml.

Copier passes the two versions in the environment (VERSION_PEP440_FROM and
VERSION_PEP440_TO); the script applies the entries whose version lies in (from, to].
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

PREFIX = "copier-ml:"
TABLE = Path(__file__).with_name("migrations.yml")


def pending(table: list[dict[str, Any]], since: Version, until: Version) -> list[dict[str, Any]]:
    """The entries a project at `since` needs to reach `until`, oldest first."""
    chosen = [entry for entry in table if since < Version(str(entry["version"])) <= until]
    return sorted(chosen, key=lambda entry: Version(str(entry["version"])))


def migrate(answers: dict[str, Any], entries: list[dict[str, Any]]) -> list[str]:
    """Renames keys and values in `answers` in place; one line per change made."""
    changes: list[str] = []
    for entry in entries:
        version = entry["version"]
        for old, new in (entry.get("rename") or {}).items():
            if old not in answers:
                continue
            value = answers.pop(old)
            if new in answers:
                changes.append(f"dropped '{old}' ({version}): '{new}' is already answered")
            else:
                answers[new] = value
                changes.append(f"renamed answer '{old}' to '{new}' ({version})")
        for question, mapping in (entry.get("values") or {}).items():
            value = answers.get(question)
            if isinstance(value, str | int | float | bool) and value in mapping:
                answers[question] = mapping[value]
                changes.append(f"'{question}': {value!r} is now {mapping[value]!r} ({version})")
    return changes


def main(answers_path: str) -> int:
    try:
        since = Version(os.environ["VERSION_PEP440_FROM"])
        until = Version(os.environ["VERSION_PEP440_TO"])
    except (KeyError, InvalidVersion) as error:
        print(f"{PREFIX} answers not migrated: no template versions to compare ({error})", file=sys.stderr)
        return 0
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))["migrations"] or []
    entries = pending(table, since, until)
    path = Path(answers_path)
    if not entries or not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    answers = yaml.safe_load(text) or {}
    changes = migrate(answers, entries)
    if changes:
        path.write_text(header + yaml.safe_dump(answers, sort_keys=False, allow_unicode=True), encoding="utf-8")
    for change in changes:
        print(f"{PREFIX} {change}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
