"""The Jinja extensions on their own: naming rules and one-line refusals."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXTENSIONS = Path(__file__).resolve().parents[1] / "extensions"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"copier_ml_{name}", EXTENSIONS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


naming = _load("naming")
refusals = _load("refusals")


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Churn Risk", "churn-risk"),
        ("  Crédit Scoring (v2)! ", "credit-scoring-v2"),
        ("ML__Ops", "ml-ops"),
        ("!!!", ""),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert naming.slugify(text) == slug


@pytest.mark.parametrize(
    ("text", "identifier"),
    [
        ("churn-risk", "churn_risk"),
        ("3d-model", "p_3d_model"),
        ("class", "class_"),
        ("Crédit.Scoring", "credit_scoring"),
    ],
)
def test_to_identifier(text: str, identifier: str) -> None:
    assert naming.to_identifier(text) == identifier
    assert identifier.isidentifier()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("churn_risk", ""),
        ("churn-risk", "is not a Python identifier"),
        ("1model", "is not a Python identifier"),
        ("import", "is a Python keyword"),
        ("ChurnRisk", "has capitals"),
        ("json", "would shadow the module"),
        ("sklearn", "would shadow the module"),
        ("café", "is not a Python identifier"),
    ],
)
def test_package_name_problem(name: str, problem: str) -> None:
    found = naming.package_name_problem(name)
    assert (problem in found) if problem else found == ""


@pytest.mark.parametrize(("name", "valid"), [("churn-risk", True), ("a", True), ("Churn", False), ("-x", False)])
def test_distribution_name(name: str, valid: bool) -> None:
    assert naming.is_distribution_name(name) is valid


@pytest.mark.parametrize(
    ("address", "valid"), [("a@b.io", True), ("team@ml.example.com", True), ("a@b", False), ("a b@c.de", False)]
)
def test_email(address: str, valid: bool) -> None:
    assert naming.is_email(address) is valid


def test_refusal_is_one_line_for_copier_validation_errors() -> None:
    error = ValueError("Validation error for question 'package_name': 'class' is a Python keyword")
    assert refusals.describe_refusal(error) == "package_name: 'class' is a Python keyword"
    choice = ValueError("Invalid choice for 'serving_pattern': a training-only project serves nothing")
    assert refusals.describe_refusal(choice) == "serving_pattern: a training-only project serves nothing"
    assert refusals.describe_refusal(ValueError('Question "project_name" is required')).startswith("project_name:")


def test_other_errors_keep_their_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert refusals.describe_refusal(ValueError("something else")) is None
    assert refusals.describe_refusal(KeyError("Validation error for question 'x': y")) is None
    seen = []
    hook = refusals._one_line_hook(lambda *args: seen.append(args))
    hook(RuntimeError, RuntimeError("boom"), None)
    assert seen
    hook(ValueError, ValueError("Validation error for question 'a': b"), None)
    assert capsys.readouterr().err == "copier-ml refused an answer: a: b\n"


def test_hook_is_installed_once() -> None:
    original = sys.excepthook
    try:
        # Renders earlier in this worker may have installed the hook already.
        sys.excepthook = sys.__excepthook__
        refusals.OneLineRefusals(__import__("jinja2").Environment())
        wrapped = sys.excepthook
        refusals.OneLineRefusals(__import__("jinja2").Environment())
        assert sys.excepthook is wrapped is not sys.__excepthook__
    finally:
        sys.excepthook = original
