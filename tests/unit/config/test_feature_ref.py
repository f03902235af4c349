"""Feature references, options and their environment names (the reference's own examples)."""

from __future__ import annotations

import pytest

from devenv.errors import ConfigError
from devenv.features import (
    feature_options,
    legacy_feature_id,
    option_env,
    option_env_name,
    parse_feature_ref,
    parse_oci_ref,
)

ROOT = "/workspace/myProject"
CONFIG = f"{ROOT}/.devcontainer/devcontainer.json"


@pytest.mark.parametrize(
    ("text", "registry", "namespace", "resource", "feature_id", "tag", "digest"),
    [
        (
            "ghcr.io/devcontainers/templates/docker-from-docker:latest",
            "ghcr.io",
            "devcontainers/templates",
            "ghcr.io/devcontainers/templates/docker-from-docker",
            "docker-from-docker",
            "latest",
            None,
        ),
        (
            "ghcr.io/my-org/my-features/my-feat@sha256:" + "1234567890" * 6 + "1234",
            "ghcr.io",
            "my-org/my-features",
            "ghcr.io/my-org/my-features/my-feat",
            "my-feat",
            None,
            "sha256:" + "1234567890" * 6 + "1234",
        ),
        (
            "ghcr.io/devcontainers/templates/docker-from-docker",
            "ghcr.io",
            "devcontainers/templates",
            "ghcr.io/devcontainers/templates/docker-from-docker",
            "docker-from-docker",
            "latest",
            None,
        ),
        (
            "ghcr.io/DeVContainERS/templates/Docker-FROM-Docker",
            "ghcr.io",
            "devcontainers/templates",
            "ghcr.io/devcontainers/templates/docker-from-docker",
            "docker-from-docker",
            "latest",
            None,
        ),
        (
            "docker.io:8001/devcontainers/templates/docker-from-docker:1.3.4",
            "docker.io:8001",
            "devcontainers/templates",
            "docker.io:8001/devcontainers/templates/docker-from-docker",
            "docker-from-docker",
            "1.3.4",
            None,
        ),
        (
            "docker.io:8001/devcontainers/templates/docker-from-docker",
            "docker.io:8001",
            "devcontainers/templates",
            "docker.io:8001/devcontainers/templates/docker-from-docker",
            "docker-from-docker",
            "latest",
            None,
        ),
        ("docker.io:8001/a/b/c", "docker.io:8001", "a/b", "docker.io:8001/a/b/c", "c", "latest", None),
        ("127.0.0.1:5000/ns/feat:2", "127.0.0.1:5000", "ns", "127.0.0.1:5000/ns/feat", "feat", "2", None),
    ],
)
def test_oci_references(
    text: str, registry: str, namespace: str, resource: str, feature_id: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_oci_ref(text)
    assert ref is not None
    assert (ref.registry, ref.namespace, ref.resource, ref.id, ref.tag, ref.digest) == (
        registry,
        namespace,
        resource,
        feature_id,
        tag,
        digest,
    )
    assert ref.version == (digest or tag)
    assert ref.path == f"{namespace}/{feature_id}"


@pytest.mark.parametrize(
    "text",
    [
        "ghcr.io/devcontainers/templates/docker-from-docker:latest:latest",
        "ghcr.io/devco%ntainers/templates/docker-from-docker:latest",
        "ghcr.io/devcontainers/templates/docker-from@docker:latest",
        "ghcr.io/:latest",
        "ghcr.io",
        "ghcr.io/devcontainers//templates/docker-from-docker:latest",
        "ghcr.io/devcontainers//templates/docker-from-docker@sha100:" + "1" * 64,
        "ghcr.io/devcontainers//templates/docker-from-docker@" + "1" * 64,
        ".ghcr.io/a/b",
    ],
)
def test_invalid_oci_references(text: str) -> None:
    assert parse_oci_ref(text) is None


def test_contrib_namespace_is_redirected_like_the_reference() -> None:
    ref = parse_oci_ref("ghcr.io/devcontainers-contrib/features/bun:1")
    assert ref is not None
    assert ref.namespace == "devcontainers-extra/features"
    assert ref.path == "devcontainers-extra/features/bun"


def test_kinds() -> None:
    oci = parse_feature_ref("ghcr.io/devcontainers/features/node:1")
    assert (oci.kind, oci.id, oci.without_version) == ("oci", "node", "ghcr.io/devcontainers/features/node")
    tgz = parse_feature_ref("https://example.com/some/long/path/devcontainer-feature-ruby.tgz")
    assert (tgz.kind, tgz.id, tgz.tarball_url) == (
        "tarball",
        "ruby",
        "https://example.com/some/long/path/devcontainer-feature-ruby.tgz",
    )
    local = parse_feature_ref("./featureA", config_path=CONFIG, workspace_folder=ROOT)
    assert (local.kind, local.id, local.local_path) == ("local", "featureA", f"{ROOT}/.devcontainer/featureA")
    at_root = parse_feature_ref(
        "./.devcontainer/featureB", config_path=f"{ROOT}/.devcontainer.json", workspace_folder=ROOT
    )
    assert at_root.local_path == f"{ROOT}/.devcontainer/featureB"
    gh = parse_feature_ref("octocat/myfeatures/helloworld@v0.0.4")
    assert (gh.kind, gh.id, gh.github, gh.without_version) == (
        "github",
        "helloworld",
        gh.github,
        "octocat/myfeatures/helloworld",
    )
    assert gh.github is not None and (gh.github.owner, gh.github.repo, gh.github.tag) == (
        "octocat",
        "myfeatures",
        "v0.0.4",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/some/long/path/to/helloworld", "a local feature cannot be an absolute path"),
        ("../featureC", "a local feature must be inside the .devcontainer/ folder"),
        (
            "https://example.com/some/long/path/devcontainer-features.tgz/",
            "does not follow 'devcontainer-feature-<id>.tgz'",
        ),
        ("https://example.com/some/long/path/devcontainer-features.tgz", "does not follow"),
        ("https://example.com/some/long/path/devcontainer-features.tgz#", "does not follow"),
        ("octocat/myfeatures#helloworld", "cannot resolve the feature"),
        ("octocat/myfeatures#", "cannot resolve the feature"),
        ("octocat/myfeatures", "cannot resolve the feature"),
        ("octocat/myfeatures/@mycoolfeature", "cannot resolve the feature"),
        ("octocat/myfeatures/MY_$UPER_COOL_FEATURE", "cannot resolve the feature"),
        ("octocat/myfeatures@v0.0.1", "cannot resolve the feature"),
        ("fish", "legacy feature 'fish' is not supported"),
        ("https://example.com/devcontainer-feature-b@d.tgz", "may only hold letters, digits"),
    ],
)
def test_invalid_references_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_feature_ref(text, config_path=CONFIG, workspace_folder=ROOT)
    assert message in info.value.msg
    assert info.value.pointer == f"features[{text!r}]"


