"""Jinja filters that turn a project name into valid Python and packaging names.

Copier loads this file through copier-template-extensions, so the questionnaire's
defaults and validators use the same rules as the tests that import it directly.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata

from jinja2 import Environment
from jinja2.ext import Extension

# PEP 508 distribution names, restricted to the normalized (lowercase) form that
# pip, PyPI and the console-script name all agree on.
_DISTRIBUTION_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# GitHub and GitLab both accept these characters in owner and repository names.
_REPOSITORY_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")

# Modules the generated project imports: a package with one of these names
# would shadow them and break the project at import time.
_IMPORTED_BY_PROJECT = frozenset(
    {"numpy", "pandas", "pyarrow", "sklearn", "skops", "scipy", "matplotlib"}
    | {"yaml", "pydantic", "tqdm", "pytest", "torch", "opacus", "safetensors", "test", "tests"}
    | {"mlflow", "wandb", "optuna", "dvc", "sqlalchemy"}
)


def slugify(text: str) -> str:
    """`"Churn Risk (v2)"` -> `"churn-risk-v2"`: ASCII, lowercase, dash-separated."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def to_identifier(text: str) -> str:
    """`"churn-risk"` -> `"churn_risk"`; a leading digit gets a `p_` prefix."""
    name = re.sub(r"[^a-z0-9]+", "_", slugify(text).replace("-", "_")).strip("_")
    if not name:
        return ""
    if name[0].isdigit():
        name = f"p_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def package_name_problem(name: str) -> str:
    """Why `name` cannot be the project's import package, or "" when it can."""
    if not name.isidentifier() or not name.isascii():
        return f"'{name}' is not a Python identifier: use letters, digits and '_', not starting with a digit"
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword: pick another package name"
    if name != name.lower():
        return f"'{name}' has capitals: Python packages are lowercase (PEP 8)"
    if name in sys.stdlib_module_names or name in _IMPORTED_BY_PROJECT:
        return f"'{name}' would shadow the module of the same name: pick another package name"
    return ""


def is_distribution_name(name: str) -> bool:
    return bool(_DISTRIBUTION_NAME.match(name))


def is_email(address: str) -> bool:
    return bool(_EMAIL.match(address))


def is_repository_part(name: str) -> bool:
    return bool(_REPOSITORY_PART.match(name))


class NamingExtension(Extension):
    """Registers the naming filters with Copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(
            slugify=slugify,
            to_identifier=to_identifier,
            package_name_problem=package_name_problem,
            is_distribution_name=is_distribution_name,
            is_email=is_email,
            is_repository_part=is_repository_part,
        )
