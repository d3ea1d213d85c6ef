"""Does a realtime project serve for real, an edge project export faithfully, and a serving image check out?

The servers run as their users run them (`make serve`, the console script) on 127.0.0.1,
with a free port, and are always stopped at the end of the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from .conftest import Projects, answers_of, matrix, run
from .test_project import _customers, cli

KEY = "template-test-key-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(port: int, path: str, body: Any = None, key: str | None = KEY, raw: bytes | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request to the server on 127.0.0.1."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    call = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            text = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read(), error.code
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text.decode()


def declared_too_large(port: int) -> int:
    """Status for a request announcing a 2 MB body: the server answers before reading it (and may close)."""
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n["
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.encode())
        status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@contextmanager
def serving(project: Path, command: list[str], port: int, ready_path: str) -> Iterator[subprocess.Popen[bytes]]:
    """A server started by `command`, ready on `port`, stopped (with its children) on exit.

    Its output goes to a file, not a pipe: a chatty server must never block on a full pipe.
    """
    env = {**os.environ, f"{answers_of(project)['package_name'].upper()}_API_KEY": KEY}
    log = project / f"serve-{port}.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not become ready within 180 s:\n{log.read_text()[-4000:]}")
            try:
                if request(port, ready_path, key=None)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)


def first_records(project: Path, count: int) -> list[dict[str, Any]]:
    test = pd.read_parquet(project / "data/processed/test.parquet").drop(columns=["target"])
    records: list[dict[str, Any]] = json.loads(test.head(count).to_json(orient="records"))
    return records


@pytest.mark.parametrize("name", matrix("realtime-fastapi"))
def test_make_serve_answers_and_make_loadtest_reports_no_errors(projects: Projects, name: str) -> None:
    """The acceptance path: make train && make serve; authorized, unauthorized and malformed requests; load test."""
    project = projects.installed(name)
    run(["make", "train", "ARGS=training=fast"], cwd=project)
    port = free_port()
    with serving(project, ["make", "serve", f"ARGS=--port {port}"], port, "/ready"):
        records = first_records(project, 3)
        status, prediction = request(port, "/predict", records[0])
        assert status == 200
        assert {"label", "confidence", "probabilities", "model_version"} <= set(prediction)
        status, batch = request(port, "/predict", records)
        assert status == 200
        assert len(batch) == 3
        assert request(port, "/predict", records[0], key=None)[0] == 401
        assert request(port, "/predict", records[0], key="not-the-key-0123456789")[0] == 401
        status, refusal = request(port, "/predict", {**records[0], "no_such_feature": 1})
        assert status == 422
        assert refusal["detail"][0]["msg"] == "unknown feature 'no_such_feature'"
        assert declared_too_large(port) == 413
        assert request(port, "/health", key=None) == (200, {"status": "ok"})
        assert request(port, "/model")[1]["version"] == prediction["model_version"]
        env = {"FRAUD_SCORING_API_API_KEY": KEY}
        # Whether the latency SLAs pass depends on how busy this machine is, not on the project.
        loadtest = ["make", "loadtest", f"ARGS=--port {port} --duration 3 --connections 4"]
        load = run(loadtest, cwd=project, env=env, check=False)
        assert re.search(r"^errors\s+0 \(0.00 %\)", load.stdout, re.M), load.stdout
        assert re.search(r"^latency\s+p50 [\d.]+ ms, p99 [\d.]+ ms", load.stdout, re.M)
        status, metrics = request(port, "/metrics", key=None)
        assert 'http_requests_total{path="/predict",status="200"}' in metrics
        assert "model_batch_records_count" in metrics
        # Served rows reach the prediction log `drift` reads, written off the request path.
        prediction_log = project / "logs/predictions.jsonl"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not prediction_log.is_file():
            time.sleep(0.2)
        logged = [json.loads(line) for line in prediction_log.read_text().splitlines()]
        assert logged
        assert {line["model_version"] for line in logged} == {prediction["model_version"]}
        # The serving SLAs of configs/requirements.yaml are checked: a miss fails the run.
        assert re.search(r"^SLA\s+(pass|FAIL)  p99 [\d.]+ ms <= 200 ms$", load.stdout, re.M), load.stdout
        loadtest = [cli(project), "loadtest", "--port", str(port), "--duration", "2"]
        requirements = project / "configs/requirements.yaml"
        original = requirements.read_text()
        requirements.write_text(re.sub(r"(?m)^  throughput_rps: .*$", "  throughput_rps: 100000000", original))
        try:
            failed = run(loadtest, cwd=project, env=env, check=False)
        finally:
            requirements.write_text(original)
        assert failed.returncode == 1
        assert "SLA         FAIL  throughput" in failed.stdout


@pytest.mark.parametrize("name", matrix("realtime-fastapi"))
def test_the_server_refuses_to_start_with_one_line(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    run([cli(project), "train", "training=fast", f"paths.model_dir={tmp_path / 'model'}"], cwd=project)
    env = {"FRAUD_SCORING_API_API_KEY": KEY}
    (tmp_path / "model" / "model.skops").write_bytes(b"tampered")
    cases = [
        ([f"paths.model_dir={tmp_path / 'model'}"], env, "does not match its SHA-256"),
        ([f"paths.model_dir={tmp_path / 'nowhere'}"], env, "no model bundle in"),
        ([], {"FRAUD_SCORING_API_API_KEY": ""}, "set FRAUD_SCORING_API_API_KEY to the API key"),
        (["--no-auth", "--host", "0.0.0.0"], env, "--no-auth is for local development only"),
    ]
    for args, variables, message in cases:
        serve = [cli(project), "serve", "--port", str(free_port()), *args]
        result = run(serve, cwd=project, env=variables, check=False)
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("name", matrix("realtime-bentoml"))
def test_bentoml_serves_a_delivered_bundle_with_the_same_rules(projects: Projects, name: str) -> None:
    """An inference project gets a bundle from a training project and serves it with BentoML."""
    project = projects.installed(name)
    trainer = projects.installed("multiclass-training")
    run([cli(trainer), "train", "training=fast"], cwd=trainer)
    run(["rm", "-rf", str(project / "models/model")], cwd=project)
    run(["cp", "-r", str(trainer / "models/model"), str(project / "models/model")], cwd=project)
    run([cli(project), "evaluate"], cwd=project)  # caches the test split the requests come from
    port = free_port()
    with serving(project, [cli(project), "serve", "--port", str(port)], port, "/readyz"):
        records = first_records(project, 2)
        status, predictions = request(port, "/predict", {"records": records})
        assert status == 200
        assert len(predictions) == 2
        assert {p["label"] for p in predictions} <= {"class_0", "class_1", "class_2"}
        assert request(port, "/predict", {"records": records}, key=None)[0] == 401
        status, card = request(port, "/model")
        assert status == 200
        metadata = json.loads((project / "models/model/metadata.json").read_text())
        assert card["version"] == metadata["version"]
        assert card["schema"] == metadata["schema"]
        assert card["classes"] == ["class_0", "class_1", "class_2"]
        assert request(port, "/model", key=None)[0] == 401
        status, spec = request(port, "/docs.json")
        assert status == 200
        body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        record = spec["components"]["schemas"][body["properties"]["records"]["items"]["$ref"].rsplit("/", 1)[-1]]
        assert record["required"] == [feature["name"] for feature in metadata["schema"]["features"]]
        assert record["properties"]["alcohol"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
        status, refusal = request(port, "/predict", {"records": [{**records[0], "alcohol": "strong"}]})
        assert status == 422
        assert refusal["detail"][0]["msg"] == "record 0: feature 'alcohol' must be a number or null"
        env = {"CULTIVAR_SERVICE_API_KEY": KEY}
        loadtest = [cli(project), "loadtest", "--port", str(port), "--duration", "3"]
        load = run(loadtest, cwd=project, env=env, check=False)
        assert re.search(r"^errors\s+0 \(0.00 %\)", load.stdout, re.M), load.stdout


@pytest.mark.parametrize("name", matrix("realtime-fastapi"))
def test_serving_image_is_multi_stage_non_root_with_a_healthcheck(projects: Projects, name: str) -> None:
    """No Docker engine here: hadolint and the Dockerfile's own promises, checked statically."""
    project = projects.rendered(name)
    answers = answers_of(project)
    run([str(Path(sys.executable).parent / "hadolint"), "Dockerfile"], cwd=project)
    lines = [line.strip() for line in (project / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    stages = [line for line in instructions if line.startswith("FROM ")]
    assert len(stages) == 2
    assert stages[0].endswith(" AS build")
    assert stages[1].endswith(" AS runtime")
    final = instructions[instructions.index(stages[1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK ") for line in final)
    assert "http://127.0.0.1:8000/health" in "\n".join(final)
    assert "EXPOSE 8000" in final
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert f'ENTRYPOINT ["{answers["project_slug"]}"]' in final
    assert answers["project_slug"] in pyproject["project"]["scripts"]
    assert '".[serve]"' in "\n".join(instructions)
    assert "serve" in pyproject["project"]["optional-dependencies"]
    assert not [line for line in instructions if re.search(r"(KEY|TOKEN|SECRET|PASSWORD)=", line)]
    copies = [line.split()[1:-1] for line in instructions if line.startswith("COPY ") and "--from" not in line]
    for source in (part for parts in copies for part in parts if not part.startswith("--")):
        assert (project / source).exists() or source == "models/model", source
    ignore = (project / ".dockerignore").read_text().splitlines()
    assert ignore[1:2] == ["*"] or "*" in ignore
    for allowed in ("!src/", "!configs/", "!models/model/", "!pyproject.toml", "!README.md", "!LICENSE"):
        assert allowed in ignore


@pytest.mark.parametrize("name", matrix("edge-regression"))
@pytest.mark.parametrize("model", ["ridge", "random_forest"])
def test_edge_export_matches_native_on_the_users_own_data(
    projects: Projects, name: str, model: str, tmp_path: Path
) -> None:
    """Categories, missing values and ids: the ONNX export answers like the native model, or is not kept."""
    project = projects.installed(name)
    source = tmp_path / "customers.parquet"
    _customers(600, "regression").to_parquet(source)
    overrides = [
        f"model={model}",
        f"data.source={source}",
        "data.target=lifetime_value",
        "data.id_columns=[customer_id]",
        f"paths.processed_dir={tmp_path / 'processed'}",
        f"paths.model_dir={tmp_path / 'model'}",
        f"export.directory={tmp_path / 'edge'}",
    ]
    run([cli(project), "train", *overrides], cwd=project)
    exported = run([cli(project), "export", *overrides], cwd=project)
    assert "parity on 120 rows" in exported.stdout
    unseen = _customers(40, "regression").drop(columns=["lifetime_value"]).assign(plan=None)
    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    args = ["predict", "--input", str(tmp_path / "unseen.csv"), *overrides]
    native = [json.loads(line)["value"] for line in run([cli(project), *args], cwd=project).stdout.splitlines()]
    onnx = [json.loads(line)["value"] for line in run([cli(project), *args, "--onnx"], cwd=project).stdout.splitlines()]
    assert onnx == pytest.approx(native, rel=1e-4)


@pytest.mark.parametrize("name", matrix("edge-regression"))
def test_edge_projects_offer_no_unexportable_estimator(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    result = run([cli(project), "train", "model=hist_gradient_boosting"], cwd=project, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no model config named 'hist_gradient_boosting'")
    run(["make", "train", "ARGS=training=fast"], cwd=project)
    assert "parity on" in run(["make", "export"], cwd=project).stdout
    assert (project / "models/edge/model.onnx").is_file()


@pytest.mark.parametrize("name", matrix("deep-edge"))
def test_deep_learning_edge_export_answers_like_the_network(projects: Projects, name: str, tmp_path: Path) -> None:
    """`make train && make export`, then `predict --onnx` gives the native labels and probabilities."""
    project = projects.installed(name)
    quiet = {"OMP_NUM_THREADS": "1"}
    run(["make", "train", "ARGS=training=fast"], cwd=project, env=quiet)
    exported = run(["make", "export"], cwd=project, env=quiet)
    assert "parity on" in exported.stdout
    assert (project / "models/edge/model.onnx").is_file()
    from sklearn.datasets import load_wine

    rows = tmp_path / "rows.csv"
    load_wine(as_frame=True).frame.sample(20, random_state=0).to_csv(rows, index=False)
    predict = [cli(project), "predict", "--input", str(rows)]
    native = [json.loads(line) for line in run(predict, cwd=project).stdout.splitlines()]
    onnx = [json.loads(line) for line in run([*predict, "--onnx"], cwd=project).stdout.splitlines()]
    assert len(onnx) == 20
    assert [p["label"] for p in onnx] == [p["label"] for p in native]
    for ours, theirs in zip(onnx, native, strict=True):
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)


@pytest.mark.parametrize("name", matrix("deep-edge"))
def test_deep_learning_edge_export_matches_on_the_users_own_data(projects: Projects, name: str, tmp_path: Path) -> None:
    """Text categories, missing values and ids go through the exported preprocessing like the native one."""
    project = projects.installed(name)
    source = tmp_path / "customers.parquet"
    _customers(600, "multiclass-classification").to_parquet(source)
    overrides = [
        "training=fast",
        f"data.source={source}",
        "data.target=lifetime_value",
        "data.id_columns=[customer_id]",
        *(f"paths.{key}={tmp_path / key}" for key in ("processed_dir", "model_dir", "checkpoint_dir")),
        f"export.directory={tmp_path / 'edge'}",
    ]
    quiet = {"OMP_NUM_THREADS": "1"}
    run([cli(project), "train", *overrides], cwd=project, env=quiet)
    assert "parity on 120 rows" in run([cli(project), "export", *overrides], cwd=project, env=quiet).stdout
    unseen = _customers(40, "multiclass-classification").drop(columns=["lifetime_value"]).assign(plan=None)
    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    predict = [cli(project), "predict", "--input", str(tmp_path / "unseen.csv"), *overrides]
    native = [json.loads(line) for line in run(predict, cwd=project).stdout.splitlines()]
    onnx = [json.loads(line) for line in run([*predict, "--onnx"], cwd=project).stdout.splitlines()]
    assert [p["label"] for p in onnx] == [p["label"] for p in native]
    assert [p["confidence"] for p in onnx] == pytest.approx([p["confidence"] for p in native], abs=1e-5)
