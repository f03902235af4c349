"""devenv: standardised development environments from devcontainer.json, without a Docker daemon."""

__version__ = "0.1.0"
