"""Container runtimes behind one protocol: ``embedded`` (devenv's own) and ``docker`` (a Docker engine)."""
