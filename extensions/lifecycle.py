"""Jinja filter that tells a new copy from a render into an existing project (update, recopy).

Copier does not expose the operation to questions, only to tasks; copy-only questions
(`setup_environment`) use this so that `copier update` never asks them.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension


def holds_copier_answers(destination: str | PathLike[str], answers_file: str | PathLike[str]) -> bool:
    """True when the destination already has this template's answers file: it was generated before."""
    return (Path(destination) / answers_file).is_file()


class LifecycleExtension(Extension):
    """Registers the lifecycle filter with Copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(holds_copier_answers=holds_copier_answers)
