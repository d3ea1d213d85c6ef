"""The model requirements as one structured object, built from the questionnaire's answers.

Every file that states a requirement (docs/model-requirements.md, configs/requirements.yaml,
configs/monitoring/slas.yaml and alerts.yaml, docs/runbooks.md) renders from the object that
`requirements_model()` returns, never from the raw answers, so the document and the configs
cannot disagree. copier.yml uses the same catalogue for its defaults and validators.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

TASKS = ("binary-classification", "multiclass-classification", "regression")
# The seed's PSI bands: below MINOR stable, MINOR up to SIGNIFICANT minor, from SIGNIFICANT on significant.
PSI_MINOR = 0.1
PSI_SIGNIFICANT = 0.2
# Seed: "PSI > 0.2 triggers model retraining within 48 hours".
RETRAIN_WITHIN_HOURS = 48
# Seed: "P99 inference latency must remain under 200ms. Alert at 150ms."
LATENCY_WARNING_SHARE = 0.75
# A warning level sits this far (relative) on the good side of the critical level...
WARNING_MARGIN = 0.02
# ...but never more than this share of the way to the metric's best value.
WARNING_MAX_SHARE_OF_HEADROOM = 0.5
MINUTES_PER_30_DAYS = 30 * 24 * 60


@dataclass(frozen=True)
class Metric:
    """One metric of evaluation/metrics.py, with what a requirement needs to know about it."""

    name: str
    label: str
    higher_is_better: bool
    low: float | None  # None: unbounded
    high: float | None
    measured: str
    default: float  # a threshold the bundled dataset's default model reaches

    @property
    def bounded(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def range_text(self) -> str:
        low = "-inf" if self.low is None else fmt(self.low)
        high = "inf" if self.high is None else fmt(self.high)
        return f"[{low}, {high}]"

    @property
    def comparison(self) -> str:
        return ">=" if self.higher_is_better else "<="

    @property
    def comparison_text(self) -> str:
        return "at least" if self.higher_is_better else "at most"

    def threshold_problem(self, value: Any) -> str:
        """Why `value` cannot be a threshold for this metric, or "" when it can."""
        if not _is_number(value):
            return f"give a number for {self.name}"
        value = float(value)
        if self.bounded:
            if not 0 < value <= 1:
                return f"{self.name} is a score in (0, 1]: give a threshold such as {fmt(self.default)}"
        elif self.low == 0:
            if value <= 0:
                return (
                    f"{self.name} is an error in the target's unit: give a positive threshold, e.g. {fmt(self.default)}"
                )
        elif self.high is not None and value > self.high:
            return f"{self.name} is at most {fmt(self.high)}: give a threshold such as {fmt(self.default)}"
        return ""

    def warning_for(self, critical: float) -> float:
        """The warning level that goes with a critical level: a little on the good side of it."""
        margin = abs(critical) * WARNING_MARGIN
        best = self.high if self.higher_is_better else self.low
        if best is not None:
            margin = min(margin, abs(best - critical) * WARNING_MAX_SHARE_OF_HEADROOM)
        return _round(critical + margin if self.higher_is_better else critical - margin)

    def is_better_or_equal(self, value: float, other: float) -> bool:
        return value >= other if self.higher_is_better else value <= other


def _metric(
    name: str, label: str, higher: bool, low: float | None, high: float | None, measured: str, default: float
) -> Metric:
    return Metric(name, label, higher, low, high, measured, default)


_AT_HALF = "with labels from a 0.5 probability threshold"
# Names, directions and ranges follow the generated evaluation/metrics.py; defaults are
# reachable by the default estimator on scikit-learn's bundled dataset for the task.
CATALOGUE: dict[str, tuple[Metric, ...]] = {
    "binary-classification": (
        _metric("roc_auc", "ROC-AUC", True, 0, 1, "area under the ROC curve of the positive-class probability", 0.95),
        _metric("pr_auc", "PR-AUC", True, 0, 1, "average precision of the positive-class probability", 0.9),
        _metric("f1", "F1", True, 0, 1, f"harmonic mean of precision and recall, {_AT_HALF}", 0.9),
        _metric("precision", "precision", True, 0, 1, f"share of predicted positives that are right, {_AT_HALF}", 0.9),
        _metric("recall", "recall", True, 0, 1, f"share of actual positives predicted positive, {_AT_HALF}", 0.85),
        _metric("accuracy", "accuracy", True, 0, 1, f"share of correct labels, {_AT_HALF}", 0.9),
        _metric("brier", "Brier score", False, 0, 1, "mean squared error of the positive-class probability", 0.1),
        _metric("ece", "calibration error", False, 0, 1, "mean gap of probability and frequency, 10 bins", 0.1),
    ),
    "multiclass-classification": (
        _metric("macro_f1", "macro-F1", True, 0, 1, "F1 per class, averaged with equal weight per class", 0.9),
        _metric("accuracy", "accuracy", True, 0, 1, "share of rows whose most probable class is right", 0.9),
        _metric("weighted_f1", "weighted F1", True, 0, 1, "F1 per class, averaged by class frequency", 0.9),
        _metric("log_loss", "log loss", False, 0, None, "mean negative log-probability of the true class", 0.5),
    ),
    "regression": (
        _metric("rmse", "RMSE", False, 0, None, "root mean squared error, in the target's unit", 65.0),
        _metric("mae", "MAE", False, 0, None, "mean absolute error, in the target's unit", 55.0),
        _metric("r2", "R²", True, None, 1, "share of the target's variance explained", 0.3),
    ),
}  # fmt: skip

FAIRNESS_METRICS: dict[str, tuple[str, str]] = {
    "demographic_parity_difference": (
        "demographic parity difference",
        "largest gap between groups in the rate at which each class is predicted",
    ),
    "equalized_odds_difference": (
        "equalized odds difference",
        "largest gap between groups in true-positive or false-positive rate, per class",
    ),
    "slice_metric_gap": (
        "slice metric gap",
        "largest relative departure of a group's primary metric from the overall value",
    ),
}


def fmt(value: float) -> str:
    """The one spelling of a number in every rendered file: `0.95`, `200`, `99.9`."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def quoted(value: Any) -> str:
    """A string or list as a YAML flow value (JSON is YAML), without HTML escaping."""
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def _round(value: float) -> float:
    return float(f"{value:.4g}") if abs(value) >= 1 else round(value, 4)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# --- questionnaire helpers (filters) -------------------------------------------------


