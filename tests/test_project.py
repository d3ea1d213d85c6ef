"""Does the rendered project work the way its README says, for each answer set?"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import Projects, answers_of, matrix, run


def cli(project: Path) -> str:
    return str(project / ".venv" / "bin" / answers_of(project)["project_slug"])


@pytest.mark.parametrize("name", matrix())
def test_own_test_suite_passes(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    result = run(["make", "test"], cwd=project)
    assert " passed" in result.stdout
    assert " failed" not in result.stdout


@pytest.mark.parametrize("name", matrix())
def test_lint_passes(projects: Projects, name: str) -> None:
    """ruff and mypy exactly as `make lint` runs them."""
    run(["make", "lint"], cwd=projects.installed(name))


@pytest.mark.parametrize("name", matrix("default", "multiclass-training", "regression-both"))
def test_make_targets_train_evaluate_predict(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    answers = answers_of(project)
    run(["make", "train", "ARGS=training=fast"], cwd=project)
    assert (project / "models/model/SHA256SUMS").is_file()
    evaluation = run(["make", "evaluate"], cwd=project)
    assert "baseline" in evaluation.stdout
    summary = json.loads((project / "reports/metrics.json").read_text())
    primary = summary["primary_metric"]
    model, baseline = summary["metrics"][primary], summary["baseline"][primary]
    assert (model < baseline) if primary in {"rmse", "mae"} else (model > baseline)
    predictions = run(["make", "predict"], cwd=project).stdout.splitlines()
    records = [json.loads(line) for line in predictions if line.startswith("{")]
    assert len(records) == 5
    if answers["serving_pattern"] == "batch":
        run(["make", "score", "OUTPUT=reports/scored.parquet"], cwd=project)
        scored = pd.read_parquet(project / "reports/scored.parquet")
        assert len(scored) == len(pd.read_parquet(project / "data/processed/test.parquet"))


@pytest.mark.parametrize("name", matrix())
def test_help_and_one_line_errors(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    answers = answers_of(project)
    # The console script as installed; each command's own --help runs in the project's tests.
    help_text = run([cli(project), "--help"], cwd=project).stdout
    commands = ["evaluate", "predict"]
    commands += [] if answers["project_phase"] == "inference" else ["train"]
    by_pattern = {"batch": ["score"], "realtime": ["serve", "loadtest"], "edge": ["export"]}
    commands += by_pattern.get(answers["serving_pattern"], [])
    for command in commands:
        assert command in help_text
    bad = run([cli(project), "evaluate", "data.seed_typo=1"], cwd=project, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: config error at data.seed_typo: unknown key"
    missing = run([cli(project), "evaluate", "paths.model_dir=nowhere"], cwd=project, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: no model bundle in nowhere")


def _customers(rows: int, task: str) -> pd.DataFrame:
    """A user's own table: ids, numbers, text categories and holes in both."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "tenure_months": rng.integers(1, 72, rows).astype(float),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "monthly_spend": rng.gamma(3.0, 20.0, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "tenure_months"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "plan"] = None
    risk = (frame["plan"] == "basic") * 1.5 - frame["tenure_months"].fillna(30) / 30 + rng.normal(0, 0.5, rows)
    if task == "regression":
        frame["lifetime_value"] = frame["monthly_spend"] * 12 - risk * 50
    elif task == "binary-classification":
        frame["lifetime_value"] = np.where(risk > 0, "churned", "stayed")
    else:
        frame["lifetime_value"] = pd.qcut(risk, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


@pytest.mark.thorough
@pytest.mark.parametrize("name", matrix("default", "multiclass-training", "regression-both"))
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_trains_on_the_users_own_file(projects: Projects, name: str, suffix: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    answers = answers_of(project)
    table = _customers(600, answers["task_type"])
    source = tmp_path / f"customers{suffix}"
    if suffix == ".csv":
        table.to_csv(source, index=False)
    else:
        table.to_parquet(source)
    overrides = [
        f"data.source={source}",
        "data.target=lifetime_value",
        "data.id_columns=[customer_id]",
        f"paths.processed_dir={tmp_path / 'processed'}",
        f"paths.model_dir={tmp_path / 'model'}",
        f"paths.reports_dir={tmp_path / 'reports'}",
    ]
    if answers["task_type"] == "binary-classification":
        overrides.append("data.positive_class=churned")
    run([cli(project), "train", *overrides], cwd=project)
    metadata = json.loads((tmp_path / "model/metadata.json").read_text())
    kinds = {f["name"]: f["kind"] for f in metadata["schema"]["features"]}
    assert kinds == {
        "tenure_months": "numeric",
        "plan": "categorical",
        "region": "categorical",
        "monthly_spend": "numeric",
    }
    run([cli(project), "evaluate", *overrides], cwd=project)
    assert json.loads((tmp_path / "reports/metrics.json").read_text())["n_rows"] == 120
    unseen = table.head(5).assign(plan=["enterprise", None, "basic", "pro", "plus"]).drop(columns=["lifetime_value"])
    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    predicted = run([cli(project), "predict", "--input", str(tmp_path / "unseen.csv"), *overrides], cwd=project)
    assert len(predicted.stdout.splitlines()) == 5


@pytest.mark.thorough
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_inference_project_serves_a_bundle_from_a_training_project(projects: Projects, task: str) -> None:
    """The bundle format is the contract between a training repository and a serving one."""
    trainer = projects.installed("regression-both" if task == "regression" else "default")
    server = projects.installed(f"{task}-inference")
    run([cli(trainer), "train", "training=fast"], cwd=trainer)
    shutil.rmtree(server / "models/model", ignore_errors=True)
    shutil.copytree(trainer / "models/model", server / "models/model")
    evaluation = run([cli(server), "evaluate"], cwd=server)
    assert "baseline" in evaluation.stdout
    run([cli(server), "score", "data/processed/test.parquet", "reports/scored.csv"], cwd=server)
    assert len(pd.read_csv(server / "reports/scored.csv")) == len(
        pd.read_parquet(server / "data/processed/test.parquet")
    )
