"""Install order: the reference's own scenarios (dependsOn, installsAfter, overrideFeatureInstallOrder
with round priority, cycles), and the official features' metadata from ../shared/spec/features."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devenv.config import loads
from devenv.errors import ConfigError
from devenv.features import ResolvedFeature, install_order, parse_feature_ref, user_features

SPEC_FEATURES = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "features"
WORKSPACE = "/ws"
CONFIG = "/ws/.devcontainer/devcontainer.json"

# Metadata (dependsOn / installsAfter) and manifest digests of the published test features the
# reference's scenarios use (ghcr.io/codspace/dependson/*, two tarballs, two python features).
PUBLISHED: dict[str, dict[str, Any]] = {
    "ghcr.io/codspace/dependson/a": {"id": "A", "dependsOn": {"ghcr.io/codspace/dependson/E": {"magicNumber": "50"}}},
    "ghcr.io/codspace/dependson/b": {
        "id": "B",
        "dependsOn": {
            "ghcr.io/codspace/dependson/C": {"magicNumber": "20"},
            "ghcr.io/codspace/dependson/D": {"magicNumber": "30"},
        },
    },
    "ghcr.io/codspace/dependson/c": {
        "id": "C",
        "dependsOn": {
            "ghcr.io/codspace/dependson/A": {"magicNumber": "40"},
            "ghcr.io/codspace/dependson/E": {"magicNumber": "50"},
        },
    },
    "ghcr.io/codspace/dependson/d": {"id": "D"},
    "ghcr.io/codspace/dependson/e": {"id": "E"},
    "https://github.com/codspace/tgz-features-with-dependson/releases/download/0.0.2/devcontainer-feature-A.tgz": {
        "id": "A",
        "dependsOn": {"ghcr.io/codspace/dependson/E": {"magicNumber": "50"}},
    },
    "https://github.com/codspace/tgz-features-with-dependson/releases/download/0.0.2/devcontainer-feature-B.tgz": {
        "id": "B",
        "dependsOn": {
            "ghcr.io/codspace/dependson/C": {"magicNumber": "20"},
            "ghcr.io/codspace/dependson/D": {"magicNumber": "30"},
        },
    },
    "https://github.com/codspace/features/releases/download/tarball02/devcontainer-feature-docker-in-docker.tgz": {
        "id": "docker-in-docker"
    },
    "ghcr.io/codspace/features/python": {"id": "python"},
}
DIGESTS = {
    "ghcr.io/codspace/dependson/a": "sha256:932027ef71da186210e6ceb3294c3459caaf6b548d2b547d5d26be3fc4b2264a",
    "ghcr.io/codspace/dependson/b": "sha256:e7e6b52884ae7f349baf207ac59f78857ab64529c890b646bb0282f962bb2941",
    "ghcr.io/codspace/dependson/c": "sha256:db651708398b6d7af48f184c358728eaaf959606637133413cb4107b8454a868",
    "ghcr.io/codspace/dependson/d": "sha256:3795caa1e32ba6b30a08260039804eed6f3cf40811f0c65c118437743fa15ce8",
    "ghcr.io/codspace/dependson/e": "sha256:9f36f159c70f8bebff57f341904b030733adb17ef12a5d58d4b3d89b2a6c7d5a",
    "ghcr.io/devcontainers/features/python": "sha256:675f3c93e52fa4b205827e3aae744905ae67951f70e3ec2611f766304b31f4a2",
    "ghcr.io/codspace/features/python": "sha256:e4034c2a24d6c5d1cc0f6cb03091fc72d4e89f5cc64fa692cb69b671c81633d2",
}


def official(feature_id: str) -> dict[str, Any] | None:
    path = SPEC_FEATURES / feature_id / "devcontainer-feature.json"
    return json.loads(path.read_text()) if path.is_file() else None


def resolver(local: Mapping[str, dict[str, Any]]) -> Any:
    """What the feature resolver would hand over after fetching: metadata and digest per reference."""

    def resolve(user_id: str) -> ResolvedFeature:
        ref = parse_feature_ref(user_id, config_path=CONFIG, workspace_folder=WORKSPACE)
        if ref.kind == "local":
            return ResolvedFeature(ref, None, local[ref.id])
        if ref.kind == "tarball":
            url = ref.tarball_url or ""
            return ResolvedFeature(ref, "sha256:" + hashlib.sha256(url.encode()).hexdigest(), PUBLISHED[url])
        if ref.kind == "github":
            return ResolvedFeature(ref)
        assert ref.oci is not None
        resource = ref.oci.resource
        if resource.startswith("ghcr.io/devcontainers/features/"):
            metadata = official(ref.oci.id)
            assert metadata is not None, resource
            digest = DIGESTS.get(resource) or "sha256:" + hashlib.sha256(json.dumps(metadata).encode()).hexdigest()
            return ResolvedFeature(ref, digest, metadata)
        return ResolvedFeature(ref, DIGESTS[resource], PUBLISHED[resource])

    return resolve


def order(
    features: dict[str, Any], local: Mapping[str, dict[str, Any]] | None = None, override: list[str] | None = None
) -> list[tuple[str, Any]]:
    steps = install_order(user_features(features), resolver(local or {}), override)
    return [(s.user_id, s.options) for s in steps]


def test_installs_after_local_features() -> None:
    local = {"a": {"id": "a", "installsAfter": ["./b", "./c"]}, "b": {"id": "b"}, "c": {"id": "c"}}
    assert order({"./a": {}, "./c": {"magicNumber": "321"}}, local) == [("./c", {"magicNumber": "321"}), ("./a", {})]


def test_depends_on_local_features() -> None:
    local = {"a": {"id": "a", "dependsOn": {"./b": {"magicNumber": "50"}}}, "b": {"id": "b"}}
    assert order({"./a": {}}, local) == [("./b", {"magicNumber": "50"}), ("./a", {})]


def test_depends_on_round_sorting_by_options() -> None:
    local = {
        "a": {"id": "a", "dependsOn": {"./b": {"optA": "a", "optB": "a"}, "./c": {}}},
        "b": {"id": "b"},
        "c": {"id": "c", "dependsOn": {"./b": {"optA": "b", "optB": "a"}, "./d": {}, "./e": {}}},
        "d": {"id": "d", "dependsOn": {"./b": {"optA": "b", "optB": "b"}}},
        "e": {"id": "e", "dependsOn": {"./b": {}}},
    }
    assert order({"./a": {"optA": "a", "optB": "b"}, "./b": {"optA": "a", "optB": "b"}}, local) == [
        ("./b", {}),
        ("./b", {"optA": "a", "optB": "a"}),
        ("./b", {"optA": "a", "optB": "b"}),
        ("./b", {"optA": "b", "optB": "a"}),
        ("./b", {"optA": "b", "optB": "b"}),
        ("./d", {}),
        ("./e", {}),
        ("./c", {}),
        ("./a", {"optA": "a", "optB": "b"}),
    ]


def test_depends_on_published_oci_features() -> None:
    steps = install_order(
        user_features(
            {
                "ghcr.io/codspace/dependson/b": {"magicNumber": "400"},
                "ghcr.io/codspace/dependson/a": {"magicNumber": "10"},
            }
        ),
        resolver({}),
    )
    got = [
        (s.user_id, s.options, f"{s.feature.ref.oci.resource}@{s.feature.digest}") for s in steps if s.feature.ref.oci
    ]
    assert got == [
        (
            "ghcr.io/codspace/dependson/D",
            {"magicNumber": "30"},
            f"ghcr.io/codspace/dependson/d@{DIGESTS['ghcr.io/codspace/dependson/d']}",
        ),
        (
            "ghcr.io/codspace/dependson/E",
            {"magicNumber": "50"},
            f"ghcr.io/codspace/dependson/e@{DIGESTS['ghcr.io/codspace/dependson/e']}",
        ),
        (
            "ghcr.io/codspace/dependson/a",
            {"magicNumber": "10"},
            f"ghcr.io/codspace/dependson/a@{DIGESTS['ghcr.io/codspace/dependson/a']}",
        ),
        (
            "ghcr.io/codspace/dependson/A",
            {"magicNumber": "40"},
            f"ghcr.io/codspace/dependson/a@{DIGESTS['ghcr.io/codspace/dependson/a']}",
        ),
        (
            "ghcr.io/codspace/dependson/C",
            {"magicNumber": "20"},
            f"ghcr.io/codspace/dependson/c@{DIGESTS['ghcr.io/codspace/dependson/c']}",
        ),
        (
            "ghcr.io/codspace/dependson/b",
            {"magicNumber": "400"},
            f"ghcr.io/codspace/dependson/b@{DIGESTS['ghcr.io/codspace/dependson/b']}",
        ),
    ]
    assert [s.origin for s in steps] == ["dependency", "dependency", "user", "dependency", "dependency", "user"]


def test_depends_on_published_tarball_and_oci_features() -> None:
    tgz = "https://github.com/codspace/tgz-features-with-dependson/releases/download/0.0.2/devcontainer-feature-"
    assert order({f"{tgz}B.tgz": {"magicNumber": "400"}, f"{tgz}A.tgz": {"magicNumber": "10"}}) == [
        ("ghcr.io/codspace/dependson/D", {"magicNumber": "30"}),
        ("ghcr.io/codspace/dependson/E", {"magicNumber": "50"}),
        ("ghcr.io/codspace/dependson/A", {"magicNumber": "40"}),
        (f"{tgz}A.tgz", {"magicNumber": "10"}),
        ("ghcr.io/codspace/dependson/C", {"magicNumber": "20"}),
        (f"{tgz}B.tgz", {"magicNumber": "400"}),
    ]


def test_installs_after_cycle_is_an_error_naming_the_cycle() -> None:
    local = {
        "a": {"id": "a", "installsAfter": ["./b"]},
        "b": {"id": "b", "installsAfter": ["./c"]},
        "c": {"id": "c", "installsAfter": ["./a"]},
    }
    with pytest.raises(ConfigError) as info:
        order({"./a": {}, "./b": {}, "./c": {}}, local)
    assert "features depend on each other in a cycle: ./a → ./b → ./c → ./a" in info.value.msg


def test_depends_on_cycle_is_an_error_located_at_features() -> None:
    local = {
        "a": {"id": "a", "dependsOn": {"./b": {}}},
        "b": {"id": "b", "dependsOn": {"./c": {"magicNumber": "50"}}},
        "c": {"id": "c", "dependsOn": {"./a": {"magicNumber": "50"}}},
    }
    loaded = loads('{"image": "x",\n  "features": {"./a": {}}}', CONFIG, WORKSPACE)
    with pytest.raises(ConfigError) as info:
        install_order(user_features(loaded.data["features"]), resolver(local), config=loaded)
    exc = info.value
    assert (exc.path, exc.line, exc.col, exc.pointer) == (CONFIG, 2, 15, "features")
    assert './b → ./c {"magicNumber": "50"} → ./a {"magicNumber": "50"} → ./b' in exc.msg


def test_depends_on_and_installs_after() -> None:
    local = {
        "a": {"id": "a", "installsAfter": ["./b"], "dependsOn": {"./c": {"magicNumber": "321"}}},
        "b": {"id": "b"},
        "c": {"id": "c"},
    }
    assert order({"./a": {}}, local) == [("./c", {"magicNumber": "321"}), ("./a", {})]


def test_override_one() -> None:
    local = {
        "a": {"id": "a", "dependsOn": {"./b": {}, "./c": {}, "./d": {}}},
        "b": {"id": "b"},
        "c": {"id": "c"},
        "d": {"id": "d"},
    }
    assert [u for u, _ in order({"./a": {}}, local, ["./c"])] == ["./c", "./b", "./d", "./a"]


def test_override_two_intermediate() -> None:
    local = {
        "a": {"id": "a", "dependsOn": {"./b": {}, "./d": {}}, "installsAfter": ["./c"]},
        "b": {"id": "b", "dependsOn": {"./c": {}}},
        "c": {"id": "c"},
        "d": {"id": "d"},
    }
    assert [u for u, _ in order({"./a": {}}, local, ["./c", "./d"])] == ["./c", "./d", "./b", "./a"]


def test_override_round_priority_beats_an_independent_feature() -> None:
    local = {"a": {"id": "a"}, "b": {"id": "b", "dependsOn": {"./a": {}}}, "c": {"id": "c"}}
    assert [u for u, _ in order({"./b": {}, "./c": {}}, local, ["./a", "./b", "./c"])] == ["./a", "./b", "./c"]


def test_override_mixed_feature_types() -> None:
    local = {
        "a": {
            "id": "a",
            "dependsOn": {"./b": {}, "./c": {}, "./d": {}, "ghcr.io/codspace/dependson/b": {"magicNumber": "400"}},
        },
        "b": {"id": "b"},
        "c": {"id": "c"},
        "d": {"id": "d"},
    }
    assert order({"./a": {}}, local, ["ghcr.io/codspace/dependson/a", "./d"]) == [
        ("./d", {}),
        ("./b", {}),
        ("./c", {}),
        ("ghcr.io/codspace/dependson/D", {"magicNumber": "30"}),
        ("ghcr.io/codspace/dependson/E", {"magicNumber": "50"}),
        ("ghcr.io/codspace/dependson/A", {"magicNumber": "40"}),
        ("ghcr.io/codspace/dependson/C", {"magicNumber": "20"}),
        ("ghcr.io/codspace/dependson/b", {"magicNumber": "400"}),
        ("./a", {}),
    ]


def test_override_mixed_v2_feature_types() -> None:
    dind = "https://github.com/codspace/features/releases/download/tarball02/devcontainer-feature-docker-in-docker.tgz"
    python = (
        "ghcr.io/devcontainers/features/python@sha256:675f3c93e52fa4b205827e3aae744905ae67951f70e3ec2611f766304b31f4a2"
    )
    features = {
        python: {"version": "none"},
        "ghcr.io/codspace/features/python:1": {"version": "none"},
        "./localFeatureA": {"greeting": "buongiorno"},
        "./localFeatureB": {"greeting": "buongiorno"},
        dind: {"version": "latest"},
    }
    local = {"localFeatureA": {"id": "localFeatureA"}, "localFeatureB": {"id": "localFeatureB"}}
    got = order(features, local, ["./localFeatureA", dind, "ghcr.io/devcontainers/features/python"])
    assert [u for u, _ in got] == [
        "./localFeatureA",
        dind,
        python,
        "./localFeatureB",
        "ghcr.io/codspace/features/python:1",
    ]


def test_override_mixed_v1_feature_types() -> None:
    features = {
        "terraform": "latest",
        "codspace/myfeatures/helloworld": {"greeting": "howdy"},
        "codspace/features/devcontainer-feature-go@tarball02": {},
    }
    got = order(
        features, {}, ["codspace/features/devcontainer-feature-go", "codspace/myfeatures/helloworld", "terraform"]
    )
    assert got == [
        ("codspace/features/devcontainer-feature-go@tarball02", {}),
        ("codspace/myfeatures/helloworld", {"greeting": "howdy"}),
        ("terraform", "latest"),
    ]


OFFICIAL = "ghcr.io/devcontainers/features/"


def test_official_features_follow_their_installs_after() -> None:
    features = {
        f"{OFFICIAL}{name}:1": {} for name in ("python", "node", "github-cli", "oryx", "git", "dotnet", "common-utils")
    }
    assert [u.removeprefix(OFFICIAL) for u, _ in order(features)] == [
        "common-utils:1",
        "dotnet:1",
        "git:1",
        "node:1",
        "github-cli:1",
        "oryx:1",
        "python:1",
    ]


def test_installs_after_never_adds_a_feature() -> None:
    assert [u for u, _ in order({f"{OFFICIAL}python:1": {}, f"{OFFICIAL}node:1": {}})] == [
        f"{OFFICIAL}node:1",
        f"{OFFICIAL}python:1",
    ]


def test_override_cannot_pull_a_feature_ahead_of_its_dependencies() -> None:
    features = {f"{OFFICIAL}{name}:1": {} for name in ("node", "git", "common-utils")}
    got = [u.removeprefix(OFFICIAL) for u, _ in order(features, override=[f"{OFFICIAL}node"])]
    assert got == ["common-utils:1", "node:1", "git:1"]


def test_installs_after_matches_legacy_ids() -> None:
    local = {"mine": {"id": "mine", "installsAfter": [f"{OFFICIAL}docker-from-docker"]}}

    base = resolver(local)

    def resolve(user_id: str) -> ResolvedFeature:
        if user_id == f"{OFFICIAL}docker-from-docker":  # the registry serves the renamed feature
            ref = parse_feature_ref(user_id)
            return ResolvedFeature(ref, "sha256:" + "0" * 64, official("docker-outside-of-docker"))
        return base(user_id)

    steps = install_order(user_features({"./mine": {}, f"{OFFICIAL}docker-outside-of-docker:1": {}}), resolve)
    assert [s.user_id for s in steps] == [f"{OFFICIAL}docker-outside-of-docker:1", "./mine"]


def test_same_feature_with_other_options_installs_twice_equal_once() -> None:
    local = {
        "a": {"id": "a", "dependsOn": {f"{OFFICIAL}node:1": {"version": "18"}}},
        "b": {"id": "b", "dependsOn": {f"{OFFICIAL}node:1": {"version": "18"}}},
    }
    got = order({"./a": {}, "./b": {}, f"{OFFICIAL}node:1": {"version": "20"}}, local)
    assert got[0][0] == f"{OFFICIAL}node:1"
    assert sorted(str(o) for u, o in got if u.endswith("node:1")) == ["{'version': '18'}", "{'version': '20'}"]
    assert len(got) == 4


def test_legacy_features_into_options() -> None:
    assert user_features({"maven": {}, "ghcr.io/devcontainers/features/java:1": "17", "jupyterlab": True}) == [
        ("ghcr.io/devcontainers/features/java:1", {"version": "17", "installMaven": True}),
        ("ghcr.io/devcontainers/features/python:1", {"installJupyterlab": True}),
    ]