def metrics_for(task_type: str) -> tuple[Metric, ...]:
    return CATALOGUE.get(task_type, ())


def metric_names(task_type: str) -> list[str]:
    return [m.name for m in metrics_for(task_type)]


def find_metric(task_type: str, name: str) -> Metric | None:
    return next((m for m in metrics_for(task_type) if m.name == name), None)


def default_primary_metric(task_type: str) -> str:
    return metric_names(task_type)[0] if task_type in CATALOGUE else ""


def default_secondary_metric(task_type: str) -> str:
    return metric_names(task_type)[1] if task_type in CATALOGUE else "none"


def metric_problem(name: str, task_type: str, optional: bool = False) -> str:
    """Why `name` is not a metric of the task, or ""."""
    if optional and name == "none":
        return ""
    if find_metric(task_type, name) is None:
        choices = ", ".join(metric_names(task_type)) + (", none" if optional else "")
        return f"'{name}' is not a {task_type} metric: choose one of {choices}"
    return ""


def default_threshold(name: str, task_type: str) -> float:
    metric = find_metric(task_type, name)
    return metric.default if metric else 0.0


def threshold_problem(value: Any, name: str, task_type: str) -> str:
    metric = find_metric(task_type, name)
    return metric.threshold_problem(value) if metric else ""


