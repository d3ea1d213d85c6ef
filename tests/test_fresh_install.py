"""A user's whole first day, with nothing reused: copy with the set-up, then test, lint, run the pipeline, commit.

Everything is installed from the package index into a fresh virtualenv by the post-copy
set-up (extensions/post_copy.py), exactly as on a new machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import GIT_IDENTITY, git, run
from .test_mlops import mlflow_runs

STEPS = (
    "Create .venv and install the project",
    "Write the bundled dataset to data/raw/breast_cancer.csv and track it with DVC",
    "Install the nbstripout git filter",
    "Install the pre-commit hook",
    "Make the first commit",
)


@pytest.mark.slow
def test_first_day_with_dvc_mlflow_optuna_and_notebooks(copier_cli: Any, tmp_path: Path) -> None:
    # A clean environment: nothing from the template's own virtualenv leaks in.
    env = {**GIT_IDENTITY, "VIRTUAL_ENV": "", "PYTHONPATH": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    answers = ("use_dvc=true", "experiment_tracking=mlflow", "hyperparameter_search=optuna", "setup_environment=true")
    result = copier_cli("project_name=Fresh Start", *answers, skip_tasks=False, env=env, timeout=1500)
    assert result.returncode == 0, result.stderr
    for step in STEPS:
        assert f"copier-ml: {step}" in result.stdout
    assert "copier-ml: set-up finished: .venv ready, hooks installed, first commit made" in result.stdout
    project = tmp_path / "project"

    # The first commit is the whole project, clean, with the data versioned by DVC.
    assert git(project, "log", "--format=%s") == "Generate the project with copier-ml"
    assert git(project, "status", "--porcelain") == ""
    tracked = git(project, "ls-files").split()
    assert "data/raw/breast_cancer.csv.dvc" in tracked
    assert "data/raw/breast_cancer.csv" not in tracked
    assert (project / ".git/hooks/pre-commit").is_file()
    assert "nbstripout" in git(project, "config", "--get", "filter.nbstripout.clean")
    hooks = run([".venv/bin/pre-commit", "run", "--all-files"], cwd=project, env=env, check=False)
    assert hooks.returncode == 0, hooks.stdout[-3000:]

    # A notebook committed with outputs lands in git without them (git filter and hook).
    notebook = project / "notebooks" / "01-data-exploration.ipynb"
    content = json.loads(notebook.read_text())
    content["cells"].append(
        {
            "cell_type": "code",
            "execution_count": 7,
            "id": "a-new-cell",
            "metadata": {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["forty-two\n"]}],
            "source": ["print('forty' + '-two')"],
        }
    )
    notebook.write_text(json.dumps(content, indent=1) + "\n")
    run(["git", "add", "--all"], cwd=project, env=env)
    run(["git", "commit", "--quiet", "-m", "explore"], cwd=project, env=env)
    committed = json.loads(git(project, "show", "HEAD:notebooks/01-data-exploration.ipynb"))
    added = next(cell for cell in committed["cells"] if cell["source"] == ["print('forty' + '-two')"])
    assert added["outputs"] == []
    assert added["execution_count"] is None

    # The user's first day: tests, lint, the pipeline twice (the second run does nothing).
    run(["make", "test"], cwd=project, env=env)
    run(["make", "lint"], cwd=project, env=env)
    first = run(["make", "repro"], cwd=project, env=env).stdout
    assert "Running stage 'register'" in first
    assert "Data and pipelines are up to date" in run(["make", "repro"], cwd=project, env=env).stdout
    jobs = {tracked.job for tracked in mlflow_runs(f"sqlite:///{project / 'mlflow.db'}", "fresh-start")}
    assert {"train", "evaluate", "register"} <= jobs
    run(["git", "add", "--all"], cwd=project, env=env)
    run(["git", "commit", "--quiet", "-m", "first pipeline run"], cwd=project, env=env)
    outputs = [f for f in git(project, "ls-files").split() if f.startswith(("models/", "data/processed/", "reports/"))]
    assert outputs == ["models/.gitkeep", "reports/.gitkeep", "reports/metrics.json"]
    assert "dvc.lock" in git(project, "ls-files").split()
