"""Answer sets, rendering and installation of generated projects, shared by the template's tests.

Each project in MATRIX is rendered once per test session (per xdist worker) with
pytest-copie and, when a test needs to run it, installed into a `.venv` inside the
project that reuses this environment's packages: the generated Makefile then works
exactly as it does for a user, without resolving or downloading anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_FILES = ("copier.yml", "template", "extensions")
COPIER = str(Path(sys.executable).parent / "copier")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}

# Curated answer sets: together they use every value of every question at least once
# (tests/test_questionnaire.py checks that). Each has its own project name, so packages
# and console scripts never collide.
MATRIX: dict[str, dict[str, Any]] = {
    "default": {"project_name": "Churn Risk"},
    "multiclass-training": {
        "project_name": "Wine Quality",
        "task_type": "multiclass-classification",
        "project_phase": "training",
        "serving_pattern": "none",
        "ci_provider": "gitlab",
        "python_version": "3.10",
        "license": "Apache-2.0",
        "use_notebooks": False,
    },
    "regression-inference": {
        "project_name": "Disease Progression Service",
        "task_type": "regression",
        "project_phase": "inference",
        "serving_pattern": "batch",
        "ci_provider": "none",
        "python_version": "3.12",
        "license": "BSD-3-Clause",
    },
    "regression-both": {
        "project_name": "Price Model",
        "package_name": "pricing",
        "task_type": "regression",
        "python_version": "3.13",
        "license": "Proprietary",
        "use_notebooks": False,
    },
    "binary-inference": {
        "project_name": "Tumour Triage",
        "project_phase": "inference",
        "ci_provider": "gitlab",
    },
    # Deep learning (PyTorch): every task type, differential privacy on and off, DDP, inference.
    "deep-binary": {"project_name": "Deep Churn", "model_type": "deep-learning"},
    "deep-multiclass-ddp": {
        "project_name": "Deep Wine",
        "model_type": "deep-learning",
        "task_type": "multiclass-classification",
        "project_phase": "training",
        "serving_pattern": "none",
        "distributed_training": "ddp",
        "experiment_tracking": "wandb",
        "ci_provider": "gitlab",
        "use_notebooks": False,
    },
    "deep-regression-dp": {
        "project_name": "Private Progression",
        "model_type": "deep-learning",
        "task_type": "regression",
        "differential_privacy": True,
        "dp_target_epsilon": 4.0,
        "dp_target_delta": 1e-6,
        "dp_max_grad_norm": 1.5,
        "experiment_tracking": "mlflow",
        "python_version": "3.12",
    },
    "deep-binary-inference": {
        "project_name": "Deep Triage Service",
        "model_type": "deep-learning",
        "project_phase": "inference",
        "ci_provider": "none",
        "use_notebooks": False,
    },
    "realtime-fastapi": {
        "project_name": "Fraud Scoring API",
        "serving_pattern": "realtime",
        "serving_backend": "fastapi",
        "use_docker": True,
        "use_notebooks": False,
    },
    "realtime-bentoml": {
        "project_name": "Cultivar Service",
        "task_type": "multiclass-classification",
        "project_phase": "inference",
        "serving_pattern": "realtime",
        "serving_backend": "bentoml",
        "use_docker": False,
        "python_version": "3.12",
        "ci_provider": "none",
        "use_notebooks": False,
    },
    "edge-regression": {
        "project_name": "Edge Dosage",
        "task_type": "regression",
        "serving_pattern": "edge",
        "python_version": "3.10",
        "license": "Apache-2.0",
        "use_notebooks": False,
    },
    # Edge export of a PyTorch network: preprocessing, network and softmax in one ONNX graph.
    "deep-edge": {
        "project_name": "Deep Edge Cultivar",
        "model_type": "deep-learning",
        "task_type": "multiclass-classification",
        "serving_pattern": "edge",
        "ci_provider": "none",
        "use_notebooks": False,
    },
    # MLOps integrations (tests/test_mlops.py): a DVC pipeline with each tracker, Optuna in both.
    "dvc-mlflow-optuna": {
        "project_name": "Fraud Signals",
        "use_dvc": True,
        "dvc_remote": "/srv/dvc-storage/fraud-signals",
        "experiment_tracking": "mlflow",
        "hyperparameter_search": "optuna",
    },
    "dvc-wandb-optuna": {
        "project_name": "House Prices",
        "task_type": "regression",
        "project_phase": "training",
        "serving_pattern": "none",
        "use_dvc": True,
        "dvc_remote": "s3://ml-data/house-prices",
        "experiment_tracking": "wandb",
        "hyperparameter_search": "optuna",
        "use_notebooks": False,
    },
    # Deep learning with Optuna: trials pruned by epoch, the best as model + training configs, tracked.
    "deep-optuna": {
        "project_name": "Deep Tuned Churn",
        "model_type": "deep-learning",
        "hyperparameter_search": "optuna",
        "experiment_tracking": "mlflow",
        "ci_provider": "none",
        "use_notebooks": False,
    },
    # Serves the champion that Fraud Signals registers in MLflow.
    "mlflow-inference": {
        "project_name": "Fraud Scoring",
        "project_phase": "inference",
        "experiment_tracking": "mlflow",
    },
    # Requirement answers other than the defaults (tests/test_requirements.py reads them back).
    "requirements-binary": {
        "project_name": "Fraud Screening",
        "business_problem": "Hold back card payments that are likely fraudulent before settlement",
        "business_kpi": "fraud losses per 1,000 payments",
        "primary_metric": "pr_auc",
        "primary_threshold": 0.91,
        "secondary_metric": "recall",
        "secondary_threshold": 0.83,
        "latency_p50_ms": 25.0,
        "latency_p99_ms": 120.0,
        "throughput_rps": 350.0,
        "protected_attributes": ["sex", "age_band"],
        "fairness_metric": "equalized_odds_difference",
        "fairness_max_gap": 0.07,
        "psi_threshold": 0.15,
        "outcome_critical": 0.9,
        "outcome_warning": 0.93,
        "availability_percent": 99.5,
        "use_notebooks": False,
    },
    "requirements-multiclass": {
        "project_name": "Wine Grading",
        "task_type": "multiclass-classification",
        "project_phase": "inference",
        "ci_provider": "none",
        "python_version": "3.12",
        "use_notebooks": False,
        "primary_metric": "accuracy",
        "primary_threshold": 0.85,
        "secondary_metric": "none",
        "protected_attributes": ["region"],
        "fairness_metric": "demographic_parity_difference",
        "fairness_max_gap": 0.2,
    },
}
FAST_MATRIX = ("default",)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", help="one answer set, no slow tests (make test-fast)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: installs from the package index or runs for minutes")
    config.addinivalue_line("markers", "thorough: a second angle on what the fast subset covers; make test only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    skip = pytest.mark.skip(reason="not in the fast subset (--fast)")
    for item in items:
        name = getattr(item, "callspec", None) and item.callspec.params.get("name")
        if item.get_closest_marker("slow") or item.get_closest_marker("thorough") or (name and name not in FAST_MATRIX):
            item.add_marker(skip)


def matrix(*names: str) -> list[Any]:
    """Parameters for answer sets, grouped so xdist renders each project on one worker."""
    return [pytest.param(name, marks=pytest.mark.xdist_group(name), id=name) for name in (names or MATRIX)]


def run(
    command: list[str] | str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command the way a user would; on failure, show what it printed."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        shell=isinstance(command, str),
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{command} failed with {result.returncode} in {cwd}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd, env=GIT_IDENTITY).stdout.strip()


def commit_and_tag(repository: Path, tag: str) -> None:
    """Everything in the working tree as one commit, tagged: a template release."""
    git(repository, "add", "-A")
    git(repository, "commit", "--quiet", "-m", tag)
    git(repository, "tag", tag)


def copy_template(into: Path) -> Path:
    """The template's files as they are in the working tree, uncommitted edits included."""
    into.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        source = TEMPLATE_ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    return into


