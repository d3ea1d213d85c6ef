"""Does the questionnaire refuse bad answers, in one line, before writing anything?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import MATRIX, TEMPLATE_ROOT

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_") and spec.get("when") is not False  # `when: false` marks computed values
}
# Answers about the copy itself, not the project: tests/test_fresh_install.py and test_tasks.py use both values.
COPY_ONLY = {"setup_environment"}


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (["project_name=!!!"], "project_name: the project name needs at least one letter or digit"),
        (["project_name=X", "project_slug=Churn Risk"], "project_slug: 'Churn Risk' is not a valid distribution name"),
        (["project_name=X", "package_name=churn-risk"], "package_name: 'churn-risk' is not a Python identifier"),
        (["project_name=X", "package_name=class"], "package_name: 'class' is a Python keyword"),
        (["project_name=X", "package_name=json"], "package_name: 'json' would shadow the module"),
        (["project_name=X", "author_email=nobody"], "author_email: 'nobody' is not an email address"),
        (["project_name=X", 'author_name=Ann "Bo"'], "author_name: give an author name without double quotes"),
        (["project_name=X", 'description=say "hi"'], "description: keep the description to one line"),
        (["project_name=X", "repository_owner=my org"], "repository_owner: 'my org' is not a valid repository owner"),
        (["project_name=X", "repository_name=-repo"], "repository_name: '-repo' is not a valid repository name"),
        (["project_name=X", "python_version=3.9"], "python_version: '3.9' is not in"),
        (["project_name=X", "license=GPL"], "license: 'GPL' is not in"),
        (["project_name=X", "model_type=llm"], "model_type: 'llm' is not in"),
        (["project_name=X", "task_type=ranking"], "task_type: 'ranking' is not in"),
        (["project_name=X", "ci_provider=jenkins"], "ci_provider: 'jenkins' is not in"),
        (
            ["project_name=X", "project_phase=training", "serving_pattern=batch"],
            "serving_pattern: a training-only project serves nothing",
        ),
        (
            ["project_name=X", "project_phase=inference", "serving_pattern=none"],
            "serving_pattern: a project that serves models (project_phase inference) needs a serving pattern",
        ),
        (
            ["project_name=X", "project_phase=both", "serving_pattern=none"],
            "serving_pattern: a project that serves models (project_phase both) needs a serving pattern",
        ),
        (["project_name=X", "serving_pattern=stream"], "serving_pattern: 'stream' is not in"),
        (
            ["project_name=X", "project_phase=training", "serving_pattern=realtime"],
            "serving_pattern: a training-only project serves nothing",
        ),
        (
            ["project_name=X", "project_phase=training", "serving_pattern=edge"],
            "serving_pattern: a training-only project serves nothing",
        ),
        (
            ["project_name=X", "serving_pattern=realtime", "serving_backend=flask"],
            "serving_backend: 'flask' is not in",
        ),
        (
            ["project_name=X", "serving_pattern=batch", "serving_backend=bentoml"],
            "serving_backend: serving_backend applies to realtime serving only",
        ),
        (
            ["project_name=X", "serving_pattern=edge", "use_docker=true"],
            "use_docker: the Docker image serves the realtime API",
        ),
        (
            ["project_name=X", "project_phase=inference", "use_dvc=true"],
            "use_dvc: an inference-only project has no pipeline for DVC to run",
        ),
        (
            ["project_name=X", "use_dvc=true", "dvc_remote=ftp://host/data"],
            "dvc_remote: 'ftp://host/data' is not a DVC remote",
        ),
        (["project_name=X", "use_dvc=true", "dvc_remote=bucket/data"], "dvc_remote: 'bucket/data' is not a DVC remote"),
        (["project_name=X", "experiment_tracking=neptune"], "experiment_tracking: 'neptune' is not in"),
        (
            ["project_name=X", "project_phase=inference", "hyperparameter_search=optuna"],
            "hyperparameter_search: an inference-only project trains nothing to tune",
        ),
        ([], "project_name: an answer is required"),
    ],
)
def test_bad_answer_is_refused_in_one_line(copier_cli: Any, tmp_path: Path, answers: list[str], message: str) -> None:
    result = copier_cli(*answers)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "Warning" not in line and "warn(" not in line]
    lines = [line for line in lines if not line.startswith("No git tags")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("copier-ml refused an answer: " + message), lines[0]
    assert not (tmp_path / "project").exists()


def test_defaults_need_only_a_project_name(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli("project_name=Churn Risk")
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "project" / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "churn-risk"
    assert answers["package_name"] == "churn_risk"
    assert answers["serving_pattern"] == "batch"


def test_training_only_defaults_to_no_serving(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli("project_name=Churn Risk", "project_phase=training")
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "project" / ".copier-answers.yml").read_text())
    assert answers["serving_pattern"] == "none"


def test_every_question_has_help_and_every_answer_but_the_name_a_default() -> None:
    for name, spec in QUESTIONS.items():
        assert spec.get("help"), f"{name} has no help line"
        assert name == "project_name" or "default" in spec, f"{name} has no default"


def _values(spec: dict[str, Any]) -> list[Any]:
    if spec.get("type") == "bool":
        return [True, False]
    choices = spec.get("choices") or []
    values = choices.values() if isinstance(choices, dict) else choices
    return [value["value"] if isinstance(value, dict) else value for value in values]


ASKED_PER_PROJECT = [name for name, spec in QUESTIONS.items() if _values(spec) and name not in COPY_ONLY]


@pytest.mark.parametrize("question", ASKED_PER_PROJECT)
def test_matrix_covers_every_value(question: str) -> None:
    """Every choice of every question is rendered and exercised by at least one answer set."""
    spec = QUESTIONS[question]
    defaults = {
        "use_notebooks": True,
        "project_phase": "both",
        "serving_pattern": "batch",
        "python_version": "3.11",
        "serving_backend": "fastapi",
        "use_docker": False,
        "use_dvc": False,
    }
    used = {answers.get(question, defaults.get(question, spec.get("default"))) for answers in MATRIX.values()}
    assert set(_values(spec)) <= used, f"{question}: no answer set uses {set(_values(spec)) - used}"
