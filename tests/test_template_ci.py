"""Does the template's own CI run only what exists, and does the README show its badges?"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import yaml

from .conftest import TEMPLATE_ROOT

WORKFLOW = TEMPLATE_ROOT / ".github" / "workflows" / "ci.yml"
MAKEFILE = (TEMPLATE_ROOT / "Makefile").read_text()


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _recipe(target: str) -> str:
    """The commands of one target of the template's Makefile."""
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, flags=re.MULTILINE)
    assert match, f"no target {target} in the Makefile"
    return match.group(1)


def test_the_workflow_lints_tests_with_coverage_and_smokes_the_benchmarks() -> None:
    jobs = _workflow()["jobs"]
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.MULTILINE))
    used = {target for job in jobs.values() for target in re.findall(r"\bmake ([a-z][a-z-]*)", _runs(job))}
    assert used == {"lint", "coverage", "bench-smoke"}
    assert used <= targets
    # `make coverage` is `make test` measured: the same pytest invocation, plus coverage options.
    test_command = _recipe("test").strip()
    assert _recipe("coverage").strip().startswith(test_command + " --cov")
    assert "--cov-report=json:build/coverage.json" in _recipe("coverage")
    uploaded = next(step for step in jobs["test"]["steps"] if step.get("uses", "").startswith("actions/upload"))
    assert uploaded["with"]["path"] == "build/coverage.json"


def test_every_benchmark_runs_in_smoke_mode() -> None:
    smoke = _recipe("bench-smoke")
    scripts = sorted(path.name for path in (TEMPLATE_ROOT / "benchmarks").glob("*.py"))
    assert sorted(re.findall(r"benchmarks/([a-z_]+\.py) --smoke", smoke)) == scripts
    for script in scripts:
        usage = subprocess.run(
            [sys.executable, str(TEMPLATE_ROOT / "benchmarks" / script), "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "--smoke" in usage, script


def test_the_coverage_badge_reads_what_the_default_branch_publishes() -> None:
    workflow = _workflow()
    badges = workflow["jobs"]["badges"]
    assert badges["needs"] == "test"
    assert "default_branch" in badges["if"]
    assert badges["permissions"] == {"contents": "write"}
    publish = _runs(badges)
    assert "git add coverage.json" in publish
    assert publish.rstrip().endswith(" badges")
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    assert readme.startswith("# copier-ml\n\n[![CI][ci-badge]][ci] [![coverage][coverage-badge]][ci]\n")
    references = dict(re.findall(r"^\[([a-z-]+)\]: (\S+)$", readme, flags=re.MULTILINE))
    repository = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)/actions/workflows/ci\.yml", references["ci"])
    assert repository
    assert references["ci-badge"] == references["ci"] + "/badge.svg"
    coverage = references["coverage-badge"]
    assert f"url=https://raw.githubusercontent.com/{repository.group(1)}/badges/coverage.json" in coverage
    assert "query=%24.totals.percent_covered_display" in coverage
