"""Drift of 1,000,000 rows x 50 features against a 200,000-row reference: generated code vs a plain loop.

Renders the default project from this working tree and times, each in a fresh process
(so peak memory is that run's own):

- baseline: the plain approach, per column a PSI over the reference's deciles with
  `np.histogram` plus `scipy.stats.ks_2samp` on the raw reference and current values;
- generated `compare`: the project's monitoring/drift.py on the same data in memory, against a
  reference profile built from the same 200,000 rows (profile building is timed too, it
  happens at training time);
- the generated code reading the Parquet file the way `drift` does (column by column);
- the generated `drift` command end to end on a Parquet file, features only and with
  prediction drift, against a model trained on the 200,000 reference rows.

It also reports how far the generated PSI and KS statistics are from the baseline's.

    python benchmarks/drift.py [--rows 1000000] [--reference-rows 200000] [--features 50] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COPIER = str(Path(sys.executable).parent / "copier")
RESULTS = Path(__file__).resolve().parent / "results" / "drift.json"
PACKAGE, SLUG = "drift_bench", "drift-bench"

# Each measurement runs in its own interpreter and prints one JSON line with its results;
# MEASURED starts it and adds its peak memory.
BASELINE = """
import json, sys, time
import numpy as np, pandas as pd
from scipy import stats
started = time.perf_counter()
reference = pd.read_parquet(sys.argv[1]).to_numpy()
current = pd.read_parquet(sys.argv[2]).to_numpy()
read_seconds = time.perf_counter() - started
started = time.perf_counter()
psi, ks = [], []
for j in range(reference.shape[1]):
    ref, cur = reference[:, j], current[:, j]
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.maximum(np.histogram(ref, edges)[0] / len(ref), 1e-4)
    actual = np.maximum(np.histogram(cur, edges)[0] / len(cur), 1e-4)
    psi.append(float(np.sum((actual - expected) * np.log(actual / expected))))
    ks.append(float(stats.ks_2samp(ref, cur).statistic))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "read_seconds": read_seconds, "psi": psi, "ks": ks}))
"""
GENERATED = f"""
import json, sys, time
import pandas as pd
sys.path.insert(0, sys.argv[3])
from {PACKAGE}.monitoring.drift import Bands, compare
from {PACKAGE}.monitoring.profile import build_profile
reference = pd.read_parquet(sys.argv[1])
started = time.perf_counter()
profile = build_profile(reference, pd.DataFrame(index=reference.index))
profile_seconds = time.perf_counter() - started
del reference
current = pd.read_parquet(sys.argv[2])
started = time.perf_counter()
result = compare(profile, current, None, Bands())
seconds = time.perf_counter() - started
print(json.dumps({{
    "seconds": seconds, "profile_seconds": profile_seconds,
    "psi": [c.psi for c in result.features], "ks": [c.statistic for c in result.features],
}}))
"""
# What `drift --skip-predictions` does with a Parquet file, minus process start: each profiled
# column read on its own and tallied (time includes reading).
GENERATED_FROM_FILE = f"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from {PACKAGE}.monitoring.drift import Bands, Tally
from {PACKAGE}.monitoring.monitor import read_data_source
from {PACKAGE}.monitoring.profile import load_profile
from {PACKAGE}.serving.predictor import Predictor
model = Path(sys.argv[1])
predictor, profile = Predictor.load(model), load_profile(model)
started = time.perf_counter()
tally = Tally(profile)
read_data_source(Path(sys.argv[2]), predictor, tally, predict=False, chunk_rows=100_000)
result = tally.result(Bands())
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "rows": tally.rows}}))
"""
# Runs a command and adds its wall time and peak memory to what it printed. The wrapper is a
# small process, so the command's peak is its own, not the benchmark's (Linux carries a
# process's high-water mark across exec).
MEASURED = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
completed = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
lines = completed.stdout.strip().splitlines()
printed = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
tail = (completed.stdout + completed.stderr)[-3000:]
print(json.dumps({"wall_seconds": seconds, "peak_mb": peak, "returncode": completed.returncode, "tail": tail,
                  **printed}))
"""


def tables(rows: int, reference_rows: int, features: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables; in the current one every fifth feature has moved a little."""
    rng = np.random.default_rng(0)
    names = [f"f{j:02d}" for j in range(features)]
    scales = rng.uniform(0.5, 5.0, features)
    reference = pd.DataFrame(rng.normal(size=(reference_rows, features)) * scales, columns=names)
    shift = np.where(np.arange(features) % 5 == 0, 0.1, 0.0) * scales
    current = pd.DataFrame(rng.normal(size=(rows, features)) * scales + shift, columns=names)
    return reference, current


def render_project(into: Path) -> Path:
    project = into / "project"
    command = [COPIER, "copy", "--trust", "--defaults", "--quiet", "--skip-tasks", "--vcs-ref", "HEAD"]
    subprocess.run([*command, "-d", "project_name=Drift Bench", str(ROOT), str(project)], check=True)
    return project


def measured(command: list[str], accept: tuple[int, ...] = (0,)) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout)
    if result["returncode"] not in accept:
        raise SystemExit(f"measurement failed:\n{result['tail']}")
    return result


def script(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code), *args]


