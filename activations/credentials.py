"""Credentials come from environment variables; the config file names the variables, never the values."""

from __future__ import annotations

import os


class MissingCredential(RuntimeError):
    pass


def from_env(destination: str, settings: dict, key: str, default_env: str) -> str:
    """The value of the environment variable `settings[key]` (default `default_env`), or a clear error."""
    variable = settings.get(key, default_env)
    value = os.environ.get(variable, "")
    if not value:
        raise MissingCredential(
            f"destination '{destination}': environment variable {variable} is not set "
            f"(config key '{key}' names the variable that holds this credential)"
        )
    return value
