"""`copier update` across real template versions: user edits survive, answers migrate, nothing is lost.

The versions are built in a temporary git repository. v0.9.0 is an older state of the
template: `ci_provider` was still called `ci_service`, the README's update paragraph read
differently, docs/old-guide.md existed and the first ADR did not. v1.0.0 is the working
tree, whose extensions/migrations.yml gains the entry that release would have carried
(`ci_service` renamed to `ci_provider` in 1.0.0); the real table lists no rename yet.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from .conftest import (
    COPIER,
    GIT_IDENTITY,
    TEMPLATE_FILES,
    TEMPLATE_ROOT,
    answers_of,
    commit_and_tag,
    copy_template,
    git,
    install_reusing_this_environment,
    run,
)

pytestmark = pytest.mark.xdist_group("update")

OLD_UPDATE_TEXT = "Run `copier update` to take in template changes."
UPDATE_HEADING = "## Updating from the template\n"


def rename_everywhere(root: Path, old: str, new: str) -> None:
    """Renames a word in every file's text and name under root, as an old release spelled it."""
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new), encoding="utf-8")
        if old in path.name:
            path.rename(path.with_name(path.name.replace(old, new)))


def make_old_version(template: Path) -> None:
    """The state the tests call v0.9.0: a renamed question, a changed file, a removed file."""
    rename_everywhere(template / "template", "ci_provider", "ci_service")
    copier_yml = template / "copier.yml"
    copier_yml.write_text(copier_yml.read_text().replace("ci_provider", "ci_service"))
    readme = template / "template" / "README.md.jinja"
    text = readme.read_text()
    start = text.index(UPDATE_HEADING) + len(UPDATE_HEADING)
    end = text.index("## License")
    readme.write_text(text[:start] + "\n" + OLD_UPDATE_TEXT + "\n\n" + text[end:])
    (template / "template" / "docs" / "old-guide.md").write_text("# Old guide\n\nSuperseded by the README.\n")
    (template / "template" / "docs" / "adr" / "0001-model-bundle-and-one-predictor.md.jinja").unlink()


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository with two tags: v0.9.0 (old) and v1.0.0 (the working tree)."""
    repo = copy_template(tmp_path_factory.mktemp("versions") / "template-repo")
    git(repo, "init", "--quiet", "--initial-branch=main")
    make_old_version(repo)
    commit_and_tag(repo, "v0.9.0")
    replace_with_the_working_tree(repo)
    table = repo / "extensions" / "migrations.yml"
    table.write_text(table.read_text().replace("migrations: []", MIGRATION_OF_THIS_TEST))
    commit_and_tag(repo, "v1.0.0")
    return repo


def replace_with_the_working_tree(repository: Path) -> None:
    """The template's files as they are now, in place of the older release's."""
    for name in TEMPLATE_FILES:
        git(repository, "rm", "-r", "--quiet", name)
    copy_template(repository)


MIGRATION_OF_THIS_TEST = """migrations:
  - version: "1.0.0"
    rename: {ci_service: ci_provider}
