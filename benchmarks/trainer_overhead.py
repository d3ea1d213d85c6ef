"""Samples per second of the generated PyTorch trainer against a bare loop, same model, data and batch size.

Renders a deep-learning project from the working tree, then trains the project's own
network on 200,000 x 32 synthetic tabular rows (batch 256) two ways, alternating, in one run:

- bare: the reference loop of DESIGN.md section 7, a random permutation each epoch and
  slices of pre-built tensors; zero_grad, forward, loss, backward, AdamW step. Nothing else.
- bare, fused AdamW: the same loop with the optimizer implementation the trainer uses, so
  the ratio against it is the cost of everything else the trainer does.
- trainer: the generated `training.loop.fit` with everything it does in a real run: the
  configured DataLoader (whole batches by index), autocast context, gradient clipping, the
  warm-up/cosine schedule per step, loss accumulation, validation on 20,000 rows after every
  epoch, early-stopping bookkeeping and a checkpoint (`last.pt`, `best.pt`) after every epoch.

Throughput is training rows per second of wall time, epochs included whole. Each round runs
the three loops back to back (in a rotating order); the reported ratios are medians of the
per-round ratios, which cancels most of the drift of a shared machine. DESIGN.md's target
is trainer / bare >= 0.95. All run on one thread by default, so the machine's other load
disturbs them least; `--threads` changes that for all.

    python benchmarks/trainer_overhead.py [--rounds 6] [--epochs 2] [--threads 1] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COPIER = str(Path(sys.executable).parent / "copier")
RESULTS = Path(__file__).resolve().parent / "results" / "trainer_overhead.json"
PACKAGE = "bench_trainer"
ROWS, FEATURES, VAL_ROWS, BATCH = 200_000, 32, 20_000, 256


def render_project(scratch: Path) -> Path:
    """A deep-learning project rendered from the working tree (uncommitted edits included)."""
    template = scratch / "template"
    template.mkdir()
    for name in ("copier.yml", "template", "extensions"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, template / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, template / name)
    project = scratch / "project"
    answers = ["project_name=Bench Trainer", "model_type=deep-learning", "project_phase=training"]
    command = [COPIER, "copy", "--trust", "--defaults", "--skip-tasks", "--quiet"]
    command += [arg for answer in answers for arg in ("-d", answer)]
    subprocess.run([*command, str(template), str(project)], check=True, capture_output=True)
    return project


def synthetic_data(torch: ModuleType) -> tuple[Any, Any, Any, Any]:
    """Standardised features and a binary label that depends on a few of them, plus noise."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(ROWS + VAL_ROWS, FEATURES, generator=generator)
    weights = torch.randn(FEATURES, generator=generator) * (torch.arange(FEATURES) < 8)
    noise = torch.randn(ROWS + VAL_ROWS, generator=generator)
    labels = ((features @ weights + noise) > 0).long()
    return features[:ROWS], labels[:ROWS], features[ROWS:], labels[ROWS:]


