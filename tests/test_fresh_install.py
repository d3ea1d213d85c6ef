"""A user's whole first day, with nothing reused: copy, install from the index, test, train, commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run
from .test_tasks import GIT_IDENTITY


@pytest.mark.slow
def test_first_day_in_a_fresh_virtualenv(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli("project_name=Fresh Start", skip_tasks=False)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    # A clean environment: nothing from the template's own virtualenv leaks in.
    env = {**GIT_IDENTITY, "VIRTUAL_ENV": "", "PYTHONPATH": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    run(["make", "install"], cwd=project, env=env, timeout=1200)
    assert (project / ".git" / "hooks" / "pre-commit").is_file(), "make install sets up pre-commit"
    run(["make", "test"], cwd=project, env=env)
    run(["make", "lint"], cwd=project, env=env)
    run(["make", "train"], cwd=project, env=env)
    assert (project / "models" / "model" / "SHA256SUMS").is_file()
    run(["make", "evaluate"], cwd=project, env=env)

    # The first commit goes through every hook, each installed from the package index.
    run(["git", "add", "-A"], cwd=project, env=env)
    hooks = run([".venv/bin/python", "-m", "pre_commit", "run", "--all-files"], cwd=project, env=env, check=False)
    assert hooks.returncode == 0, hooks.stdout[-3000:]
    run(["git", "commit", "--quiet", "-m", "first commit"], cwd=project, env=env)
    tracked = run(["git", "ls-files"], cwd=project, env=env).stdout.split()
    outputs = [f for f in tracked if f.startswith(("models/", "data/processed/", "reports/"))]
    assert outputs == ["data/processed/.gitkeep", "models/.gitkeep", "reports/.gitkeep"]