"""


def copier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([COPIER, *args], cwd=cwd, env=GIT_IDENTITY, timeout=300)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_update_from_an_older_version_keeps_every_edit_and_migrates_answers(versions: Path, tmp_path: Path) -> None:
    project = tmp_path / "churn"
    # Tasks enabled, as a user runs it: the first task initialises git.
    copy = ["copy", "--trust", "--defaults", "--vcs-ref", "v0.9.0", "-d", "project_name=Churn Risk"]
    result = copier(*copy, "-d", "ci_service=gitlab", str(versions), str(project), cwd=tmp_path)
    assert "initialised a git repository" in result.stdout
    assert answers_of(project)["ci_service"] == "gitlab"
    assert (project / ".gitlab-ci.yml").is_file()
    assert (project / "docs" / "old-guide.md").is_file()
    assert not (project / "docs" / "adr" / "0001-model-bundle-and-one-predictor.md").exists()
    # As if the user had answered yes to the set-up: an update must still not run it.
    edit(project / ".copier-answers.yml", "setup_environment: false", "setup_environment: true")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Generate the project")

    # The user's edits, of every kind.
    errors = project / "src" / "churn_risk" / "errors.py"
    quota_error = '\n\nclass QuotaError(ProjectError):\n    """The scoring quota ran out."""\n'
    errors.write_text(errors.read_text() + quota_error)
    config = project / "configs" / "base.yaml"
    edit(config, "seed: 42", "seed: 7")
    readme = project / "README.md"
    edit(readme, OLD_UPDATE_TEXT, "Ask the platform team before updating.")
    readme.write_text(readme.read_text() + "\n## Team notes\n\nOn call: the fraud team.\n")
    own_file = project / "src" / "churn_risk" / "holidays.py"
    own_file.write_text('"""Public holidays the team adds as features."""\n\nHOLIDAYS = ("2026-12-25",)\n')
    notebook = project / "notebooks" / "01-data-exploration.ipynb"
    notebook.unlink()
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Our changes")
    head = git(project, "rev-parse", "HEAD")

    result = copier("update", "--trust", "--defaults", "--conflict", "inline", "--vcs-ref", "v1.0.0", cwd=project)
    printed = result.stdout + result.stderr

    # The renamed answer is migrated, and used: still GitLab, not the new default GitHub.
    recorded = answers_of(project)
    assert recorded["_commit"] == "v1.0.0"
    assert recorded["ci_provider"] == "gitlab"
    assert "ci_service" not in recorded
    assert "renamed answer 'ci_service' to 'ci_provider' (1.0.0)" in printed
    assert (project / ".gitlab-ci.yml").is_file()
    assert not (project / ".github").exists()
    # Template changes arrive: a new file, a removed file, changed text.
    assert (project / "docs" / "adr" / "0001-model-bundle-and-one-predictor.md").is_file()
    assert not (project / "docs" / "old-guide.md").exists()
    # Every user edit survives, or is shown as an inline conflict beside the template's text.
    assert "class QuotaError(ProjectError):" in errors.read_text()
    assert "seed: 7" in config.read_text()
    assert "seed: 42" not in config.read_text().split("# One seed")[1]
    assert own_file.read_text().endswith('HOLIDAYS = ("2026-12-25",)\n')
    assert not notebook.exists(), "a template file the user deleted stays deleted"
    merged = readme.read_text()
    assert "## Team notes\n\nOn call: the fraud team.\n" in merged
    conflict = re.search(r"<<<<<<< before updating\n(.*?)=======\n(.*?)>>>>>>> after updating\n", merged, re.S)
    assert conflict, merged[merged.index(UPDATE_HEADING) :]
    assert "Ask the platform team before updating." in conflict[1]
    assert "copier update --trust" in conflict[2]
    # Update never touches git history or runs the set-up.
    assert git(project, "rev-parse", "HEAD") == head, "an update must not commit"
    assert "initialised a git repository" not in printed
    assert "copier-ml: Create .venv" not in printed
    assert not (project / ".venv").exists()
    changed = set(git(project, "status", "--porcelain", "--untracked-files=all").splitlines())
    assert " D notebooks/01-data-exploration.ipynb" not in changed

    # The updated project's own tests still pass (the unit tests and the config's own checks).
    install_reusing_this_environment(project)
    tests = run([".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"], cwd=project)
    assert " passed" in tests.stdout


def in_terminal(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Runs a command on a terminal nobody types into: (exit status or None if it waited for input, output)."""
    main, child = pty.openpty()
    env = {**os.environ, **GIT_IDENTITY}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child, start_new_session=True
    )
    os.close(child)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None or select.select([main], [], [], 0)[0]:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                return None, output.decode(errors="replace")
            if select.select([main], [], [], 0.2)[0]:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal closed with the process
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        os.close(main)
    return process.wait(), output.decode(errors="replace")


def test_an_older_answers_file_updates_without_questions(versions: Path, tmp_path: Path) -> None:
    """Interactive `copier update --skip-answered` asks nothing: the renamed answer is migrated, not re-asked."""
    project = tmp_path / "churn"
    copy = ["copy", "--trust", "--defaults", "--skip-tasks", "--vcs-ref", "v0.9.0", "-d", "project_name=Churn Risk"]
    copier(*copy, "-d", "ci_service=none", str(versions), str(project), cwd=tmp_path)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Generate the project")

    status, output = in_terminal([COPIER, "update", "--trust", "--skip-answered", "--vcs-ref", "v1.0.0"], project, 180)

    assert status == 0, f"copier update waited for an answer or failed:\n{output[-3000:]}"
    assert answers_of(project)["ci_provider"] == "none"
    assert not (project / ".gitlab-ci.yml").exists()
    assert not (project / ".github").exists()


FOUNDATION = "967ec95"  # the commit CHANGELOG.md calls 0.1.0


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's real first release (its files at FOUNDATION) as v0.1.0, the working tree as v1.0.0."""
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE_ROOT), "archive", FOUNDATION, "copier.yml", "template", "extensions"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"this checkout has no commit {FOUNDATION} (0.1.0) to update from")
    repo = tmp_path_factory.mktemp("released") / "template-repo"
    repo.mkdir()
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_and_tag(repo, "v0.1.0")
    replace_with_the_working_tree(repo)
    commit_and_tag(repo, "v1.0.0")
    return repo