def test_legacy_ids_are_mapped() -> None:
    assert legacy_feature_id("docker-in-docker") == "ghcr.io/devcontainers/features/docker-in-docker:1"
    assert legacy_feature_id("golang") == "ghcr.io/devcontainers/features/go:1"
    assert legacy_feature_id("common") == "ghcr.io/devcontainers/features/common-utils:1"
    assert legacy_feature_id("fish") == "fish"
    ref = parse_feature_ref("node")
    assert (ref.kind, ref.user_id, ref.mapped_id) == ("oci", "node", "ghcr.io/devcontainers/features/node:1")
    assert ref.oci is not None and ref.oci.tag == "1"


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("option-name", "OPTION_NAME"),
        ("option1-name-with_dashes-", "OPTION1_NAME_WITH_DASHES_"),
        ("myOptionName", "MYOPTIONNAME"),
        ("1name", "_NAME"),
        ("12345_option-name", "_OPTION_NAME"),
        ("__x", "_X"),
        ("é.x", "_X"),
        ("a-é", "A__"),
    ],
)
def test_option_env_names(name: str, env: str) -> None:
    assert option_env_name(name) == env


DECLARED = {
    "version": {"type": "string", "default": "lts"},
    "installTools": {"type": "boolean", "default": True},
    "noDefault": {"type": "string"},
}


def test_feature_options_merge_defaults_and_version_shorthand() -> None:
    assert feature_options({}, DECLARED) == {"version": "lts", "installTools": True}
    assert feature_options({"installTools": False, "extra": "x"}, DECLARED) == {
        "version": "lts",
        "installTools": False,
        "extra": "x",
    }
    assert feature_options("18", DECLARED) == {"version": "18", "installTools": True}
    assert feature_options("18", {"other": {"type": "string", "default": "d"}}) == {"other": "d"}
    assert feature_options(True, None) == {}
    assert option_env({"version": "18", "installTools": False, "list": ["a", "b"]}) == {
        "VERSION": "18",
        "INSTALLTOOLS": "false",
        "LIST": "a,b",
    }
