"""Does each answer set render the files it should, and only those, cleanly?"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import MATRIX, Projects, answers_of, matrix, run

JINJA_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
RUFF = [sys.executable, "-m", "ruff"]


def _expected(answers: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(files that must exist, files that must not) for one answer set."""
    package = f"src/{answers['package_name']}"
    present = {
        "README.md", "LICENSE", "Makefile", "pyproject.toml", ".gitignore", ".pre-commit-config.yaml",
        ".copier-answers.yml", "configs/base.yaml", "configs/data/default.yaml",
        f"{package}/cli.py", f"{package}/config.py", f"{package}/artifacts.py", f"{package}/data/dataset.py",
        f"{package}/data/schema.py", f"{package}/evaluation/metrics.py", f"{package}/evaluation/evaluator.py",
        f"{package}/evaluation/report.py", f"{package}/serving/predictor.py", "docs/model-card.md",
        "tests/conftest.py", "tests/pipeline/test_cli.py", "tests/pipeline/test_predictor.py",
        # model requirements, acceptance test and monitoring
        "docs/model-requirements.md", "docs/runbooks.md", "configs/requirements.yaml",
        "configs/monitoring/slas.yaml", "configs/monitoring/alerts.yaml",
        f"{package}/requirements/spec.py", f"{package}/requirements/check.py", f"{package}/requirements/report.py",
        f"{package}/requirements/speed.py", f"{package}/evaluation/slices.py", f"{package}/monitoring/profile.py",
        f"{package}/monitoring/drift.py", f"{package}/monitoring/monitor.py", f"{package}/monitoring/slas.py",
        f"{package}/monitoring/prediction_log.py", "tests/pipeline/test_acceptance.py",
        "tests/pipeline/test_monitoring.py", "tests/unit/test_drift.py", "tests/unit/test_prediction_log.py",
        "tests/unit/test_requirements_files.py",
        # README badges (tests/test_badges.py)
        f"{package}/badges.py", "tests/unit/test_badges.py", "tests/unit/test_ci.py",
    }  # fmt: skip
    absent: set[str] = set()
    fairness = {f"{package}/evaluation/fairness.py", "tests/unit/test_fairness.py"}
    (absent if answers["task_type"] == "regression" else present).update(fairness)
    trains = {
        f"{package}/training/trainer.py", f"{package}/data/transforms.py", "configs/training/default.yaml",
        "tests/pipeline/test_training.py", "tests/regression/test_model_quality.py",
    }  # fmt: skip
    (absent if answers["project_phase"] == "inference" else present).update(trains)
    _expect_family(answers, package, present, absent)
    (present if answers["serving_pattern"] == "batch" else absent).add(f"{package}/serving/batch.py")
    pattern, backend = answers["serving_pattern"], answers.get("serving_backend", "fastapi")
    realtime = {f"{package}/serving/{name}.py" for name in ("auth", "requests", "model_card", "loadtest")}
    realtime |= {"tests/unit/test_auth.py"}
    (present if pattern == "realtime" else absent).update(realtime)
    forest = {f"{package}/serving/forest.py", "tests/unit/test_forest.py"}
    (present if pattern == "batch" and answers["model_type"] == "classical" else absent).update(forest)
    fast_path = {f"{package}/serving/fast_path.py", "tests/unit/test_fast_path.py"}
    (present if pattern == "realtime" and answers["model_type"] == "classical" else absent).update(fast_path)
    fastapi = {f"{package}/serving/{name}.py" for name in ("api", "batching", "telemetry")}
    fastapi |= {"tests/pipeline/test_api.py", "tests/pipeline/test_api_fuzz.py"}
    (present if pattern == "realtime" and backend == "fastapi" else absent).update(fastapi)
    bentoml = {f"{package}/serving/service.py", f"{package}/serving/launch.py", "tests/pipeline/test_service.py"}
    (present if pattern == "realtime" and backend == "bentoml" else absent).update(bentoml)
    edge = {f"{package}/serving/export.py", f"{package}/serving/onnx_predictor.py", "tests/pipeline/test_export.py"}
    (present if pattern == "edge" else absent).update(edge)
    docker = {"Dockerfile", ".dockerignore"}
    (present if answers.get("use_docker") else absent).update(docker)
    if answers["project_phase"] != "inference" and answers["model_type"] == "classical":
        # Edge projects never offer an estimator that cannot be exported to ONNX.
        edge_or_deep = pattern == "edge" or answers["model_type"] == "deep-learning"
        (absent if edge_or_deep else present).add("configs/model/hist_gradient_boosting.yaml")
    notebooks = {"notebooks/01-data-exploration.ipynb", ".gitattributes"}
    (present if answers["use_notebooks"] else absent).update(notebooks)
    ci = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}
    for provider, path in ci.items():
        (present if answers["ci_provider"] == provider else absent).add(path)
    dvc = {"dvc.yaml", ".dvc/config", ".dvc/.gitignore", ".dvcignore", "configs/data/bundled.yaml"}
    (present if answers["use_dvc"] else absent).update({*dvc, "tests/unit/test_bundled_data.py"})
    (absent if answers["use_dvc"] else present).add("data/processed/.gitkeep")
    tracker = answers["experiment_tracking"]
    tracking = {f"{package}/tracking/{name}.py" for name in ("__init__", "run", "backend")}
    (present if tracker != "none" else absent).update({*tracking, "tests/unit/test_tracking.py"})
    registers = tracker != "none" and answers["project_phase"] != "inference"
    (present if registers else absent).add(f"{package}/tracking/registry.py")
    for name in ("mlflow", "wandb"):
        (present if registers and tracker == name else absent).add(f"tests/pipeline/test_{name}.py")
    tuning = {f"{package}/training/tuning.py", "configs/tuning.yaml", "tests/pipeline/test_tuning.py"}
    (present if answers["hyperparameter_search"] == "optuna" else absent).update(tuning)
    if answers["project_phase"] != "inference" and answers["model_type"] == "classical":
        linear = "configs/model/ridge.yaml", "configs/model/logistic_regression.yaml"
        regression = answers["task_type"] == "regression"
        present.add(linear[0] if regression else linear[1])
        absent.add(linear[1] if regression else linear[0])
    return present, absent


