"""Errors a user can fix; the CLI prints them as one line instead of a traceback."""


class ProjectError(Exception):
    """Base class: something in the config, the data or the model bundle needs attention."""


class ConfigError(ProjectError):
    """A config file or override is missing, malformed or out of range."""


class DataError(ProjectError):
    """The dataset cannot be loaded or split as configured."""


class SchemaError(ProjectError):
    """Input rows do not match the feature schema the model was trained on."""


class BundleError(ProjectError):
    """A model bundle is missing, incomplete, tampered with or holds untrusted code."""
