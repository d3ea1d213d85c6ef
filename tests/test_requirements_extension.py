"""The requirements extension on its own: catalogue, validators, derived levels and the one model."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import jinja2
import pytest

from .test_extensions import EXTENSIONS


def _load_requirements() -> Any:
    """The extension as Copier loads it; dataclasses need the module registered in sys.modules."""
    spec = importlib.util.spec_from_file_location("copier_ml_requirements", EXTENSIONS / "requirements.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


requirements = _load_requirements()

DEFAULT_ANSWERS: dict[str, Any] = {
    "project_name": "Churn Risk",
    "author_name": "ML Team",
    "author_email": "ml-team@example.com",
    "task_type": "binary-classification",
    "business_problem": "Keep customers",
    "business_kpi": "retention rate",
    "primary_metric": "roc_auc",
    "primary_threshold": 0.95,
    "secondary_metric": "pr_auc",
    "secondary_threshold": 0.9,
    "latency_p50_ms": 50.0,
    "latency_p99_ms": 200.0,
    "throughput_rps": 100.0,
    "protected_attributes": [],
    "fairness_metric": "demographic_parity_difference",
    "fairness_max_gap": 0.1,
    "psi_threshold": 0.2,
    "outcome_critical": 0.95,
    "outcome_warning": 0.969,
    "availability_percent": 99.9,
}


def test_catalogue_names_the_metrics_the_project_computes() -> None:
    names = {task: [m.name for m in metrics] for task, metrics in requirements.CATALOGUE.items()}
    assert names == {
        "binary-classification": ["roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "ece"],
        "multiclass-classification": ["macro_f1", "accuracy", "weighted_f1", "log_loss"],
        "regression": ["rmse", "mae", "r2"],
    }
    lower = {m.name for metrics in requirements.CATALOGUE.values() for m in metrics if not m.higher_is_better}
    assert lower == {"brier", "ece", "log_loss", "rmse", "mae"}
    for metrics in requirements.CATALOGUE.values():
        for metric in metrics:
            assert metric.threshold_problem(metric.default) == "", metric.name


@pytest.mark.parametrize(
    ("metric_name", "task", "optional", "problem"),
    [
        ("roc_auc", "binary-classification", False, ""),
        ("auc", "binary-classification", False, "'auc' is not a binary-classification metric: choose one of roc_auc"),
        ("rmse", "binary-classification", False, "'rmse' is not a binary-classification metric"),
        ("none", "regression", False, "'none' is not a regression metric"),
        ("none", "regression", True, ""),
        ("log_loss", "multiclass-classification", True, ""),
    ],
)
def test_metric_must_belong_to_the_task(metric_name: str, task: str, optional: bool, problem: str) -> None:
    found = requirements.metric_problem(metric_name, task, optional)
    assert found.startswith(problem) if problem else found == ""


@pytest.mark.parametrize(
    ("value", "metric", "task", "problem"),
    [
        (0.95, "roc_auc", "binary-classification", ""),
        (1.0, "roc_auc", "binary-classification", ""),
        (0.0, "roc_auc", "binary-classification", "roc_auc is a score in (0, 1]"),
        (1.2, "f1", "binary-classification", "f1 is a score in (0, 1]"),
        (0.05, "brier", "binary-classification", ""),
        (65.0, "rmse", "regression", ""),
        (0.0, "rmse", "regression", "rmse is an error in the target's unit: give a positive threshold"),
        (-3.0, "mae", "regression", "mae is an error in the target's unit"),
        (-0.5, "r2", "regression", ""),
        (1.5, "r2", "regression", "r2 is at most 1"),
        (2.0, "log_loss", "multiclass-classification", ""),
        ("high", "roc_auc", "binary-classification", "give a number for roc_auc"),
        (float("nan"), "roc_auc", "binary-classification", "give a number for roc_auc"),
    ],
)
def test_threshold_ranges(value: Any, metric: str, task: str, problem: str) -> None:
    found = requirements.threshold_problem(value, metric, task)
    assert found.startswith(problem) if problem else found == ""


@pytest.mark.parametrize(
    ("critical", "metric", "task", "warning"),
    [
        (0.95, "roc_auc", "binary-classification", 0.969),  # 2% above critical
        (0.99, "roc_auc", "binary-classification", 0.995),  # capped halfway to the best value, 1
        (1.0, "roc_auc", "binary-classification", 1.0),  # no room above a perfect score
        (65.0, "rmse", "regression", 63.7),  # lower is better: 2% below
        (0.1, "brier", "binary-classification", 0.098),
        (0.3, "r2", "regression", 0.306),
    ],
)
def test_warning_level_is_derived_on_the_good_side(critical: float, metric: str, task: str, warning: float) -> None:
    assert requirements.default_warning(critical, metric, task) == pytest.approx(warning)
    assert requirements.sla_problem(warning, critical, metric, task) == ""


def test_warning_on_the_wrong_side_is_refused() -> None:
    problem = requirements.sla_problem(0.9, 0.95, "roc_auc", "binary-classification")
    assert problem == (
        "the warning level (0.9) must be at or above the critical level (0.95) for roc_auc, where higher is better"
    )
    problem = requirements.sla_problem(70, 65, "rmse", "regression")
    assert "must be at or below the critical level (65) for rmse, where lower is better" in problem
    assert requirements.sla_problem(1.5, 0.9, "roc_auc", "binary-classification").startswith("roc_auc is a score")


@pytest.mark.parametrize(
    ("p50", "p99", "problem"),
    [
        (50, 200, ""),
        (200, 200, ""),
        (300, 200, "p50 latency (300 ms) cannot exceed p99 latency (200 ms)"),
        (0, 200, "latencies are positive numbers"),
        (50, -1, "latencies are positive numbers"),
    ],
)
def test_latencies(p50: float, p99: float, problem: str) -> None:
    found = requirements.latency_problem(p50, p99)
    assert found.startswith(problem) if problem else found == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([], ""),
        (["sex", "age_band"], ""),
        ("sex", "give a YAML list of column names"),
        (["sex", ""], "give a YAML list of column names"),
        (["sex", "sex"], "each protected attribute once"),
        ([" sex"], "column names without surrounding spaces"),
    ],
)
def test_protected_attributes(value: Any, problem: str) -> None:
    found = requirements.attributes_problem(value)
    assert found.startswith(problem) if problem else found == ""


@pytest.mark.parametrize(
    ("value", "text"), [(0.95, "0.95"), (200.0, "200"), (99.9, "99.9"), (43.2, "43.2"), (1e-5, "1e-05")]
)
def test_one_spelling_of_each_number(value: float, text: str) -> None:
    assert requirements.fmt(value) == text


def test_model_from_the_default_answers() -> None:
    model = requirements.build_requirements(DEFAULT_ANSWERS)
    assert model.primary.text == "ROC-AUC >= 0.95"
    assert model.secondary is not None
    assert model.secondary.metric.name == "pr_auc"
    assert model.latency_p99_warning_ms == 150
    assert model.downtime_minutes_per_30_days == pytest.approx(43.2)
    alerts = {alert.name: alert for alert in model.alerts}
    assert list(alerts) == [
        "outcome-warning",
        "outcome-critical",
        "feature-drift",
        "prediction-drift",
        "latency-warning",
        "latency-critical",
        "availability",
    ]
    assert alerts["outcome-warning"].condition == "< 0.969"
    assert alerts["outcome-critical"].condition == "< 0.95"
    assert alerts["feature-drift"].condition == "> 0.2"
    assert alerts["latency-warning"].condition == "> 150"
    assert alerts["availability"].runbook == "docs/runbooks.md#availability"
    assert not any("across" in item for item in model.acceptance())


def test_lower_is_better_flips_the_alert_conditions() -> None:
    answers = {
        **DEFAULT_ANSWERS,
        "task_type": "regression",
        "primary_metric": "rmse",
        "primary_threshold": 65.0,
        "secondary_metric": "none",
        "outcome_critical": 65.0,
        "outcome_warning": 63.7,
        "protected_attributes": ["sex"],
        "fairness_metric": "demographic_parity_difference",  # hidden for regression; not used
    }
    model = requirements.build_requirements(answers)
    assert model.primary.text == "RMSE <= 65"
    assert model.secondary is None
    assert model.fairness.metric == "slice_metric_gap"
    alerts = {alert.name: alert for alert in model.alerts}
    assert alerts["outcome-warning"].condition == "> 63.7"
    assert alerts["outcome-critical"].condition == "> 65"
    assert "slice metric gap across `sex` <= 0.1" in model.acceptance()


def test_an_unknown_metric_cannot_build_a_model() -> None:
    with pytest.raises(ValueError, match="'auc' is not a binary-classification metric"):
        requirements.build_requirements({**DEFAULT_ANSWERS, "primary_metric": "auc"})


def test_templates_render_from_the_model_only() -> None:
    environment = jinja2.Environment(extensions=[requirements.RequirementsExtension])
    template = environment.from_string(
        "{% set r = requirements_model() %}{{ r.primary.text }}|{{ r.latency_p99_ms | fmt }}|"
        "{{ r.fairness.protected_attributes | quoted }}|{{ 'roc_auc' | threshold_problem('roc_auc', task_type) }}"
    )
    rendered = template.render({**DEFAULT_ANSWERS, "protected_attributes": ["sex", "région"]})
    assert rendered == 'ROC-AUC >= 0.95|200|["sex", "région"]|give a number for roc_auc'
