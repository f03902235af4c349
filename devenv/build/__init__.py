"""The image builder: Dockerfiles and devcontainer features into cached layers, without a Docker daemon.

Data flow::

    Dockerfile text ──dockerfile.parse──▶ Dockerfile (stages of typed instructions, Dockerfile:LINE errors)
    Dockerfile + context + build args ──plan──▶ BuildPlan [Step(cache_key, inputs)]   (pure)
    features (resolved) ──features_plan──▶ more Steps on top of the base image           (pure)
    BuildPlan ──executor (store + snapshots + runtime)──▶ image in the content store

Modules: ``shell_words`` (Docker's variable expansion), ``lexer`` (lines, continuations, heredocs,
directives), ``dockerfile`` (instructions), ``dockerignore``, ``imageconfig`` (the OCI image config a
build edits), ``plan`` (steps and cache keys), ``explain`` (why a step missed the cache).
"""
