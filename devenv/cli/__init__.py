"""The thin command-line layer over :mod:`devenv.api`: one module per command group."""
