"""Jinja filters that check the answers about MLOps integrations (DVC remotes)."""

from __future__ import annotations

import re

from jinja2 import Environment
from jinja2.ext import Extension

# Remote kinds DVC reaches with its own plugins (dvc-s3, dvc-gs, ...); `file` is a folder.
DVC_REMOTE_SCHEMES = ("s3", "gs", "azure", "ssh", "hdfs", "webhdfs", "http", "https", "webdav", "webdavs", "oss")
_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>\S+)$")


def dvc_remote_problem(remote: str) -> str:
    """Why `remote` cannot be a DVC remote, or "" when it can (empty means: add one later)."""
    if not remote:
        return ""
    if remote.startswith("/"):
        return "" if not any(c.isspace() for c in remote) else f"'{remote}': a remote folder path cannot hold spaces"
    match = _URL.match(remote)
    if not match or match["scheme"] not in DVC_REMOTE_SCHEMES:
        kinds = ", ".join(f"{scheme}://" for scheme in DVC_REMOTE_SCHEMES[:4])
        return f"'{remote}' is not a DVC remote: use a URL ({kinds}...) or an absolute folder, or leave it empty"
    return ""


def dvc_remote_plugin(remote: str) -> str:
    """The pip extra of dvc that reaches `remote` (`s3` for s3://...), or "" when dvc needs none."""
    match = _URL.match(remote)
    if not match or match["scheme"] in {"http", "https"}:  # folders and HTTP come with dvc itself
        return ""
    return {"webdavs": "webdav"}.get(match["scheme"], match["scheme"])


class IntegrationsExtension(Extension):
    """Registers the integration filters with Copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(dvc_remote_problem=dvc_remote_problem, dvc_remote_plugin=dvc_remote_plugin)
