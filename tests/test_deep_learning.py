"""Does a deep-learning project train, resume, scale to processes and train privately, as its README says?"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from .conftest import MATRIX, Projects, answers_of, assert_refused_in_one_line, matrix, run
from .test_project import _customers

# Each torch process on one thread: the test workers already keep both cores busy.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def _cli(project: Path) -> str:
    return str(project / ".venv" / "bin" / answers_of(project)["project_slug"])


def _weights(folder: Path) -> bytes:
    return (folder / "model.safetensors").read_bytes()


def _values_extension() -> Any:
    path = Path(__file__).resolve().parents[1] / "extensions" / "values.py"
    spec = importlib.util.spec_from_file_location("copier_ml_values", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            ["differential_privacy=true"],
            "differential_privacy: differential privacy needs model_type deep-learning (Opacus DP-SGD): "
            "diffprivlib, the classical option, does not run with scikit-learn 1.9",
        ),
        (
            ["model_type=deep-learning", "project_phase=inference", "differential_privacy=true"],
            "differential_privacy: an inference-only project does not train",
        ),
        (
            ["model_type=deep-learning", "differential_privacy=true", "dp_target_epsilon=0"],
            "dp_target_epsilon: epsilon must be above 0 and at most 100",
        ),
        (
            ["model_type=deep-learning", "differential_privacy=true", "dp_target_delta=0.01"],
            "dp_target_delta: delta must be above 0 and below 0.001",
        ),
        (
            ["model_type=deep-learning", "differential_privacy=true", "dp_max_grad_norm=-1"],
            "dp_max_grad_norm: the clipping norm must be above 0",
        ),
        (
            ["distributed_training=ddp"],
            "distributed_training: DistributedDataParallel trains PyTorch networks: set model_type deep-learning",
        ),
        (
            ["model_type=deep-learning", "project_phase=inference", "distributed_training=ddp"],
            "distributed_training: an inference-only project does not train",
        ),
        (
            ["model_type=deep-learning", "differential_privacy=true", "distributed_training=ddp"],
            "distributed_training: DP-SGD trains in one process here (Opacus with DDP is not supported)",
        ),
        (["model_type=deep-learning", "distributed_training=fsdp"], "distributed_training: 'fsdp' is not in"),
        (
            ["model_type=deep-learning", "differential_privacy=true", "hyperparameter_search=optuna"],
            "hyperparameter_search: every Optuna trial would train on the same protected rows",
        ),
    ],
)
def test_incoherent_deep_learning_answers_are_refused(
    copier_cli: Any, tmp_path: Path, answers: list[str], message: str
) -> None:
    assert_refused_in_one_line(copier_cli("project_name=X", *answers), message, tmp_path / "project")


@pytest.mark.parametrize(("value", "text"), [(1e-5, "1.0e-05"), (3.0, "3.0"), (2.5e-6, "2.5e-06"), (1e20, "1.0e+20")])
def test_yaml_float_writes_what_yaml_reads_back(value: float, text: str) -> None:
    assert _values_extension().yaml_float(value) == text
    assert yaml.safe_load(text) == value


@pytest.mark.parametrize("name", matrix("deep-regression-dp"))
def test_privacy_answers_reach_the_config(projects: Projects, name: str) -> None:
    project = projects.rendered(name)
    privacy = yaml.safe_load((project / "configs/base.yaml").read_text())["privacy"]
    answers = MATRIX[name]
    assert privacy == {
        "target_epsilon": answers["dp_target_epsilon"],
        "target_delta": answers["dp_target_delta"],
        "max_grad_norm": answers["dp_max_grad_norm"],
    }


# The DDP project trains through the README's torchrun command below.
@pytest.mark.parametrize("name", matrix("deep-binary", "deep-regression-dp"))
def test_train_evaluate_predict_on_bundled_data(projects: Projects, name: str) -> None:
    """The README's commands. Seeded repeats and resumes are checked by each project's own tests
    (tests/pipeline/test_checkpoints.py) and, through a real Ctrl-C, below."""
    project = projects.installed(name)
    answers = answers_of(project)
    run(["make", "train", "ARGS=training=fast"], cwd=project, env=ONE_THREAD)
    assert (project / "models/model/model.safetensors").is_file()
    assert (project / "models/checkpoints/last.pt").is_file()
    run(["make", "evaluate"], cwd=project)
    summary = json.loads((project / "reports/metrics.json").read_text())
    primary = summary["primary_metric"]
    model, baseline = summary["metrics"][primary], summary["baseline"][primary]
    assert (model < baseline) if primary in {"rmse", "mae"} else (model > baseline)
    records = [json.loads(line) for line in run(["make", "predict"], cwd=project).stdout.splitlines() if "{" in line]
    assert len(records) == 5
    if answers["serving_pattern"] == "batch":
        run(["make", "score", "OUTPUT=reports/scored.parquet"], cwd=project)
        scored = pd.read_parquet(project / "reports/scored.parquet")
        assert len(scored) == len(pd.read_parquet(project / "data/processed/test.parquet"))
    if answers.get("differential_privacy"):
        report = (project / "reports/evaluation.md").read_text()
        spent = re.search(r"epsilon spent ([0-9.]+) of the ([0-9.]+) allowed", report)
        assert spent is not None, report
        assert 0 < float(spent[1]) <= answers["dp_target_epsilon"]
        assert summary["privacy"]["epsilon_spent"] <= answers["dp_target_epsilon"]


@pytest.mark.parametrize("name", matrix("deep-binary"))
def test_interrupted_training_resumes_to_the_uninterrupted_model(projects: Projects, name: str, tmp_path: Path) -> None:
    """Ctrl-C in the middle of `train`, then `train --resume`: the same weights as a run never stopped."""
    project = projects.installed(name)
    settings = ["training.epochs=30", "training.early_stopping_patience=null", "training.batch_size=16"]

    def paths(folder: Path) -> list[str]:
        return [f"paths.model_dir={folder / 'model'}", f"paths.checkpoint_dir={folder / 'checkpoints'}"]

    command = [_cli(project), "train", *settings, *paths(tmp_path / "split")]
    env = {**os.environ, **ONE_THREAD}
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    interrupted = subprocess.Popen(command, cwd=project, env=env, **pipes)
    last = tmp_path / "split" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not last.exists() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, f"training ended before the interruption: {stderr[-2000:]}"
    assert stderr.strip().endswith("interrupted")
    assert not (tmp_path / "split" / "model").exists()

    resumed = run(["make", "resume", f"ARGS={' '.join(command[2:])}"], cwd=project, env=ONE_THREAD)
    assert "resuming after epoch" in resumed.stderr
    run([_cli(project), "train", *settings, *paths(tmp_path / "whole")], cwd=project, env=ONE_THREAD)
    assert _weights(tmp_path / "split" / "model") == _weights(tmp_path / "whole" / "model")


@pytest.mark.parametrize("name", matrix("deep-multiclass-ddp"))
def test_readme_torchrun_command_trains_one_bundle_on_cpu(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    readme = (project / "README.md").read_text()
    commands = re.findall(r"^(torchrun [^#\n]*?)\s*(?:#.*)?$", readme, re.M)
    assert commands, "the README shows the torchrun command"
    command = commands[0].split()
    assert command[command.index("--nproc_per_node") + 1] == "2"
    # `torchrun` is torch's console script for torch.distributed.run; this environment shares torch's files.
    shim = tmp_path / "bin" / "torchrun"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{project / ".venv/bin/python"}" -m torch.distributed.run "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}", **ONE_THREAD}
    result = run([*command, "training=fast"], cwd=project, env=env)
    assert result.stdout.count("saved to") == 1
    assert len(re.findall(r" epoch 1/", result.stderr)) == 1, "only rank 0 logs"
    metadata = json.loads((project / "models/model/metadata.json").read_text())
    assert metadata["training"]["processes"] == 2
    assert sorted(p.name for p in (project / "models/model").iterdir()) == sorted(
        ["SHA256SUMS", "metadata.json", "model.safetensors", "preprocess.skops", "profile.json"]
    )
    assert "train-ddp:" in (project / "Makefile").read_text()


@pytest.mark.parametrize("name", matrix("deep-binary"))
def test_trains_on_the_users_own_file(projects: Projects, name: str, tmp_path: Path) -> None:
    """Ids, text categories and missing values reach the network through the shared preprocessing."""
    project = projects.installed(name)
    table = _customers(600, "binary-classification")
    table.to_parquet(tmp_path / "customers.parquet")
    overrides = [
        f"data.source={tmp_path / 'customers.parquet'}",
        "data.target=lifetime_value",
        "data.id_columns=[customer_id]",
        "data.positive_class=churned",
        "training=fast",
        f"paths.processed_dir={tmp_path / 'processed'}",
        f"paths.model_dir={tmp_path / 'model'}",
        f"paths.reports_dir={tmp_path / 'reports'}",
        f"paths.checkpoint_dir={tmp_path / 'checkpoints'}",
    ]
    run([_cli(project), "train", *overrides], cwd=project, env=ONE_THREAD)
    run([_cli(project), "evaluate", *overrides], cwd=project, env=ONE_THREAD)
    summary = json.loads((tmp_path / "reports/metrics.json").read_text())
    assert summary["n_rows"] == 120
    assert summary["metrics"]["roc_auc"] > summary["baseline"]["roc_auc"]
    unseen = table.head(5).assign(plan=["enterprise", None, "basic", "pro", "plus"]).drop(columns=["lifetime_value"])
    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    predicted = run([_cli(project), "predict", "--input", str(tmp_path / "unseen.csv"), *overrides], cwd=project)
    assert len(predicted.stdout.splitlines()) == 5


@pytest.mark.parametrize("name", matrix("deep-binary-inference"))
def test_deep_inference_project_serves_a_bundle_from_a_deep_training_project(projects: Projects, name: str) -> None:
    trainer = projects.installed("deep-binary")
    server = projects.installed(name)
    run([_cli(trainer), "train", "training=fast"], cwd=trainer, env=ONE_THREAD)
    shutil.rmtree(server / "models/model", ignore_errors=True)
    shutil.copytree(trainer / "models/model", server / "models/model")
    evaluation = run([_cli(server), "evaluate"], cwd=server)
    assert "baseline" in evaluation.stdout
    run([_cli(server), "score", "data/processed/test.parquet", "reports/scored.csv"], cwd=server)
    scored = pd.read_csv(server / "reports/scored.csv")
    assert len(scored) == len(pd.read_parquet(server / "data/processed/test.parquet"))


def test_classical_projects_carry_no_pytorch(projects: Projects) -> None:
    project = projects.rendered("default")
    assert "torch" not in (project / "pyproject.toml").read_text()
    assert not [path for path in projects.files("default") if "torch" in (project / path).read_text()]