def _expect_family(answers: dict[str, Any], package: str, present: set[str], absent: set[str]) -> None:
    """scikit-learn or PyTorch files, and the deep-learning options' own files."""
    trains = answers["project_phase"] != "inference"
    classical = {f"{package}/models/model.py", "configs/model/random_forest.yaml", "tests/model/test_models.py"}
    network = {f"{package}/models/network.py", f"{package}/models/pipeline.py"}
    torch_training = {
        f"{package}/data/loaders.py", f"{package}/training/checkpoints.py", f"{package}/training/device.py",
        f"{package}/training/loop.py", f"{package}/training/optim.py", "configs/model/mlp.yaml",
        "tests/model/test_network.py", "tests/pipeline/test_checkpoints.py", "tests/unit/test_loaders.py",
    }  # fmt: skip
    if answers["model_type"] == "deep-learning":
        present.update(network)
        (present if trains else absent).update(torch_training)
        absent.update(classical)
    else:
        (present if trains else absent).update(classical)
        absent.update(network | torch_training)
    (present if answers["model_type"] == "deep-learning" and trains else absent).add(
        "docs/adr/0002-pytorch-training.md"
    )
    privacy = {f"{package}/training/privacy.py", "tests/pipeline/test_privacy.py"}
    (present if answers.get("differential_privacy") else absent).update(privacy)
    ddp = {f"{package}/training/distributed.py", "tests/pipeline/test_distributed.py"}
    (present if answers.get("distributed_training") == "ddp" else absent).update(ddp)


@pytest.mark.parametrize("name", matrix())
def test_layout_follows_the_answers(projects: Projects, name: str) -> None:
    files = projects.files(name)
    present, absent = _expected(answers_of(projects.rendered(name)))
    assert present <= files, f"missing: {sorted(present - files)}"
    assert not absent & files, f"should not exist: {sorted(absent & files)}"
    assert not [f for f in files if Path(f).name in {"", ".jinja"} or f.endswith(".jinja")]