def bare_loop(torch: ModuleType, network: Any, x: Any, y: Any, epochs: int, fused: bool = False) -> float:
    """DESIGN.md's reference: slices of pre-built tensors in a new random order each epoch."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=0.01, fused=fused)
    loss_fn = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(network(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
    return epochs * len(x) / (time.perf_counter() - started)


def generated_trainer(
    modules: dict[str, ModuleType], network: Any, data: tuple[Any, ...], epochs: int, checkpoints: Path
) -> float:
    """The project's own loop, set up the way its trainer sets it up."""
    torch, numpy = modules["torch"], modules["numpy"]
    config_module, loaders, loop, optim, trainer, checkpoint_store = (
        modules[name] for name in ("config", "loaders", "loop", "optim", "trainer", "checkpoints")
    )
    x, y, val_x, val_y = data
    config = config_module.TrainingConfig(
        batch_size=BATCH, epochs=epochs, warmup_epochs=0, early_stopping_patience=None
    )
    device = torch.device("cpu")
    train_data = loaders.TensorTable(x.numpy(), y.numpy())
    val_data = loaders.TensorTable(val_x.numpy(), val_y.numpy())
    batches = loaders.training_batches(train_data, config, seed=0, device=device)
    optimizer = optim.build_optimizer(network, config)
    loss_fn = torch.nn.CrossEntropyLoss()
    classes = numpy.array([0, 1])
    validate = trainer._validator(network, val_data, val_y.numpy(), loss_fn, device, classes, 1)
    run = loop.Run(
        model=network,
        network=network,
        optimizer=optimizer,
        schedule=optim.Schedule(optimizer, config, steps_per_epoch=len(batches)),
        loss_fn=loss_fn,
        batches=batches,
        validate=validate,
        device=device,
        autocast_dtype=None,
        grad_clip_norm=config.grad_clip_norm,
        show_progress=False,
    )
    started = time.perf_counter()
    loop.fit(
        run,
        epochs=epochs,
        patience=None,
        checkpoints=checkpoint_store.Checkpoints(checkpoints),
        fingerprint="benchmark",
    )
    return epochs * len(x) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds of the three loops; medians are reported")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both loops")
    parser.add_argument("--smoke", action="store_true", help="one short round, results not saved (CI)")
    args = parser.parse_args()
    rounds, epochs = (1, 1) if args.smoke else (args.rounds, args.epochs)

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        project = render_project(scratch)
        sys.path.insert(0, str(project / "src"))
        import numpy
        import torch

        torch.set_num_threads(args.threads)
        modules: dict[str, ModuleType] = {"torch": torch, "numpy": numpy}
        for name, module in [
            ("config", "config"),
            ("loaders", "data.loaders"),
            ("loop", "training.loop"),
            ("optim", "training.optim"),
            ("trainer", "training.trainer"),
            ("checkpoints", "training.checkpoints"),
            ("network", "models.network"),
        ]:
            modules[name] = importlib.import_module(f"{PACKAGE}.{module}")
        data = synthetic_data(torch)
        model_config = modules["config"].ModelConfig()

        def fresh_network() -> Any:
            torch.manual_seed(0)
            return modules["network"].from_config(model_config, FEATURES, 2)

        loops = {
            "bare": lambda _: bare_loop(torch, fresh_network(), data[0], data[1], epochs),
            "bare_fused": lambda _: bare_loop(torch, fresh_network(), data[0], data[1], epochs, fused=True),
            "trainer": lambda folder: generated_trainer(modules, fresh_network(), data, epochs, folder),
        }
        speeds: dict[str, list[float]] = {name: [] for name in loops}
        for round_number in range(rounds):
            names = list(loops)[round_number % 3 :] + list(loops)[: round_number % 3]
            for name in names:
                speeds[name].append(loops[name](scratch / f"checkpoints-{round_number}"))
            print(f"round {round_number + 1}: " + ", ".join(f"{n} {speeds[n][-1]:,.0f} rows/s" for n in loops))

    ratio = statistics.median(t / b for t, b in zip(speeds["trainer"], speeds["bare"], strict=True))
    fused_ratio = statistics.median(t / b for t, b in zip(speeds["trainer"], speeds["bare_fused"], strict=True))
    architecture = model_config.params
    results = {
        "machine": f"{platform.node()} ({platform.machine()}, {platform.python_version()}, torch {torch.__version__})",
        "data": f"{ROWS} x {FEATURES} train, {VAL_ROWS} val, batch {BATCH}",
        "network": f"mlp depth {architecture.depth} width {architecture.width} {architecture.normalization} norm",
        "threads": args.threads,
        "rounds": rounds,
        "epochs_per_round": epochs,
        **{f"{name}_rows_per_s": round(statistics.median(values)) for name, values in speeds.items()},
        "trainer_vs_bare": round(ratio, 3),
        "trainer_vs_bare_fused": round(fused_ratio, 3),
    }
    print(", ".join(f"{name} {statistics.median(values):,.0f} rows/s" for name, values in speeds.items()))
    print(f"trainer / bare loop: {ratio:.3f}; trainer / bare loop with fused AdamW: {fused_ratio:.3f}")
    if not args.smoke:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"saved to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
