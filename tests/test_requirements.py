"""Do the model requirements reach the project intact, and does the project hold itself to them?"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import MATRIX, Projects, answers_of, assert_refused_in_one_line, matrix, run
from .test_project import cli


def _yaml(project: Path, relative: str) -> Any:
    return yaml.safe_load((project / relative).read_text())


@pytest.mark.parametrize("name", matrix("requirements-binary"))
def test_custom_answers_appear_with_the_same_numbers_everywhere(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    answers = MATRIX[name]
    requirements = _yaml(project, "configs/requirements.yaml")
    assert requirements["business"] == {
        "problem": answers["business_problem"],
        "kpi": answers["business_kpi"],
        "owner": "ML Team <ml-team@example.com>",
    }
    assert requirements["performance"]["primary"] == {"metric": "pr_auc", "threshold": 0.91}
    assert requirements["performance"]["secondary"] == {"metric": "recall", "threshold": 0.83}
    assert requirements["latency"] == {"p50_ms": 25, "p99_ms": 120, "throughput_rps": 350}
    assert requirements["fairness"]["protected_attributes"] == ["sex", "age_band"]
    assert requirements["fairness"]["metric"] == "equalized_odds_difference"
    assert requirements["fairness"]["max_gap"] == 0.07

    slas = _yaml(project, "configs/monitoring/slas.yaml")
    assert slas["outcome"] == {"metric": "pr_auc", "higher_is_better": True, "warning": 0.93, "critical": 0.9}
    assert slas["latency"] == {"p50_ms": 25, "p99_ms": 120, "p99_warning_ms": 90}
    assert slas["throughput"] == {"rps": 350}
    assert slas["drift"]["psi_threshold"] == 0.15
    assert slas["availability"] == {"target_percent": 99.5, "downtime_minutes_per_30_days": 216}

    alerts = {alert["name"]: alert for alert in _yaml(project, "configs/monitoring/alerts.yaml")["alerts"]}
    conditions = {name: (alert["metric"], alert["condition"]) for name, alert in alerts.items()}
    assert conditions == {
        "outcome-warning": ("pr_auc", "< 0.93"),
        "outcome-critical": ("pr_auc", "< 0.9"),
        "feature-drift": ("feature_psi", "> 0.15"),
        "prediction-drift": ("prediction_psi", "> 0.15"),
        "latency-warning": ("latency_p99_ms", "> 90"),
        "latency-critical": ("latency_p99_ms", "> 120"),
        "availability": ("availability_percent", "< 99.5"),
    }

    document = (project / "docs/model-requirements.md").read_text()
    for text in [
        answers["business_problem"],
        answers["business_kpi"],
        "| primary | PR-AUC (`pr_auc`) | >= 0.91 |",
        "| secondary | recall (`recall`) | >= 0.83 |",
        "p50 latency: <= 25 ms",
        "p99 latency: <= 120 ms",
        "Throughput: >= 350 predictions per second",
        "Protected groups: `sex`, `age_band`",
        "equalized odds difference (`equalized_odds_difference`)",
        "Maximum gap: 0.07",
        "warning below 0.93, critical below 0.9",
        "PSI > 0.15 on any feature",
        "warning above 90 ms, critical above 120 ms",
        "99.5% (216 minutes of downtime per 30 days)",
        "- [ ] equalized odds difference across `sex` <= 0.07",
        "- [ ] equalized odds difference across `age_band` <= 0.07",
    ]:
        assert text in document, text
    assert re.search(r"^Written 20\d\d-\d\d-\d\d,", document, re.M), "dated with jinja2-time"
    runbooks = (project / "docs/runbooks.md").read_text()
    assert set(re.findall(r"^## (\S+)$", runbooks, re.M)) == set(alerts)
    assert "Fires when `feature_psi > 0.15`" in runbooks
    for alert in alerts.values():
        assert alert["runbook"] == f"docs/runbooks.md#{alert['name']}"


def test_regression_fairness_is_the_slice_gap(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli(
        "project_name=Price Model",
        "task_type=regression",
        "primary_metric=mae",
        "protected_attributes=[region]",
        "fairness_max_gap=0.25",
    )
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    requirements = _yaml(project, "configs/requirements.yaml")
    assert requirements["performance"]["primary"] == {"metric": "mae", "threshold": 55}
    assert requirements["fairness"] == {
        "protected_attributes": ["region"],
        "metric": "slice_metric_gap",
        "max_gap": 0.25,
        "min_group_rows": 20,
    }
    slas = _yaml(project, "configs/monitoring/slas.yaml")
    assert slas["outcome"] == {"metric": "mae", "higher_is_better": False, "warning": 53.9, "critical": 55}
    assert "- [ ] slice metric gap across `region` <= 0.25" in (project / "docs/model-requirements.md").read_text()


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            ["primary_metric=rmse"],
            "primary_metric: 'rmse' is not a binary-classification metric: choose one of roc_auc",
        ),
        (["primary_threshold=1.5"], "primary_threshold: roc_auc is a score in (0, 1]"),
        (["task_type=regression", "primary_threshold=0"], "primary_threshold: rmse is an error in the target's unit"),
        (["secondary_metric=mae"], "secondary_metric: 'mae' is not a binary-classification metric"),
        (["latency_p50_ms=300", "latency_p99_ms=200"], "latency_p99_ms: p50 latency (300 ms) cannot exceed p99"),
        (["throughput_rps=0"], "throughput_rps: throughput is a positive number"),
        (["protected_attributes=sex"], "protected_attributes: give a YAML list of column names"),
        (
            ["protected_attributes=[sex]", "fairness_max_gap=1.5"],
            "fairness_max_gap: the fairness gap is a share in (0, 1]",
        ),
        (["psi_threshold=0"], "psi_threshold: the PSI threshold is in (0, 1]"),
        (
            ["outcome_critical=0.95", "outcome_warning=0.9"],
            "outcome_warning: the warning level (0.9) must be at or above",
        ),
        (
            ["task_type=regression", "outcome_critical=60", "outcome_warning=70"],
            "outcome_warning: the warning level (70) must be at or below the critical level (60) for rmse",
        ),
        (["availability_percent=100"], "availability_percent: availability is a percentage below 100"),
        (["business_kpi= "], "business_kpi: give the business KPI as one line of text"),
    ],
)
def test_bad_requirement_answers_are_refused_in_one_line(
    copier_cli: Any, tmp_path: Path, answers: list[str], message: str
) -> None:
    assert_refused_in_one_line(copier_cli("project_name=X", *answers), message, tmp_path / "project")


@pytest.mark.parametrize("name", matrix("default"))
def test_check_passes_by_default_and_fails_naming_an_unreachable_requirement(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    run(["make", "train", "ARGS=training=fast"], cwd=project)
    passed = run(["make", "check"], cwd=project)
    assert "all requirements met" in passed.stdout
    acceptance = json.loads((project / "reports/acceptance.json").read_text())
    assert acceptance["passed"] is True
    # The metrics the extension's catalogue describes are the ones the project computes.
    assert list(acceptance["metrics"]) == ["roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "ece"]
    assert "- [x] roc_auc >= 0.95 on the test split" in (project / "reports/acceptance.md").read_text()

    requirements_file = project / "configs/requirements.yaml"
    original = requirements_file.read_text()
    try:
        requirements_file.write_text(original.replace("threshold: 0.95", "threshold: 0.9999", 1))
        failed = run(["make", "check"], cwd=project, check=False)
    finally:
        requirements_file.write_text(original)
    assert failed.returncode != 0
    assert "FAIL  performance.primary: roc_auc >= 0.9999 on the test split" in failed.stdout
    assert "requirements check failed: performance.primary (roc_auc >= 0.9999" in failed.stderr
    assert json.loads((project / "reports/acceptance.json").read_text())["passed"] is False


def _transactions(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """A user's table with a protected column; `shift` moves two features' distributions."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "payment_id": [f"P{seed}-{i}" for i in range(rows)],
            "amount": rng.lognormal(3.0 + shift, 0.8, rows),
            "hour": rng.integers(0, 24, rows).astype(float),
            "merchant": rng.choice(
                ["grocery", "travel", "online", "fuel"], rows, p=[0.4 - shift / 4, 0.2, 0.3, 0.1 + shift / 4]
            ),
            "account_age_days": rng.gamma(2.0, 200.0, rows),
            "sex": rng.choice(["f", "m"], rows),
            "age_band": rng.choice(["18-34", "35-54", "55+"], rows),
        }
    )
    risk = (frame["merchant"] == "online") * 1.2 + np.log(frame["amount"]) * 0.5 - frame["account_age_days"] / 400
    frame["outcome"] = np.where(risk + rng.normal(0, 0.7, rows) > 1.3, "fraud", "legit")
    return frame


