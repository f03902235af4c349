"""Dev Container features: references (``ref``), install order (``order``), fetching and pinning
(``resolve``, ``fetch``, ``lockfile``).

Pure parts, importable without I/O:

``devenv.features.ref``
    ``parse_feature_ref(user_id, *, config_path=None, workspace_folder=None, auto_map=True) -> FeatureRef``
    (``kind``: ``oci`` / ``tarball`` / ``local`` / ``github``; ``oci: OciRef`` with registry, namespace,
    resource, id, tag, digest); ``parse_oci_ref(text)``; ``legacy_feature_id(id)``;
    ``user_features(features_obj) -> [(id, value)]`` (``gradle``/``maven``/``jupyterlab`` → options);
    ``feature_options(value, declared_options) -> dict`` (defaults + user value, string = version);
    ``option_env_name(name)`` and ``option_env(values)`` (the ``devcontainer-features.env`` names/texts).
``devenv.features.order``
    ``install_order(user_features, resolve, override_install_order=None, *, config=None) -> [InstallStep]``
    over ``ResolvedFeature(ref, digest, metadata)`` values; a cycle raises ``ConfigError`` naming it.
"""

from __future__ import annotations

from devenv.features.order import InstallStep, ResolvedFeature, install_order
from devenv.features.ref import (
    FeatureRef,
    OciRef,
    feature_options,
    legacy_feature_id,
    option_env,
    option_env_name,
    parse_feature_ref,
    parse_oci_ref,
    user_features,
)

__all__ = [
    "FeatureRef",
    "InstallStep",
    "OciRef",
    "ResolvedFeature",
    "feature_options",
    "install_order",
    "legacy_feature_id",
    "option_env",
    "option_env_name",
    "parse_feature_ref",
    "parse_oci_ref",
    "user_features",
]
