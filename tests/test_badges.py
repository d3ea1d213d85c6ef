"""Do a rendered project's README badges show the measured model, and turn red when it falls short?"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import Projects, matrix, run

SVG = "{http://www.w3.org/2000/svg}"


def _badge(project: Path, name: str) -> dict[str, Any]:
    """The endpoint JSON of one badge, checked against its SVG (same label, message, colour)."""
    folder = project / "reports" / "badges"
    endpoint = json.loads((folder / f"{name}.json").read_text())
    assert set(endpoint) == {"schemaVersion", "label", "message", "color"}
    assert endpoint["schemaVersion"] == 1
    svg = ET.parse(folder / f"{name}.svg").getroot()
    assert svg.tag == f"{SVG}svg"
    assert {endpoint["label"], endpoint["message"]} <= {text.text for text in svg.iter(f"{SVG}text")}
    colours = {"brightgreen": "#4C1", "red": "#E05D44", "lightgrey": "#9F9F9F"}
    if endpoint["color"] in colours:
        assert colours[endpoint["color"]] in {path.get("fill", "").upper() for path in svg.iter(f"{SVG}path")}
    return endpoint


@pytest.mark.thorough
@pytest.mark.parametrize("name", matrix("default"))
def test_badges_show_the_measured_model_and_turn_red_out_of_reach(projects: Projects, name: str) -> None:
    project = projects.installed(name)
    run(["make", "train", "ARGS=training=fast"], cwd=project)
    run(["make", "check"], cwd=project)
    # The real `make coverage` target, on the badge tests only to keep this quick.
    run(["make", "coverage"], cwd=project, env={"PYTEST_ADDOPTS": "-k badges"})
    made = run(["make", "badges"], cwd=project)
    assert "badges: reports/badges/" in made.stdout

    measured = json.loads((project / "reports/acceptance.json").read_text())
    roc_auc = measured["metrics"]["roc_auc"]
    judged = [item for item in measured["items"] if item["status"] != "skip"]
    assert _badge(project, "metric") == {
        "schemaVersion": 1,
        "label": "roc_auc",
        "message": f"{roc_auc:.4f}",
        "color": "brightgreen",
    }
    assert _badge(project, "acceptance")["message"] == f"{len(judged)}/{len(judged)} passed"
    assert _badge(project, "acceptance")["color"] == "brightgreen"
    percent = json.loads((project / "reports/coverage.json").read_text())["totals"]["percent_covered"]
    assert _badge(project, "coverage")["message"] == f"{percent:.0f}%"

    requirements = project / "configs/requirements.yaml"
    original = requirements.read_text()
    try:
        requirements.write_text(original.replace("threshold: 0.95", "threshold: 0.9999", 1))
        failed = run(["make", "check"], cwd=project, check=False)
        assert failed.returncode != 0
        # A failing check still gets its badges: `make check; make badges` as in CI.
        run(["make", "badges"], cwd=project)
        metric, acceptance = _badge(project, "metric"), _badge(project, "acceptance")
    finally:
        requirements.write_text(original)
    assert (metric["message"], metric["color"]) == (f"{roc_auc:.4f}", "red")
    assert acceptance["message"] == f"1/{len(judged)} failed"
    assert acceptance["color"] == "red"


@pytest.mark.parametrize("name", matrix("default"))
def test_badges_without_reports_are_grey_and_say_what_to_run(projects: Projects, name: str, tmp_path: Path) -> None:
    project = projects.installed(name)
    empty = tmp_path / "reports"
    made = run(["make", "badges", f"ARGS=paths.reports_dir={empty}"], cwd=project)
    assert "run `make evaluate` or `make check`" in made.stderr
    for badge in ("metric", "acceptance", "coverage"):
        endpoint = json.loads((empty / "badges" / f"{badge}.json").read_text())
        assert (endpoint["message"], endpoint["color"]) == ("unknown", "lightgrey")
        assert ET.parse(empty / "badges" / f"{badge}.svg").getroot().tag == f"{SVG}svg"
