"""Merging image metadata, features and devcontainer.json (DIGEST §7 rules, as the reference does)."""

from __future__ import annotations

from devenv.config import (
    config_metadata_entry,
    feature_metadata_entry,
    loads,
    merge_metadata,
    parse_metadata_label,
)
from devenv.config.merge import parse_bytes

CONFIG = "/w/.devcontainer/devcontainer.json"


def test_flags_and_lists() -> None:
    merged = merge_metadata(
        [{"init": False, "capAdd": ["SYS_PTRACE"], "securityOpt": ["seccomp=unconfined"]}],
        [{"id": "ghcr.io/x/dind:1", "privileged": True, "capAdd": ["NET_ADMIN", "SYS_PTRACE"], "entrypoint": "/e1.sh"}],
        {"image": "x", "init": True, "capAdd": ["NET_ADMIN", "AUDIT_WRITE"], "entrypoint": "ignored"},
    )
    assert merged.init is True and merged.privileged is True
    assert merged.cap_add == ("SYS_PTRACE", "NET_ADMIN", "AUDIT_WRITE")
    assert merged.security_opt == ("seccomp=unconfined",)
    assert merged.entrypoints == ("/e1.sh",)
    assert merged.data["image"] == "x"
    assert "entrypoint" not in merged.data


def test_mounts_deduplicated_by_target_last_wins_in_place() -> None:
    merged = merge_metadata(
        [{"mounts": ["source=a,target=/data,type=volume", {"type": "bind", "source": "/x", "target": "/x"}]}],
        [{"id": "f", "mounts": [{"type": "volume", "source": "b", "target": "/data"}]}],
        {"mounts": ["type=bind,src=/y,dst=/x"]},
    )
    assert merged.data["mounts"] == [{"type": "volume", "source": "b", "target": "/data"}, "type=bind,src=/y,dst=/x"]
    assert [(m.type, m.source, m.target) for m in merged.mounts] == [("volume", "b", "/data"), ("bind", "/y", "/x")]


def test_lifecycle_hooks_are_all_kept_in_order_with_their_origin() -> None:
    merged = merge_metadata(
        [{"postCreateCommand": "base"}],
        [{"id": "./feat", "postCreateCommand": ["feat", "arg"], "onCreateCommand": ""}],
        {"postCreateCommand": {"a": "x", "b": ["y"]}, "onCreateCommand": "mine"},
    )
    assert merged.data["postCreateCommands"] == ["base", ["feat", "arg"], {"a": "x", "b": ["y"]}]
    assert merged.data["onCreateCommands"] == ["mine"]
    assert [(h.origin, h.command) for h in merged.hook("postCreateCommand")] == [
        ("devcontainer.json", "base"),
        ("./feat", ("feat", "arg")),
        ("devcontainer.json", {"a": "x", "b": ("y",)}),
    ]
    assert "postCreateCommand" not in merged.data


def test_last_defined_wins_and_maps_merge_per_key() -> None:
    merged = merge_metadata(
        [
            {
                "remoteUser": "base",
                "containerEnv": {"A": "1", "B": "1"},
                "overrideCommand": False,
                "waitFor": "onCreateCommand",
            }
        ],
        [],
        {
            "remoteUser": "",
            "containerEnv": {"B": "2"},
            "userEnvProbe": "none",
            "portsAttributes": {"3000": {"label": "x"}},
        },
    )
    assert merged.remote_user == "base"  # an empty value does not count
    assert dict(merged.container_env) == {"A": "1", "B": "2"}
    assert merged.override_command is False
    assert merged.wait_for == "onCreateCommand"
    assert merged.user_env_probe == "none"
    assert merged.data["portsAttributes"] == {"3000": {"label": "x"}}
    assert merged.data["remoteEnv"] == {}


def test_forward_ports_union_treats_number_and_localhost_alike() -> None:
    merged = merge_metadata(
        [{"forwardPorts": [3000, "db:5432"]}], [], {"forwardPorts": ["localhost:3000", 8080, "db:5432"]}
    )
    assert merged.data["forwardPorts"] == [3000, "db:5432", 8080]
    assert merged.forward_ports == (3000, "db:5432", 8080)


def test_host_requirements_take_the_maximum() -> None:
    merged = merge_metadata(
        [{"hostRequirements": {"cpus": 2, "memory": "4gb", "gpu": "optional"}}],
        [],
        {"hostRequirements": {"cpus": 1, "memory": "5000mb", "storage": "32gb", "gpu": {"cores": 2}}},
    )
    assert merged.data["hostRequirements"] == {
        "cpus": 2,
        "memory": str(5000 * 2**20),
        "storage": str(32 * 2**30),
        "gpu": {"cores": 2},
    }
    assert parse_bytes("4gb") == 4 * 2**30 and parse_bytes("8GB") == 0 and parse_bytes("12") == 12
    both_optional = merge_metadata(
        [{"hostRequirements": {"gpu": "optional"}}], [], {"hostRequirements": {"gpu": "optional"}}
    )
    assert both_optional.data["hostRequirements"] == {"cpus": 0, "gpu": "optional"}


def test_customizations_become_lists_per_tool() -> None:
    merged = merge_metadata(
        [{"customizations": {"vscode": {"extensions": ["a"]}}}],
        [{"id": "f", "customizations": {"vscode": {"extensions": ["b"]}, "jetbrains": {"x": 1}}}],
        {"customizations": {"vscode": {"settings": {"s": 1}}}},
    )
    assert merged.data["customizations"] == {
        "vscode": [{"extensions": ["a"]}, {"extensions": ["b"]}, {"settings": {"s": 1}}],
        "jetbrains": [{"x": 1}],
    }


def test_metadata_entries_and_label() -> None:
    loaded = loads('{"image": "x", "remoteUser": "u", "forwardPorts": [1], "build": {}, "name": "n"}', CONFIG, "/w")
    assert config_metadata_entry(loaded.data) == {"remoteUser": "u", "forwardPorts": [1]}
    feature = {"id": "node", "version": "1.0.0", "options": {}, "containerEnv": {"A": "1"}, "init": True, "mounts": []}
    assert feature_metadata_entry(feature, "ghcr.io/devcontainers/features/node:1") == {
        "id": "ghcr.io/devcontainers/features/node:1",
        "init": True,
        "mounts": [],
    }
    assert parse_metadata_label('[{"remoteUser": "a"}, 3]') == [{"remoteUser": "a"}]
    assert parse_metadata_label('{"remoteUser": "a"}') == [{"remoteUser": "a"}]
    assert parse_metadata_label("not json") == []


def test_the_merged_config_of_a_plain_config_matches_the_reference_shape() -> None:
    # devenv read-configuration --include-merged-configuration on a config with no image metadata
    # and no features: what the reference prints for the config entry alone.
    loaded = loads(
        '{"image": "x", "postCreateCommand": "a", "shutdownAction": "none", "remoteUser": "u"}', CONFIG, "/w"
    )
    merged = merge_metadata([], [], loaded.data)
    assert merged.to_json() == {
        "image": "x",
        "remoteUser": "u",
        "init": False,
        "privileged": False,
        "onCreateCommands": [],
        "updateContentCommands": [],
        "postCreateCommands": ["a"],
        "postStartCommands": [],
        "postAttachCommands": [],
        "remoteEnv": {},
        "containerEnv": {},
        "portsAttributes": {},
        "shutdownAction": "none",
    }
    assert list(merged.to_json())[:2] == ["image", "remoteUser"]
