"""Sets a freshly copied project up: virtualenv, DVC data, git hooks, first commit.

Copier runs this (not a Jinja extension) as a `_tasks` entry, on copy only and only when
the user answered yes to `setup_environment`, inside the new project, with Copier's own
Python and the answers as one JSON argument. It uses the standard library alone.

Every step prints what it does. A step whose tool is missing or that fails prints the
command to run by hand, undoes what it half did, and the remaining steps still run;
the script always exits 0 so that Copier keeps the generated project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "copier-ml:"
VENV = Path(".venv")
BIN = VENV / "bin"


class StepFailed(Exception):
    """A step could not finish; the message says why in one line."""


@dataclass
class Setup:
    python_version: str
    project_slug: str
    extras: str
    use_dvc: bool
    dataset_file: str
    use_notebooks: bool
    author_name: str
    author_email: str
    manual: list[str] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], None], manual: str, undo: Callable[[], None] | None = None) -> bool:
        """Run one step; on failure undo it, print the manual command, and carry on."""
        say(f"{title} ...")
        try:
            action()
        except StepFailed as problem:
            if undo is not None:
                undo()
            say(f"  could not {title.lower()}: {problem}")
            say(f"  run it yourself: {manual}")
            self.manual.append(manual)
            return False
        say("  done")
        return True

    # --- the steps ------------------------------------------------------------------

    def create_environment(self) -> None:
        python = shutil.which(f"python{self.python_version}") or shutil.which("python3")
        if python is None:
            raise StepFailed(f"neither python{self.python_version} nor python3 is on PATH")
        run([python, "-m", "venv", str(VENV)])
        run([str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", f".[{self.extras}]"])

    def track_data(self) -> None:
        run([str(BIN / self.project_slug), "bundled-data", "--output", self.dataset_file])
        run([str(BIN / "dvc"), "add", "--quiet", self.dataset_file])

    def untrack_data(self) -> None:
        for path in (Path(self.dataset_file), Path(self.dataset_file + ".dvc")):
            path.unlink(missing_ok=True)

    def install_nbstripout(self) -> None:
        run([str(BIN / "nbstripout"), "--install"])

    def install_pre_commit(self) -> None:
        run([str(BIN / "pre-commit"), "install"])

    def first_commit(self) -> None:
        identity = self._identity()
        run(["git", "add", "--all"])
        try:
            run(["git", *identity, "commit", "--quiet", "-m", "Generate the project with copier-ml"])
        except StepFailed:
            # Hooks that fix files (end of file, formatting) fail the first try: stage their fixes once.
            run(["git", "add", "--all"])
            run(["git", *identity, "commit", "--quiet", "-m", "Generate the project with copier-ml"])

    def unstage(self) -> None:
        subprocess.run(["git", "reset", "--quiet"], capture_output=True, check=False)

    def _identity(self) -> list[str]:
        """Commit as the configured git user; without one, as the project's author."""
        configured = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True, check=False)
        if configured.stdout.strip():
            return []
        return ["-c", f"user.name={self.author_name}", "-c", f"user.email={self.author_email}"]


def say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def run(command: Sequence[str]) -> None:
    """Run a command quietly; raise StepFailed with its last line of output when it fails."""
    if shutil.which(command[0]) is None:
        raise StepFailed(f"{command[0]} not found")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}").splitlines()
        raise StepFailed(f"`{' '.join(command)}` failed: {lines[-1]}")


def is_new_repository() -> bool:
    """True when this folder is the top of a git repository that has no commit yet."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != Path.cwd().resolve():
        return False
    head = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, check=False)
    return head.returncode != 0


def main(argv: Sequence[str]) -> int:
    setup = Setup(**json.loads(argv[0]))
    in_git = shutil.which("git") is not None and is_new_repository()
    have_venv = setup.step(
        "Create .venv and install the project",
        setup.create_environment,
        manual="make install",
        undo=lambda: shutil.rmtree(VENV, ignore_errors=True),
    )
    needs_venv = "" if have_venv else "make install && "
    if setup.use_dvc:
        slug, data = setup.project_slug, setup.dataset_file
        setup.step(
            f"Write the bundled dataset to {data} and track it with DVC",
            setup.track_data if have_venv else _skipped("no .venv"),
            manual=f"{needs_venv}.venv/bin/{slug} bundled-data --output {data} && .venv/bin/dvc add {data}",
            undo=setup.untrack_data,
        )
    if setup.use_notebooks:
        setup.step(
            "Install the nbstripout git filter",
            setup.install_nbstripout if have_venv and in_git else _skipped(_why(have_venv, in_git)),
            manual=f"{needs_venv}.venv/bin/nbstripout --install",
        )
    setup.step(
        "Install the pre-commit hook",
        setup.install_pre_commit if have_venv and in_git else _skipped(_why(have_venv, in_git)),
        manual=f"{needs_venv}.venv/bin/pre-commit install",
    )
    setup.step(
        "Make the first commit (pre-commit prepares its hook environments once)",
        setup.first_commit if in_git else _skipped("not the top of a new git repository"),
        manual='git add --all && git commit -m "Generate the project with copier-ml"',
        undo=setup.unstage,
    )
    if setup.manual:
        say("set-up finished with steps left to do by hand:")
        for command in setup.manual:
            say(f"  {command}")
    else:
        say("set-up finished: .venv ready, hooks installed, first commit made")
    return 0


def _skipped(reason: str) -> Callable[[], None]:
    def skip() -> None:
        raise StepFailed(f"skipped ({reason})")

    return skip


def _why(have_venv: bool, in_git: bool) -> str:
    return "no .venv" if not have_venv else "not the top of a new git repository"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
