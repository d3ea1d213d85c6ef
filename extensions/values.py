"""Jinja filters that write answers as values the generated files' readers parse back unchanged."""

from __future__ import annotations

from jinja2 import Environment
from jinja2.ext import Extension


def yaml_float(value: float) -> str:
    """`1e-05` -> `"1.0e-05"`: YAML 1.1 readers (PyYAML) take an exponent without a decimal point for text."""
    text = repr(float(value))
    mantissa, exponent_mark, exponent = text.partition("e")
    if exponent_mark and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


class ValuesExtension(Extension):
    """Registers the value filters with Copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(yaml_float=yaml_float)