def _train_on(project: Path, folder: Path, source: Path) -> list[str]:
    overrides = [
        f"data.source={source}",
        "data.target=outcome",
        "data.positive_class=fraud",
        "data.id_columns=[payment_id,sex,age_band]",
        f"paths.processed_dir={folder / 'processed'}",
        f"paths.model_dir={folder / 'model'}",
        f"paths.reports_dir={folder / 'reports'}",
    ]
    run([cli(project), "train", "training=fast", *overrides], cwd=project)
    return overrides


@pytest.mark.parametrize("name", matrix("default"))
def test_drift_flags_a_shifted_file_and_not_a_held_out_sample(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    source = tmp_path / "transactions.parquet"
    _transactions(20_000, seed=1).to_parquet(source)
    overrides = _train_on(project, tmp_path, source)
    held_out, shifted = tmp_path / "held_out.csv", tmp_path / "shifted.parquet"
    _transactions(5_000, seed=2).drop(columns=["outcome"]).to_csv(held_out, index=False)
    _transactions(5_000, seed=3, shift=0.6).drop(columns=["outcome"]).to_parquet(shifted)

    calm = run([cli(project), "drift", "--input", str(held_out), *overrides], cwd=project)
    assert "no alert fired" in calm.stdout
    report = json.loads((tmp_path / "reports/drift.json").read_text())
    assert {f["name"] for f in report["features"]} == {"amount", "hour", "merchant", "account_age_days"}
    assert all(f["band"] == "stable" for f in report["features"] + report["predictions"])

    alarmed = run([cli(project), "drift", "--input", str(shifted), *overrides], cwd=project, check=False)
    assert alarmed.returncode == 1
    assert "ALERT feature-drift (warning): feature_psi" in alarmed.stderr
    assert "docs/runbooks.md#feature-drift" in alarmed.stderr
    report = json.loads((tmp_path / "reports/drift.json").read_text())
    bands = {f["name"]: f["band"] for f in report["features"]}
    assert bands["amount"] == "significant"
    assert bands["hour"] == "stable"
    assert {f["name"]: f["test"] for f in report["features"]}["merchant"] == "chi2"
    assert "feature-drift" in {alert["name"] for alert in report["alerts_fired"]}


@pytest.mark.parametrize("name", matrix("requirements-binary"))
def test_fairness_uses_the_users_protected_columns(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    source = tmp_path / "transactions.csv"
    _transactions(4_000, seed=4).to_csv(source, index=False)
    overrides = _train_on(project, tmp_path, source)
    checked = run([cli(project), "requirements", "check", *overrides], cwd=project, check=False)
    acceptance = json.loads((tmp_path / "reports/acceptance.json").read_text())
    assert checked.returncode == (0 if acceptance["passed"] else 1)
    fairness = [item for item in acceptance["items"] if item["key"] == "fairness.max_gap"]
    assert [item["requirement"] for item in fairness] == [
        "equalized_odds_difference across 'sex' <= 0.07",
        "equalized_odds_difference across 'age_band' <= 0.07",
    ]
    assert all(item["status"] in {"pass", "fail"} and item["value"] is not None for item in fairness)
    assert {(s["attribute"], s["group"]) for s in acceptance["slices"]} >= {
        ("sex", "f"),
        ("sex", "m"),
        ("age_band", "55+"),
    }

    without = tmp_path / "without_sex.csv"
    _transactions(4_000, seed=4).drop(columns=["sex"]).to_csv(without, index=False)
    (tmp_path / "processed").rename(tmp_path / "processed-old")
    overrides = [o.replace(str(source), str(without)).replace("sex,", "") for o in overrides]
    missing = run([cli(project), "requirements", "check", *overrides], cwd=project, check=False)
    assert missing.returncode == 1
    last_line = missing.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: protected attribute 'sex' (fairness.protected_attributes) is not a column")
    assert answers_of(project)["protected_attributes"] == ["sex", "age_band"]


@pytest.mark.parametrize("name", matrix("default"))
def test_fairness_measures_agree_with_fairlearn(projects: Projects, name: str) -> None:
    """The generated project computes them with NumPy; fairlearn is the reference implementation."""
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    path = projects.rendered(name) / "src" / answers_of(projects.rendered(name))["package_name"] / "evaluation"
    spec = importlib.util.spec_from_file_location("generated_fairness", path / "fairness.py")
    assert spec is not None
    assert spec.loader is not None
    fairness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fairness)
    rng = np.random.default_rng(9)
    for _ in range(20):
        y_true = rng.integers(0, 2, 500)
        predicted = np.where(rng.random(500) < rng.uniform(0.5, 0.95), y_true, 1 - y_true)
        groups = rng.choice(["a", "b", "c"], 500, p=rng.dirichlet([2, 2, 2]))
        assert fairness.demographic_parity_difference(predicted, groups, [0, 1]) == pytest.approx(
            demographic_parity_difference(y_true, predicted, sensitive_features=groups)
        )
        assert fairness.equalized_odds_difference(y_true, predicted, groups, [0, 1]) == pytest.approx(
            equalized_odds_difference(y_true, predicted, sensitive_features=groups)
        )