@pytest.fixture(scope="session")
def template_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working-tree template outside git, so renders need no clone."""
    return copy_template(tmp_path_factory.mktemp("template"))


class Projects:
    """Renders and installs the MATRIX projects lazily, each at most once per session."""

    def __init__(self, copie: Any, template: Path) -> None:
        self._copie = copie
        self._template = template
        self._rendered: dict[str, Path] = {}
        self._files: dict[str, frozenset[str]] = {}
        self._installed: set[str] = set()

    def rendered(self, name: str) -> Path:
        if name not in self._rendered:
            result = self._copie.copy(extra_answers=MATRIX[name], template_dir=self._template)
            assert result.exit_code == 0, result.exception
            self._rendered[name] = result.project_dir
            self._files[name] = frozenset(
                path.relative_to(result.project_dir).as_posix()
                for path in result.project_dir.rglob("*")
                if path.is_file() and ".git" not in path.relative_to(result.project_dir).parts
            )
        return self._rendered[name]

    def files(self, name: str) -> frozenset[str]:
        """What Copier wrote, before any test ran the project and added outputs."""
        self.rendered(name)
        return self._files[name]

    def installed(self, name: str) -> Path:
        project = self.rendered(name)
        if name not in self._installed:
            install_reusing_this_environment(project)
            self._installed.add(name)
        return project


@pytest.fixture(scope="session")
def projects(copie_session: Any, template_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Projects:
    # One mypy cache per test worker: the projects' `make lint` analyse numpy, pandas and torch once.
    os.environ["MYPY_CACHE_DIR"] = str(tmp_path_factory.mktemp("mypy-cache"))
    return Projects(copie_session, template_snapshot)


# Imported at start-up by a classical project's .venv: PyTorch is in this environment for the
# deep-learning projects, but a classical project's users do not have it, and scikit-learn's
# estimator discovery (run by skops) would import it, seconds per process, if it were visible.
WITHOUT_PYTORCH = """import sys
from importlib.abc import MetaPathFinder


class WithoutPyTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"torch", "opacus", "safetensors"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, WithoutPyTorch())
"""


def install_reusing_this_environment(project: Path) -> None:
    """`make install`, minus the downloads: a .venv that sees this environment's packages."""
    venv = project / ".venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=project)
    site_packages = next((venv / "lib").glob("python*/site-packages"))
    (site_packages / "_template_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if answers_of(project)["model_type"] == "classical":
        (site_packages / "_without_pytorch.py").write_text(WITHOUT_PYTORCH)
        (site_packages / "_without_pytorch.pth").write_text("import _without_pytorch\n")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            # Only this machine's Python runs here; projects for a newer minimum still run on it.
            "--ignore-requires-python",
            "-e",
            str(project),
        ],
        cwd=project,
    )


def answers_of(project: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], message: str, destination: Path) -> None:
    """Copier stopped on a validator: one line (beside library warnings) naming the answer, nothing written."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "Warning" not in line and "warn(" not in line]
    lines = [line for line in lines if not line.startswith("No git tags")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("copier-ml refused an answer: " + message), lines[0]
    assert not destination.exists()


@pytest.fixture
def copier_cli(tmp_path: Path) -> Any:
    """`copier copy` exactly as a user types it, from the working tree."""

    def copy(
        *data: str,
        skip_tasks: bool = True,
        destination: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: int = 120,
    ) -> subprocess.CompletedProcess[str]:
        target = destination or tmp_path / "project"
        command = [COPIER, "copy", "--trust", "--defaults", "--quiet"]
        command += ["--vcs-ref", "HEAD"] + (["--skip-tasks"] if skip_tasks else [])
        for item in data:
            command += ["-d", item]
        return run([*command, str(TEMPLATE_ROOT), str(target)], cwd=tmp_path, env=env, check=False, timeout=timeout)

    return copy