@pytest.mark.parametrize("name", matrix())
def test_no_template_syntax_is_left(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    leftovers = [
        relative
        for relative in projects.files(name)
        if not relative.startswith(".github/")
        and JINJA_MARKERS.search((project / relative).read_text(encoding="utf-8"))
    ]
    assert not leftovers
    workflow = project / ".github/workflows/ci.yml"
    if workflow.exists():  # GitHub expressions only, no Jinja
        assert not re.search(r"(?<!\$)\{\{|\{%", workflow.read_text())


@pytest.mark.parametrize("name", matrix())
def test_ruff_is_clean(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    run([*RUFF, "check", "--no-cache", "."], cwd=project)
    run([*RUFF, "format", "--check", "--no-cache", "."], cwd=project)


@pytest.mark.parametrize("name", matrix())
def test_config_files_parse(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    for relative in projects.files(name):
        if relative.endswith((".yaml", ".yml")):
            assert yaml.safe_load((project / relative).read_text()) is not None, relative
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    answers = answers_of(project)
    assert pyproject["project"]["name"] == answers["project_slug"]
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    assert pyproject["project"]["scripts"] == {answers["project_slug"]: f"{answers['package_name']}.cli:main"}
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + answers["python_version"].replace(".", "")
    dependencies = pyproject["project"]["dependencies"]
    deep = answers["model_type"] == "deep-learning"
    trains_a_network = deep and answers["project_phase"] != "inference"
    assert ("tqdm>=4.66" in dependencies) is (answers["serving_pattern"] == "batch" or trains_a_network)
    assert ("torch>=2.4" in dependencies) is deep
    assert ("opacus>=1.5" in dependencies) is bool(answers.get("differential_privacy"))
    extras = pyproject["project"]["optional-dependencies"]
    assert ("serve" in extras) is (answers["serving_pattern"] == "realtime")
    assert ("edge" in extras and "export" in extras) is (answers["serving_pattern"] == "edge")
    for extra in ("serve", "edge", "export"):
        # Serving images install only their extra: no training, notebook or dev tools in it.
        names = {re.split(r"[=<>;\[ ]", requirement)[0] for requirement in extras.get(extra, [])}
        assert not names & {"mypy", "pytest", "ruff", "matplotlib", "jupyterlab", "hypothesis"}
    assert ("notebooks" in pyproject["project"]["optional-dependencies"]) is answers["use_notebooks"]


@pytest.mark.parametrize("name", matrix())
def test_answers_are_recorded_for_updates(projects: Projects, name: str) -> None:
    answers = answers_of(projects.rendered(name))
    assert "_src_path" in answers
    for question, value in MATRIX[name].items():
        assert answers[question] == value


@pytest.mark.parametrize("name", matrix())
def test_license_and_badges_follow_the_answers(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    answers = answers_of(project)
    license_text = (project / "LICENSE").read_text()
    first_line = {
        "MIT": "MIT License",
        "Apache-2.0": "Apache License",
        "BSD-3-Clause": "BSD 3-Clause License",
        "Proprietary": "Copyright (c)",
    }[answers["license"]]
    assert license_text.strip().startswith(first_line)
    assert answers["author_name"] in license_text
    assert re.search(r"\b20\d\d\b", license_text), "the year comes from jinja2-time"
    readme = (project / "README.md").read_text()
    owner_repo = f"{answers['repository_owner']}/{answers['repository_name']}"
    ci_badge = {
        "github": f"https://github.com/{owner_repo}/actions/workflows/ci.yml/badge.svg",
        "gitlab": f"https://gitlab.com/{owner_repo}/badges/main/pipeline.svg",
    }
    for provider, badge in ci_badge.items():
        assert (badge in readme) is (answers["ci_provider"] == provider)
    assert f"python-{answers['python_version']}%2B" in readme
    assert "img.shields.io/endpoint?url=https://raw.githubusercontent.com/copier-org/copier" in readme


@pytest.mark.parametrize("name", matrix("default", "multiclass-training"))
def test_notebook_is_stripped_and_its_code_runs(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    notebook = project / "notebooks" / "01-data-exploration.ipynb"
    if not answers_of(project)["use_notebooks"]:
        assert not notebook.exists()
        return
    before = notebook.read_text()
    run([sys.executable, "-m", "nbstripout", str(notebook)], cwd=project)
    assert notebook.read_text() == before, "the notebook is not in nbstripout's stripped form"
    code = [cell for cell in json.loads(before)["cells"] if cell["cell_type"] == "code"]
    script = project / "notebooks" / "as_script.py"
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + "\n\n".join("".join(c["source"]) for c in code))
    run([str(project / ".venv/bin/python"), script.name], cwd=script.parent)


@pytest.mark.parametrize("name", matrix())
def test_workflow_runs_only_existing_make_targets(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    answers = answers_of(project)
    workflow = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}.get(answers["ci_provider"])
    if workflow is None:
        return
    targets = set(re.findall(r"^([a-z-]+):", (project / "Makefile").read_text(), re.M))
    used = set(re.findall(r"\bmake ([a-z-]+)", (project / workflow).read_text()))
    assert used
    assert used <= targets, f"{workflow} runs unknown targets {used - targets}"