def train_reference_model(project: Path, reference: pd.DataFrame, scratch: Path) -> list[str]:
    """Train the project's default model so that its training split is exactly the reference rows."""
    labelled = reference.assign(target=np.where(reference.iloc[:, :5].sum(axis=1) > 0, "high", "low"))
    # 60% of the rows become the training split: make that the reference size.
    extra = labelled.sample(n=round(len(labelled) / 0.6) - len(labelled), replace=True, random_state=1)
    source = scratch / "labelled.parquet"
    pd.concat([labelled, extra], ignore_index=True).to_parquet(source)
    overrides = [
        f"data.source={source}",
        "data.positive_class=high",
        "training.cv_folds=0",
        "training.max_train_rows=null",
        f"paths.processed_dir={scratch / 'processed'}",
        f"paths.model_dir={scratch / 'model'}",
        f"paths.reports_dir={scratch / 'reports'}",
    ]
    # The project's command, run from its sources with this environment's packages.
    launcher = f"import sys; sys.path.insert(0, {str(project / 'src')!r}); from {PACKAGE}.cli import main; "
    command = [sys.executable, "-c", launcher + "raise SystemExit(main(sys.argv[1:]))"]
    command += ["--config-dir", str(project / "configs")]
    trained = subprocess.run([*command, "train", *overrides], capture_output=True, text=True, check=False)
    if trained.returncode != 0:
        raise SystemExit(f"training the reference model failed:\n{trained.stderr[-3000:]}")
    return [*command, "drift", *overrides]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--no-save", action="store_true", help="print only, do not update results/drift.json")
    parser.add_argument("--smoke", action="store_true", help="tiny tables, results not saved (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.reference_rows, args.features, args.no_save = 20_000, 5_000, 5, True

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        project = render_project(scratch)
        reference, current = tables(args.rows, args.reference_rows, args.features)
        reference_file, current_file = scratch / "reference.parquet", scratch / "current.parquet"
        reference.to_parquet(reference_file)
        current.to_parquet(current_file)

        drift_command = train_reference_model(project, reference, scratch)
        del reference, current
        baseline = measured(script(BASELINE, str(reference_file), str(current_file)))
        src = str(project / "src")
        generated = measured(script(GENERATED, str(reference_file), str(current_file), src))
        streaming = measured(script(GENERATED_FROM_FILE, str(scratch / "model"), str(current_file), src))
        drift_command += ["--input", str(current_file)]
        # Exit status 1: an alert fired, as it should on this shifted data.
        features_only = measured([*drift_command, "--skip-predictions"], accept=(0, 1))
        with_predictions = measured(drift_command, accept=(0, 1))

    psi_gap = float(np.max(np.abs(np.subtract(generated["psi"], baseline["psi"]))))
    ks_gap = float(np.max(np.abs(np.subtract(generated["ks"], baseline["ks"]))))
    result = {
        "machine": f"{platform.node()} ({platform.machine()}, {platform.python_version()})",
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "features": args.features,
        "baseline_numpy_psi_scipy_ks_s": round(baseline["seconds"], 3),
        "baseline_read_s": round(baseline["read_seconds"], 3),
        "baseline_peak_mb": round(baseline["peak_mb"]),
        "generated_compare_s": round(generated["seconds"], 3),
        "generated_compare_peak_mb": round(generated["peak_mb"]),
        "speedup_vs_baseline": round(baseline["seconds"] / generated["seconds"], 1),
        "generated_from_file_s": round(streaming["seconds"], 3),
        "generated_from_file_peak_mb": round(streaming["peak_mb"]),
        "profile_build_s": round(generated["profile_seconds"], 3),
        "drift_command_features_only_s": round(features_only["wall_seconds"], 2),
        "drift_command_features_only_peak_mb": round(features_only["peak_mb"]),
        "drift_command_with_predictions_s": round(with_predictions["wall_seconds"], 2),
        "drift_command_with_predictions_peak_mb": round(with_predictions["peak_mb"]),
        "max_psi_difference": round(psi_gap, 4),
        "max_ks_difference": round(ks_gap, 4),
    }
    lines = [
        ("baseline (numpy PSI + scipy ks_2samp)", "baseline_numpy_psi_scipy_ks_s", "baseline_peak_mb"),
        ("  reading both files for it", "baseline_read_s", None),
        ("generated compare, data in memory", "generated_compare_s", "generated_compare_peak_mb"),
        ("generated, reading the file column by column", "generated_from_file_s", "generated_from_file_peak_mb"),
        ("reference profile (at training)", "profile_build_s", None),
        ("`drift` command, features only", "drift_command_features_only_s", "drift_command_features_only_peak_mb"),
        (
            "`drift` command, with predictions",
            "drift_command_with_predictions_s",
            "drift_command_with_predictions_peak_mb",
        ),
    ]
    print(f"drift, {args.rows:,} x {args.features} against {args.reference_rows:,} reference rows")
    for label, seconds, peak in lines:
        memory = f"{result[peak]:6d} MB peak" if peak else ""
        print(f"  {label:<46} {result[seconds]:7.2f} s {memory}")
    print(f"  generated compare is {result['speedup_vs_baseline']}x faster than the baseline (computation only)")
    print("  (peaks are whole-process; the in-memory runs hold both tables as read by pandas; the commands")
    print("   add process start, imports and loading the model; predictions read the file in row chunks)")
    print(f"  agreement with the baseline: PSI within {psi_gap:.4f}, KS statistic within {ks_gap:.4f}")
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
