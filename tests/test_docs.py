"""The documentation site builds offline with --strict, and its question reference is complete."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from .conftest import TEMPLATE_ROOT, run

MKDOCS = str(Path(sys.executable).parent / "mkdocs")


def test_site_builds_strict_and_lists_every_question(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = run(
        [MKDOCS, "build", "--strict", "--site-dir", str(site)], cwd=TEMPLATE_ROOT, env={"NO_MKDOCS_2_WARNING": "1"}
    )
    assert "WARNING" not in result.stderr, result.stderr

    reference = (site / "questions" / "index.html").read_text()
    # Every question, computed ones (`when: false`) included: the page says they are never asked.
    names = [name for name in yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text()) if not name.startswith("_")]
    headings = re.findall(r'<h3 id="([a-z0-9_-]+)">', reference)
    assert sorted(headings) == sorted(names)
    assert "<code>setup_environment</code>" in reference
    assert "<code>deep-learning</code>: Deep learning (PyTorch networks for tabular data)" in reference
    assert "Asked only when: <code>{{ serving_pattern == 'realtime' }}</code>" in reference

    changelog = (site / "changelog" / "index.html").read_text()
    assert "0.1.0 — the foundation" in changelog
    assert "1.0.0 — 2026-11-27" in changelog
    benchmarks = (site / "benchmarks" / "index.html").read_text()
    assert "benchmarks/results/drift.json" in benchmarks
    assert "vm (x86_64, 3.11.7, 2 CPUs)" in benchmarks
    for page in ("getting-started", "tour", "requirements", "updating", "faq", "serving", "maintaining"):
        assert (site / page / "index.html").is_file(), page