def test_a_project_from_the_first_release_updates_to_a_fresh_copy(released: Path, tmp_path: Path) -> None:
    """From 0.1.0 with --defaults: no conflicts, and the result is what copying 1.0.0 writes."""
    project, fresh = tmp_path / "churn", tmp_path / "fresh"
    copy = ["copy", "--trust", "--defaults", "--skip-tasks", "-d", "project_name=Churn Risk", "--vcs-ref"]
    copier(*copy, "v0.1.0", str(released), str(project), cwd=tmp_path)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Generate the project")

    copier("update", "--trust", "--defaults", "--skip-tasks", "--vcs-ref", "v1.0.0", cwd=project)
    copier(*copy, "v1.0.0", str(released), str(fresh), cwd=tmp_path)

    def files(root: Path) -> dict[str, bytes]:
        paths = (path for path in root.rglob("*") if path.is_file() and ".git" not in path.relative_to(root).parts)
        return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}

    updated, copied = files(project), files(fresh)
    assert sorted(updated) == sorted(copied)
    assert [name for name in copied if updated[name] != copied[name]] == []


@pytest.mark.thorough
def test_update_with_a_changed_answer_adds_the_new_parts(versions: Path, tmp_path: Path) -> None:
    project = tmp_path / "churn"
    copy = ["copy", "--trust", "--defaults", "--vcs-ref", "v1.0.0", "-d", "project_name=Churn Risk"]
    copier(*copy, str(versions), str(project), cwd=tmp_path)
    assert answers_of(project)["serving_pattern"] == "batch"
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Generate the project")

    copier("update", "--trust", "--defaults", "-d", "serving_pattern=realtime", "--vcs-ref", "v1.0.0", cwd=project)

    recorded = answers_of(project)
    assert (recorded["serving_pattern"], recorded["serving_backend"], recorded["use_docker"]) == (
        "realtime",
        "fastapi",
        True,
    )
    serving = project / "src" / "churn_risk" / "serving"
    for added in ("api.py", "auth.py", "batching.py", "requests.py"):
        assert (serving / added).is_file(), added
    assert not (serving / "batch.py").exists(), "batch scoring goes with the batch pattern"
    assert (project / "Dockerfile").is_file()
    assert "serve = [" in (project / "pyproject.toml").read_text()
    assert "<<<<<<<" not in (project / "README.md").read_text()
    install_reusing_this_environment(project)
    pytest_command = [".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_auth.py"]
    tests = run(pytest_command, cwd=project)
    assert " passed" in tests.stdout


@pytest.mark.thorough
def test_update_turning_dvc_on_adds_the_pipeline(versions: Path, tmp_path: Path) -> None:
    project = tmp_path / "churn"
    copy = ["copy", "--trust", "--defaults", "--skip-tasks", "--vcs-ref", "v1.0.0", "-d", "project_name=Churn Risk"]
    copier(*copy, str(versions), str(project), cwd=tmp_path)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Generate the project")

    copier("update", "--trust", "--defaults", "--skip-tasks", "-d", "use_dvc=true", "--vcs-ref", "v1.0.0", cwd=project)

    assert answers_of(project)["use_dvc"] is True
    for added in ("dvc.yaml", ".dvc/config", ".dvcignore", "configs/data/bundled.yaml"):
        assert (project / added).is_file(), added
    assert not (project / "data" / "processed" / ".gitkeep").exists()
    assert "## The pipeline (DVC)" in (project / "README.md").read_text()
    assert '"dvc' in (project / "pyproject.toml").read_text()


def test_the_real_migration_table_parses_and_lists_only_released_versions() -> None:
    sys.path.insert(0, str(TEMPLATE_ROOT / "extensions"))
    try:
        import migrate_answers
    finally:
        sys.path.pop(0)
    table = yaml.safe_load((TEMPLATE_ROOT / "extensions" / "migrations.yml").read_text())["migrations"]
    assert isinstance(table, list)
    for entry in table:
        assert set(entry) <= {"version", "rename", "values"}, entry
    entries = [
        {"version": "1.2.0", "values": {"ci_provider": {"gitlab-ci": "gitlab"}}},
        {"version": "1.1.0", "rename": {"ci": "ci_provider"}},
        {"version": "2.0.0", "rename": {"license": "licence"}},
    ]
    chosen = migrate_answers.pending(entries, Version("1.0.0"), Version("1.2.0"))
    assert [entry["version"] for entry in chosen] == ["1.1.0", "1.2.0"]
    recorded = {"ci": "gitlab-ci", "license": "MIT"}
    changes = migrate_answers.migrate(recorded, chosen)
    assert recorded == {"ci_provider": "gitlab", "license": "MIT"}
    assert changes == [
        "renamed answer 'ci' to 'ci_provider' (1.1.0)",
        "'ci_provider': 'gitlab-ci' is now 'gitlab' (1.2.0)",
    ]
