"""Post-generation tasks: a new project gets git on copy; an update never touches git history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import COPIER, GIT_IDENTITY, commit_and_tag, copy_template, git, run


def test_copy_initialises_git(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli("project_name=Churn Risk", skip_tasks=False)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    assert git(project, "symbolic-ref", "--short", "HEAD") == "main"
    assert "initialised a git repository" in result.stdout


def test_copy_inside_a_repository_adds_no_nested_repository(copier_cli: Any, tmp_path: Path) -> None:
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git(monorepo, "init", "--quiet")
    result = copier_cli("project_name=Churn Risk", skip_tasks=False, destination=monorepo / "churn")
    assert result.returncode == 0, result.stderr
    assert not (monorepo / "churn" / ".git").exists()
    assert "already inside a git repository" in result.stdout


@pytest.fixture
def tagged_template(tmp_path: Path) -> Path:
    """A clone of the template with two real versions: v1.0.0 and v1.1.0 (a README change)."""
    template = copy_template(tmp_path / "template-repo")
    git(template, "init", "--quiet", "--initial-branch=main")
    commit_and_tag(template, "v1.0.0")
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\n## Support\n\nAsk in the team channel.\n")
    git(template, "commit", "--quiet", "-am", "README: support section")
    git(template, "tag", "v1.1.0")
    return template


def test_update_keeps_edits_and_runs_no_git_task(tagged_template: Path, tmp_path: Path) -> None:
    project = tmp_path / "churn"
    copy = [COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "v1.0.0", "-d", "project_name=Churn Risk"]
    run([*copy, str(tagged_template), str(project)], cwd=tmp_path, env=GIT_IDENTITY)
    # As if the user had answered yes to the set-up: an update must still not run it.
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("setup_environment: false", "setup_environment: true"))
    assert "setup_environment: true" in answers.read_text()
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "generated")
    config = project / "configs" / "base.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    git(project, "commit", "--quiet", "-am", "our seed")
    head = git(project, "rev-parse", "HEAD")

    result = run([COPIER, "update", "--trust", "--defaults", "--vcs-ref", "v1.1.0"], cwd=project, env=GIT_IDENTITY)

    assert "initialised a git repository" not in result.stdout + result.stderr
    assert "copier-ml: Create .venv" not in result.stdout + result.stderr
    assert not (project / ".venv").exists()
    assert git(project, "rev-parse", "HEAD") == head, "an update must not commit"
    assert git(project, "branch", "--format=%(refname:short)") == "main"
    assert "seed: 7" in config.read_text()
    assert "## Support" in (project / "README.md").read_text()
    assert "_commit: v1.1.0" in (project / ".copier-answers.yml").read_text()


@pytest.fixture
def no_python_on_path(tmp_path: Path) -> dict[str, str]:
    """A PATH with the system's tools (git, coreutils) but no Python: no virtualenv can be made."""
    tools = tmp_path / "no-python"
    tools.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if not tool.name.startswith("python"):
            (tools / tool.name).symlink_to(tool)
    return {**GIT_IDENTITY, "PATH": str(tools)}


def test_setup_without_python_on_path_prints_each_manual_step_and_still_commits(
    copier_cli: Any, tmp_path: Path, no_python_on_path: dict[str, str]
) -> None:
    answers = ("project_name=Churn Risk", "use_dvc=true", "setup_environment=true")
    result = copier_cli(*answers, skip_tasks=False, env=no_python_on_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    assert "copier-ml:   run it yourself: make install\n" in result.stdout
    assert "run it yourself: make install && .venv/bin/churn-risk bundled-data" in result.stdout
    assert "run it yourself: make install && .venv/bin/nbstripout --install" in result.stdout
    assert "run it yourself: make install && .venv/bin/pre-commit install" in result.stdout
    assert "set-up finished with steps left to do by hand" in result.stdout
    assert not (project / ".venv").exists(), "a failed virtualenv is removed, not left half-made"
    assert git(project, "log", "--format=%s") == "Generate the project with copier-ml"
    assert git(project, "status", "--porcelain") == ""


def test_a_failed_first_commit_leaves_nothing_staged(
    copier_cli: Any, tmp_path: Path, no_python_on_path: dict[str, str]
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\necho 'a hook refused the commit' >&2\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    env = {**no_python_on_path, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath"}
    env["GIT_CONFIG_VALUE_0"] = str(hooks)
    result = copier_cli("project_name=Churn Risk", "setup_environment=true", skip_tasks=False, env=env)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    assert "could not make the first commit" in result.stdout
    assert 'run it yourself: git add --all && git commit -m "Generate the project with copier-ml"' in result.stdout
    assert run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=project, check=False).returncode != 0
    assert git(project, "diff", "--cached", "--name-only") == ""
    assert (project / "pyproject.toml").is_file(), "the generated files stay"


def test_setup_is_not_asked_with_defaults(copier_cli: Any, tmp_path: Path) -> None:
    result = copier_cli("project_name=Churn Risk", skip_tasks=False)
    assert result.returncode == 0, result.stderr
    assert "Create .venv" not in result.stdout
    assert "setup_environment: false" in (tmp_path / "project" / ".copier-answers.yml").read_text()
