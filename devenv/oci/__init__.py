"""OCI vocabulary and the registry client.

Public API (import from the submodules; nothing heavy is imported here):

``devenv.oci.reference``
    ``parse_reference(text) -> Reference`` — Docker-style normalisation (``debian`` →
    ``docker.io/library/debian:latest``); ``Reference.domain/path/tag/digest``, ``.repository``,
    ``.reference`` (digest or tag), ``.familiar()``, ``str()``.
``devenv.oci.mediatypes``
    media type constants (OCI, Docker v2s2, devcontainers), ``is_index``, ``is_manifest``,
    ``layer_compression(media_type) -> "gzip" | "zstd" | "" | None``, ``layer_media_type(compression)``.
``devenv.oci.descriptor``
    ``Descriptor(media_type, digest, size, platform, annotations, urls, artifact_type)``,
    ``Platform(os, architecture, variant)`` with ``Platform.parse("linux/arm64/v8")``, ``host_platform()``,
    ``sha256_digest(bytes)``.
``devenv.oci.manifest``
    ``Manifest.parse(bytes)`` / ``Manifest(...).to_bytes()``; ``Index.parse(bytes).select(platform)``;
    ``ImageConfig`` (``.env .cmd .entrypoint .user .working_dir .labels .exposed_ports .stop_signal
    .diff_ids .chain_ids .platform .raw``); ``diff_ids_to_chain_ids``; ``canonical_json``.
``devenv.oci.client``
    ``RegistryClient()`` (context manager; thread-safe) → ``.repository(ref, push=False)`` →
    ``Repository`` with ``get_manifest(ref) -> (Descriptor, bytes)``, ``head_manifest``, ``put_manifest``,
    ``list_tags``, ``get_blob_bytes(desc)``, ``fetch_blob(desc, ingest)``, ``blob_exists``, ``mount_blob``,
    ``push_blob(desc, opener, chunk_size=None)``. Auth (Basic, Bearer tokens) and HTTPS/HTTP choice are
    automatic: credentials from ``~/.docker/config.json`` (``devenv.oci.credentials``), hosts, CA certs and
    mirrors from ``registries.json`` / ``certs.d`` (``devenv.oci.hosts``).

Errors: ``RegistryError`` (network, HTTP), ``AuthError`` (401/403, credentials), ``ImageNotFound``
(manifest or blob unknown), ``ImageError`` (malformed documents) — all from ``devenv.errors``.
"""