def default_warning(critical: Any, name: str, task_type: str) -> float:
    metric = find_metric(task_type, name)
    if metric is None or not _is_number(critical):
        return 0.0
    return metric.warning_for(float(critical))


def sla_problem(warning: Any, critical: Any, name: str, task_type: str) -> str:
    """Why the outcome SLA's warning and critical levels do not fit together, or ""."""
    metric = find_metric(task_type, name)
    if metric is None:
        return ""
    if problem := metric.threshold_problem(warning):
        return problem
    if metric.threshold_problem(critical):
        return ""  # outcome_critical's own validator says what is wrong with it
    if not metric.is_better_or_equal(float(warning), float(critical)):
        side = "at or above" if metric.higher_is_better else "at or below"
        direction = "higher" if metric.higher_is_better else "lower"
        return (
            f"the warning level ({fmt(warning)}) must be {side} the critical level ({fmt(critical)}) "
            f"for {name}, where {direction} is better"
        )
    return ""


def latency_problem(p50: Any, p99: Any) -> str:
    if not (_is_number(p50) and float(p50) > 0 and _is_number(p99) and float(p99) > 0):
        return "latencies are positive numbers of milliseconds, e.g. 50 and 200"
    if float(p50) > float(p99):
        return f"p50 latency ({fmt(p50)} ms) cannot exceed p99 latency ({fmt(p99)} ms)"
    return ""


def attributes_problem(value: Any) -> str:
    """Why `value` is not a list of distinct column names, or ""."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return "give a YAML list of column names, e.g. [sex, age_band], or [] for none"
    if len(set(value)) != len(value):
        return "each protected attribute once, please"
    if any(v != v.strip() or '"' in v or "\n" in v for v in value):
        return "column names without surrounding spaces, quotes or line breaks"
    return ""


def text_problem(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        return f"give the {what} as one line of text"
    return ""


# --- the structured model ------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    metric: Metric
    value: float

    @property
    def text(self) -> str:
        return f"{self.metric.label} {self.metric.comparison} {fmt(self.value)}"


@dataclass(frozen=True)
class Alert:
    name: str
    metric: str
    operator: str
    threshold: float
    severity: str
    measured_by: str
    summary: str
    action: str
    steps: tuple[str, ...]

    @property
    def condition(self) -> str:
        return f"{self.operator} {fmt(self.threshold)}"

    @property
    def runbook(self) -> str:
        return f"docs/runbooks.md#{self.name}"


@dataclass(frozen=True)
class Fairness:
    protected_attributes: tuple[str, ...]
    metric: str
    max_gap: float
    min_group_rows: int

    @property
    def label(self) -> str:
        return FAIRNESS_METRICS[self.metric][0]

    @property
    def measured(self) -> str:
        return FAIRNESS_METRICS[self.metric][1]


@dataclass(frozen=True)
class Requirements:
    project_name: str
    task_type: str
    business_problem: str
    business_kpi: str
    owner: str
    primary: Threshold
    secondary: Threshold | None
    metrics: tuple[Metric, ...]
    latency_p50_ms: float
    latency_p99_ms: float
    latency_p99_warning_ms: float
    throughput_rps: float
    fairness: Fairness
    psi_threshold: float
    outcome_warning: float
    outcome_critical: float
    availability_percent: float
    regression_tolerance: float
    min_train_rows: int
    alerts: tuple[Alert, ...] = field(default=())

    psi_minor: float = PSI_MINOR
    psi_significant: float = PSI_SIGNIFICANT
    retrain_within_hours: int = RETRAIN_WITHIN_HOURS

    @property
    def downtime_minutes_per_30_days(self) -> float:
        return _round((100 - self.availability_percent) / 100 * MINUTES_PER_30_DAYS)

    @property
    def thresholds(self) -> tuple[Threshold, ...]:
        return (self.primary,) if self.secondary is None else (self.primary, self.secondary)

    def acceptance(self) -> list[str]:
        """The document's acceptance checklist; `requirements check` measures each line."""
        items = [f"{t.text} on the test split" for t in self.thresholds]
        items.append(f"{self.primary.metric.label} better than the trivial baseline's")
        tolerance = fmt(self.regression_tolerance * 100)
        items.append(f"validation metrics at most {tolerance}% worse than the previous model bundle's")
        items.append(f"p50 latency of one-row `Predictor.predict` <= {fmt(self.latency_p50_ms)} ms")
        items.append(f"p99 latency of one-row `Predictor.predict` <= {fmt(self.latency_p99_ms)} ms")
        items.append(f"throughput of `Predictor.predict_batch` >= {fmt(self.throughput_rps)} rows per second")
        for attribute in self.fairness.protected_attributes:
            items.append(f"{self.fairness.label} across `{attribute}` <= {fmt(self.fairness.max_gap)}")
        items.append(f"at least {self.min_train_rows} training rows")
        return items


