"""Median `copier copy` time (tasks skipped) for copier-ml, against a one-file template in the same run.

Both templates are tagged git repositories copied the way a user copies them
(`copier copy --trust --defaults --skip-tasks`), so cloning, question rendering and
file writing are all counted. The one-file template is Copier's own floor on this
machine: the ratio is what copier-ml adds on top of it.

    python benchmarks/generate.py [--runs 7] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIER = str(Path(sys.executable).parent / "copier")
RESULTS = Path(__file__).resolve().parent / "results" / "generate.json"
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com"}
GIT_ENV |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com"}

ANSWER_SETS = {
    "default": ["project_name=Churn Risk"],
    # Every optional part switched on: the most files and the most template logic.
    "largest": [
        "project_name=Churn Risk",
        "task_type=multiclass-classification",
        "project_phase=both",
        "serving_pattern=batch",
        "use_notebooks=true",
        "ci_provider=github",
        "license=Apache-2.0",
        "use_dvc=true",
        "dvc_remote=s3://ml-data/churn-risk",
        "experiment_tracking=mlflow",
        "hyperparameter_search=optuna",
    ],
}


def tagged_repository(files: dict[str, Path | str], into: Path) -> Path:
    """A git repository holding `files` (copied paths or literal text), tagged v1.0.0."""
    into.mkdir(parents=True)
    for name, source in files.items():
        target = into / name
        if isinstance(source, str):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source)
        elif source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    env = {**GIT_ENV, "PATH": "/usr/bin:/bin"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v1.0.0"], ["tag", "v1.0.0"]):
        subprocess.run(["git", *command], cwd=into, check=True, env=env)
    return into


def median_copy_seconds(template: Path, answers: list[str], runs: int, scratch: Path) -> float:
    times = []
    for i in range(runs):
        destination = scratch / f"out-{template.name}-{i}"
        command = [COPIER, "copy", "--trust", "--defaults", "--skip-tasks", "--quiet"]
        command += [arg for answer in answers for arg in ("-d", answer)]
        started = time.perf_counter()
        subprocess.run([*command, str(template), str(destination)], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
        shutil.rmtree(destination)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one run each, results not saved (CI)")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        copier_ml = tagged_repository(
            {name: ROOT / name for name in ("copier.yml", "template", "extensions")}, scratch / "copier-ml"
        )
        floor = tagged_repository(
            {"copier.yml": "_subdirectory: t\nname:\n  type: str\n  default: x\n", "t/README.md.jinja": "{{ name }}\n"},
            scratch / "one-file",
        )
        baseline = median_copy_seconds(floor, ["name=bench"], runs, scratch)
        results = {"machine": f"{platform.node()} ({platform.machine()}, {platform.python_version()})", "runs": runs}
        results["one_file_template_s"] = round(baseline, 3)
        print(f"one-file template (Copier's floor): {baseline:.2f}s")
        for name, answers in ANSWER_SETS.items():
            seconds = median_copy_seconds(copier_ml, answers, runs, scratch)
            results[f"{name}_s"] = round(seconds, 3)
            results[f"{name}_vs_floor"] = round(seconds / baseline, 2)
            print(f"copier-ml {name:<8} {seconds:.2f}s  ({seconds / baseline:.2f}x the floor)")
    if not args.smoke:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"saved to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
