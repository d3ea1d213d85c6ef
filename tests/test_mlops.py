"""MLOps integrations as a user runs them: the DVC pipeline, MLflow and W&B tracking, the registry, Optuna."""

from __future__ import annotations

import json
import re
import struct
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import GIT_IDENTITY, MATRIX, Projects, answers_of, matrix, run
from .test_project import cli

PIPELINES = ("dvc-mlflow-optuna", "dvc-wandb-optuna")
DATASETS = {"binary-classification": "breast_cancer", "multiclass-classification": "wine", "regression": "diabetes"}
PRIMARY = {"binary-classification": "roc_auc", "multiclass-classification": "macro_f1", "regression": "rmse"}
LINEAR = {"binary-classification": ("logistic_regression", "C"), "regression": ("ridge", "alpha")}


def dvc(project: Path, *args: str, **kwargs: Any) -> str:
    return run([str(project / ".venv/bin/python"), "-m", "dvc", *args], cwd=project, **kwargs).stdout


def scratch(folder: Path) -> list[str]:
    """Overrides for a run beside the pipeline: scikit-learn's copy of the data, outputs in `folder`."""
    return ["data=bundled", *(f"paths.{key}={folder / key}" for key in ("processed_dir", "model_dir", "reports_dir"))]


# --- what each answer declares --------------------------------------------------------