def build_requirements(answers: Mapping[str, Any]) -> Requirements:
    """The requirements model from the answers (Copier's context or a plain dict)."""
    task = str(answers["task_type"])
    primary_metric = find_metric(task, str(answers["primary_metric"]))
    if primary_metric is None:
        raise ValueError(metric_problem(str(answers["primary_metric"]), task))
    secondary_name = str(answers.get("secondary_metric", "none"))
    secondary = None
    if secondary_name != "none":
        secondary_metric = find_metric(task, secondary_name)
        if secondary_metric is None:
            raise ValueError(metric_problem(secondary_name, task, optional=True))
        secondary = Threshold(secondary_metric, float(answers["secondary_threshold"]))
    primary = Threshold(primary_metric, float(answers["primary_threshold"]))
    p99 = float(answers["latency_p99_ms"])
    fairness = Fairness(
        protected_attributes=tuple(answers.get("protected_attributes") or ()),
        metric="slice_metric_gap" if task == "regression" else str(answers["fairness_metric"]),
        max_gap=float(answers["fairness_max_gap"]),
        min_group_rows=20,
    )
    requirements = Requirements(
        project_name=str(answers["project_name"]),
        task_type=task,
        business_problem=str(answers["business_problem"]),
        business_kpi=str(answers["business_kpi"]),
        owner=f"{answers.get('author_name', '')} <{answers.get('author_email', '')}>",
        primary=primary,
        secondary=secondary,
        metrics=metrics_for(task),
        latency_p50_ms=float(answers["latency_p50_ms"]),
        latency_p99_ms=p99,
        latency_p99_warning_ms=_round(p99 * LATENCY_WARNING_SHARE),
        throughput_rps=float(answers["throughput_rps"]),
        fairness=fairness,
        psi_threshold=float(answers["psi_threshold"]),
        outcome_warning=float(answers["outcome_warning"]),
        outcome_critical=float(answers["outcome_critical"]),
        availability_percent=float(answers["availability_percent"]),
        regression_tolerance=0.01,
        min_train_rows=100,
    )
    return _with_alerts(requirements)


def _with_alerts(r: Requirements) -> Requirements:
    metric = r.primary.metric
    worse = "<" if metric.higher_is_better else ">"
    labelled = "`drift` on a labelled file"
    alerts = (
        Alert(
            name="outcome-warning",
            metric=metric.name,
            operator=worse,
            threshold=r.outcome_warning,
            severity="warning",
            measured_by=labelled,
            summary=f"{metric.label} on recent labelled data is on the wrong side of the warning level",
            action="open a ticket; compare recent data with the reference and plan a retrain",
            steps=(
                "Check the labels first: late or partial labels make a metric look worse than it is.",
                "Run `drift` on the same file and look for features with PSI in the minor or significant band.",
                "If inputs drifted, retrain on recent data (`make train`) and run `make check` before shipping.",
            ),
        ),
        Alert(
            name="outcome-critical",
            metric=metric.name,
            operator=worse,
            threshold=r.outcome_critical,
            severity="critical",
            measured_by=labelled,
            summary=f"{metric.label} on recent labelled data breaches the critical level",
            action="page the model owner; roll back to the previous model bundle if it scores better",
            steps=(
                "Score the same labelled file with the previous model bundle (`evaluate --model DIR`).",
                "If the previous bundle is better, deploy it, then investigate the candidate offline.",
                "Retrain on recent data, pass `make check`, and write down the cause in the model card.",
            ),
        ),
        Alert(
            name="feature-drift",
            metric="feature_psi",
            operator=">",
            threshold=r.psi_threshold,
            severity="warning",
            measured_by="`drift` on a data file or the prediction log",
            summary="the distribution of at least one input feature moved away from the training data",
            action=f"retrain within {r.retrain_within_hours} hours on data that includes the new distribution",
            steps=(
                "Read `reports/drift.json`: which features drifted, and is the missing-value share among them?",
                "Rule out a broken upstream pipeline (units, encodings, a column filled with defaults).",
                f"If the shift is real, retrain within {r.retrain_within_hours} hours and run `make check`.",
            ),
        ),
        Alert(
            name="prediction-drift",
            metric="prediction_psi",
            operator=">",
            threshold=r.psi_threshold,
            severity="warning",
            measured_by="`drift` on a data file or the prediction log",
            summary="the distribution of the model's predictions moved away from validation time",
            action="check the business impact; investigate the features that drifted",
            steps=(
                "Compare the predicted-class (or value) shares in `reports/drift.json` with the reference.",
                "Find the drifted features behind it and follow feature-drift.",
            ),
        ),
        Alert(
            name="latency-warning",
            metric="latency_p99_ms",
            operator=">",
            threshold=r.latency_p99_warning_ms,
            severity="warning",
            measured_by="`drift` on the prediction log",
            summary="p99 prediction latency is approaching its SLA",
            action="look for load growth or a slower model; plan capacity",
            steps=(
                "Compare the latency of this model version with the previous one in the prediction log.",
                "Check CPU saturation and thread oversubscription (one OpenMP thread per worker).",
            ),
        ),
        Alert(
            name="latency-critical",
            metric="latency_p99_ms",
            operator=">",
            threshold=r.latency_p99_ms,
            severity="critical",
            measured_by="`drift` on the prediction log",
            summary="p99 prediction latency breaches its SLA",
            action="scale out serving or roll back to the previous model bundle",
            steps=(
                "Scale out, or roll back if the latest model bundle is the cause.",
                "Profile `Predictor.predict` on one row (`make check` measures it) to find the slow step.",
            ),
        ),
        Alert(
            name="availability",
            metric="availability_percent",
            operator="<",
            threshold=r.availability_percent,
            severity="critical",
            measured_by="your uptime monitor",
            summary="the serving endpoint is down more than its SLA allows",
            action="restore service; write a post-mortem",
            steps=(
                f"The budget is {fmt(r.downtime_minutes_per_30_days)} minutes of downtime per 30 days.",
                "Restore service first (restart, roll back), then find the cause.",
            ),
        ),
    )
    return replace(r, alerts=alerts)


@pass_context
def requirements_model(context: Context) -> Requirements:
    """`{% set requirements = requirements_model() %}` in any template."""
    return build_requirements(context)


def _filters() -> dict[str, Any]:
    return {
        "metric_names": metric_names,
        "default_primary_metric": default_primary_metric,
        "default_secondary_metric": default_secondary_metric,
        "metric_problem": metric_problem,
        "default_threshold": default_threshold,
        "threshold_problem": threshold_problem,
        "default_warning": default_warning,
        "sla_problem": sla_problem,
        "latency_problem": latency_problem,
        "attributes_problem": attributes_problem,
        "text_problem": text_problem,
        "fmt": fmt,
        "quoted": quoted,
    }


class RequirementsExtension(Extension):
    """Registers the requirements model and the questionnaire's filters."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(_filters())
        environment.globals["requirements_model"] = requirements_model