@pytest.mark.parametrize("name", matrix())
def test_integrations_appear_only_when_chosen(projects: Projects, name: str) -> None:
    """Dependencies, make targets and code for an integration exist only in projects that chose it."""
    project = projects.rendered(name)
    answers = answers_of(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    tracker, dvc_wanted = answers["experiment_tracking"], answers["use_dvc"]
    assert ("tracking" in extras) is (tracker != "none")
    assert ("tuning" in extras) is (answers["hyperparameter_search"] == "optuna")
    dvc_pins = [dep for dep in extras["dev"] if dep.startswith("dvc")]
    remote = answers.get("dvc_remote", "")
    if dvc_wanted:
        assert dvc_pins == ["dvc[s3]==3.67.1" if remote.startswith("s3://") else "dvc==3.67.1"]
        config = (project / ".dvc/config").read_text()
        assert (f"url = {remote}" in config) is bool(remote)
    else:
        assert not dvc_pins
    targets = set(re.findall(r"^([a-z-]+):", (project / "Makefile").read_text(), re.M))
    assert {"data", "repro"} <= targets if dvc_wanted else not {"data", "repro"} & targets
    assert ("tune" in targets) is (answers["hyperparameter_search"] == "optuna")
    code = "\n".join(
        (project / relative).read_text() for relative in projects.files(name) if relative.endswith((".py", ".toml"))
    )
    for library, chosen in {
        "mlflow": tracker == "mlflow",
        "wandb": tracker == "wandb",
        "optuna": answers["hyperparameter_search"] == "optuna",
        "dvc": dvc_wanted,
    }.items():
        assert (re.search(rf"\b{library}\b", code) is not None) is chosen, f"{library} in the code: {not chosen}"


# --- the DVC pipeline ---------------------------------------------------------------------


@pytest.mark.parametrize("name", matrix(*PIPELINES))
def test_dvc_pipeline_runs_offline_and_reruns_only_what_changed(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    answers = answers_of(project)
    raw = f"data/raw/{DATASETS[answers['task_type']]}.csv"
    trainings_before = sum(tracked.job == "train" for tracked in tracked_runs(project, answers))
    run(["make", "data"], cwd=project, env=GIT_IDENTITY)
    assert (project / f"{raw}.dvc").is_file(), "the bundled data is versioned like a user's own"

    first = run(["make", "repro"], cwd=project).stdout
    for stage in ("prepare", "train", "evaluate", "check", "register"):
        assert f"Running stage '{stage}'" in first
    assert json.loads((project / "reports/acceptance.json").read_text())["passed"] is True
    assert json.loads((project / "reports/registry.json").read_text())["alias"] == "champion"
    summary = json.loads((project / "reports/metrics.json").read_text())
    assert summary["primary_metric"] == PRIMARY[answers["task_type"]]
    assert "reports/metrics.json" in dvc(project, "metrics", "show")
    assert (project / "models/model/SHA256SUMS").is_file()

    second = run(["make", "repro"], cwd=project).stdout
    assert "Data and pipelines are up to date" in second
    assert "Running stage" not in second

    group, parameter = LINEAR[answers["task_type"]]
    model_config = project / "configs" / "model" / f"{group}.yaml"
    model_config.write_text(re.sub(rf"(?m)^  {parameter}: [0-9.]+", f"  {parameter}: 0.5", model_config.read_text()))
    status = dvc(project, "status")
    assert status.startswith("train:")
    assert f"configs/model/{group}.yaml" in status
    assert "prepare" not in status
    third = run(["make", "repro"], cwd=project).stdout
    assert "Stage 'prepare' didn't change" in third
    for stage in ("train", "evaluate", "check", "register"):
        assert f"Running stage '{stage}'" in third

    # The remote from the answers is the default one; here it points at a local folder.
    dvc(project, "remote", "modify", "--local", "storage", "url", str(tmp_path / "remote"))
    assert "pushed" in dvc(project, "push")
    assert any((tmp_path / "remote").rglob("*"))

    runs = tracked_runs(project, answers)
    assert {"train", "evaluate", "register"} <= {run.job for run in runs}
    trained = [run for run in runs if run.job == "train"]
    assert len(trained) == trainings_before + 2, "one training run per pipeline run that trained"
    primary = PRIMARY[answers["task_type"]]
    for training in trained:
        assert f"val_{primary}" in training.metrics
        assert f"model.params.{parameter}" in training.params
        assert {"git_commit", "data_hash", "model_version", "config.model"} <= set(training.tags)
        assert {"SHA256SUMS", "metadata.json", "model.skops"} <= training.artifacts
    evaluation = next(run for run in runs if run.job == "evaluate")
    assert f"test_{primary}" in evaluation.metrics
    assert "metrics.json" in evaluation.artifacts


# --- what each tracker received -----------------------------------------------------------


@dataclass
class TrackedRun:
    job: str
    params: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    artifacts: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)


def tracked_runs(project: Path, answers: dict[str, Any]) -> list[TrackedRun]:
    if answers["experiment_tracking"] == "mlflow":
        return mlflow_runs(f"sqlite:///{project / 'mlflow.db'}", answers["project_slug"])
    return wandb_runs(project / "wandb")


def mlflow_runs(uri: str, experiment: str) -> list[TrackedRun]:
    """Every run in the experiment, read through MLflow's own client."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = []
    for tracked in client.search_runs([found.experiment_id]):
        files = {Path(artifact.path).name for artifact in _walk(client, tracked.info.run_id, None)}
        runs.append(
            TrackedRun(
                job=tracked.data.tags["job"],
                params=set(tracked.data.params),
                metrics=set(tracked.data.metrics),
                tags={tag for tag in tracked.data.tags if not tag.startswith("mlflow.")},
                artifacts=files,
            )
        )
    return runs


def _walk(client: Any, run_id: str, folder: str | None) -> list[Any]:
    found = []
    for artifact in client.list_artifacts(run_id, folder):
        found += _walk(client, run_id, artifact.path) if artifact.is_dir else [artifact]
    return found


def wandb_runs(folder: Path) -> list[TrackedRun]:
    """The offline runs W&B wrote under wandb/, read from their record files (what `wandb sync` uploads)."""
    runs = []
    for path in sorted(folder.glob("offline-run-*/run-*.wandb")):
        tracked = TrackedRun(job="")
        for record in _finished_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                tracked.job = record.run.job_type
            elif kind == "config":
                for item in record.config.update:
                    value = json.loads(item.value_json)
                    if item.key == "tags":
                        tracked.tags |= set(value)
                    elif item.key != "_wandb":
                        tracked.params |= _dotted(item.key, value)
            elif kind == "history":
                tracked.metrics |= {item.key for item in record.history.item if not item.key.startswith("_")}
            elif kind == "summary":
                tracked.metrics |= {item.key for item in record.summary.update if item.key and item.key[0] != "_"}
            elif kind == "artifact":
                tracked.artifacts |= {Path(entry.path).name for entry in record.artifact.manifest.contents}
                tracked.aliases |= set(record.artifact.aliases)
        runs.append(tracked)
    return runs


def _dotted(key: str, value: Any) -> set[str]:
    if isinstance(value, dict) and value:
        return set().union(*(_dotted(f"{key}.{inner}", item) for inner, item in value.items()))
    return {key}


def _finished_records(path: Path, timeout_s: float = 30.0) -> list[Any]:
    """A run's records once its exit record is there: W&B's service writes them after the command returns."""
    deadline = time.monotonic() + timeout_s
    records = _wandb_records(path)
    while not any(record.WhichOneof("record_type") == "exit" for record in records) and time.monotonic() < deadline:
        time.sleep(0.2)
        records = _wandb_records(path)
    return records


def _wandb_records(path: Path) -> list[Any]:
    """W&B's run file: a 7-byte header, then LevelDB-log blocks of 32 KiB holding protobuf records."""
    from wandb.proto import wandb_internal_pb2

    data, position, pending, records = path.read_bytes(), 7, b"", []
    assert data.startswith(b":W&B")
    while position + 7 <= len(data):
        if 32768 - position % 32768 < 7:  # a block's tail too short for a header is padding
            position += 32768 - position % 32768
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if (kind == 0 and length == 0) or position + 7 + length > len(data):  # the end, or a record half-written
            break
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or the last fragment of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


# --- registry, alias, tracking failures ----------------------------------------------------


@pytest.mark.parametrize("name", matrix("dvc-mlflow-optuna"))
def test_champion_is_registered_after_the_check_and_served_by_alias(
    projects: Projects, name: str, tmp_path: Path
) -> None:
    project = projects.installed(name)
    slug = answers_of(project)["project_slug"]
    outputs = scratch(tmp_path)
    run([cli(project), "train", "training=fast", *outputs], cwd=project)
    unchecked = run([cli(project), "register", *outputs], cwd=project).stdout
    assert "no " in unchecked
    assert "alias" not in unchecked
    version = json.loads((tmp_path / "model_dir/metadata.json").read_text())["version"]
    # The requirements check's verdict (reports/acceptance.json) is what promotes a model.
    (tmp_path / "reports_dir/acceptance.json").write_text(json.dumps({"passed": True, "model_version": version}))
    promoted = run([cli(project), "register", *outputs], cwd=project).stdout
    assert "alias 'champion'" in promoted

    rows = str(tmp_path / "processed_dir" / "test.parquet")
    champion = f"models:/{slug}@champion"
    predict = [cli(project), "predict", "--model", champion, "--input", rows, "--limit", "2", *outputs]
    predictions = run(predict, cwd=project).stdout.splitlines()
    assert [json.loads(line)["model_version"] for line in predictions] == [version, version]

    # A serving project reads the same registry: the champion, not a copied folder.
    server = projects.installed("mlflow-inference")
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    served = run(
        [cli(server), "evaluate", "--model", champion],
        cwd=server,
        env=store,
    ).stdout
    assert "baseline" in served
    assert json.loads((server / "reports/metrics.json").read_text())["model_version"] == version
    missing = run([cli(server), "predict", "--model", "models:/nothing@champion"], cwd=server, env=store, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: no model nothing@champion in sqlite:///")


@pytest.mark.parametrize("name", matrix("dvc-mlflow-optuna"))
def test_unreachable_tracking_server_warns_once_and_keeps_the_bundle(
    projects: Projects, name: str, tmp_path: Path
) -> None:
    project = projects.installed(name)
    result = run(
        [cli(project), "train", "training=fast", *scratch(tmp_path)],
        cwd=project,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert "saved to" in result.stdout
    assert (tmp_path / "model_dir/SHA256SUMS").is_file()
    assert result.stderr.count("tracking is off for this run") == 1


# --- Optuna -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", matrix(*PIPELINES))
def test_tune_shares_a_study_writes_the_best_config_and_logs_to_the_tracker(
    projects: Projects, name: str, tmp_path: Path
) -> None:
    import optuna

    project = projects.installed(name)
    answers = answers_of(project)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tuned = project / "configs/model/tuned.yaml"
    outputs = scratch(tmp_path)
    try:
        result = run([cli(project), "tune", "--trials", "3", *outputs], cwd=project, env={"OPTUNA_STORAGE": storage})
        assert "best val" in result.stdout
        study = optuna.load_study(study_name=answers["project_slug"], storage=storage)
        assert len(study.trials) == 3
        assert f"trial {study.best_trial.number} of 3" in result.stdout
        group, parameter = LINEAR[answers["task_type"]]
        assert f"estimator: {group}" in tuned.read_text()
        best = study.best_params[f"model.params.{parameter}"]
        assert f"{parameter}: {best}" in tuned.read_text()
        run([cli(project), "train", "model=tuned", "training=fast", *outputs], cwd=project)
        tune_runs = [tracked for tracked in tracked_runs(project, answers) if tracked.job == "tune"]
        assert len(tune_runs) == 1
        assert f"best_val_{PRIMARY[answers['task_type']]}" in tune_runs[0].metrics
        assert "tuned.yaml" in tune_runs[0].artifacts
    finally:
        tuned.unlink(missing_ok=True)


@pytest.mark.parametrize("name", matrix("deep-optuna"))
def test_deep_learning_tune_prunes_writes_model_and_training_configs_and_logs_to_the_tracker(
    projects: Projects, name: str, tmp_path: Path
) -> None:
    import optuna

    project = projects.installed(name)
    answers = answers_of(project)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tuned = [project / "configs/model/tuned.yaml", project / "configs/training/tuned.yaml"]
    folders = ("processed_dir", "model_dir", "reports_dir", "checkpoint_dir")
    outputs = [f"paths.{key}={tmp_path / key}" for key in folders]
    quick = ["training=fast", "training.epochs=4"]
    try:
        result = run(
            [cli(project), "tune", "--trials", "3", *quick, *outputs],
            cwd=project,
            env={"OPTUNA_STORAGE": storage, "OMP_NUM_THREADS": "1"},
        )
        study = optuna.load_study(study_name=answers["project_slug"], storage=storage)
        assert len(study.trials) == 3
        pruned = len(study.get_trials(states=(optuna.trial.TrialState.PRUNED,)))
        assert f"{pruned} trial(s) pruned" in result.stdout
        assert "train with it: " in result.stdout
        assert "model=tuned training=tuned" in result.stdout
        assert "estimator: mlp" in tuned[0].read_text()
        assert f"learning_rate: {study.best_params['training.learning_rate']}" in tuned[1].read_text()
        assert "epochs: 4" in tuned[1].read_text()
        trained = run(
            [cli(project), "train", "model=tuned", "training=tuned", *outputs],
            cwd=project,
            env={"OMP_NUM_THREADS": "1"},
        )
        assert trained.returncode == 0
        tune_runs = [tracked for tracked in tracked_runs(project, answers) if tracked.job == "tune"]
        assert len(tune_runs) == 1
        assert {f"best_val_{PRIMARY[answers['task_type']]}", "pruned_trials"} <= tune_runs[0].metrics
        assert "tuned.yaml" in tune_runs[0].artifacts
    finally:
        for path in tuned:
            path.unlink(missing_ok=True)


def test_matrix_has_a_pipeline_per_tracker() -> None:
    trackers = {MATRIX[name]["experiment_tracking"] for name in PIPELINES}
    assert trackers == {"mlflow", "wandb"}
    assert all(MATRIX[name]["use_dvc"] and MATRIX[name]["hyperparameter_search"] == "optuna" for name in PIPELINES)
