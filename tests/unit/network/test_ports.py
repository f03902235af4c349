"""devcontainer.json port properties -> PortMapping values and the auto-forward policy."""

from __future__ import annotations

import pytest

from devenv.errors import ConfigError
from devenv.network.ports import attributes_for, from_config, has_expressions, parse_app_port, parse_policy
from devenv.runtime.base import PortAttributes, PortMapping


def test_forward_ports_numbers_and_host_port_strings() -> None:
    mappings, policy = from_config([3000, "db:5432", "localhost:8080"])
    assert mappings == (
        PortMapping(3000, 3000),
        PortMapping(5432, 5432, target_host="db"),
        PortMapping(8080, 8080),
    )
    assert policy.auto_forward is True


def test_number_and_localhost_string_are_the_same_port() -> None:
    mappings, _ = from_config([3000, "localhost:3000", "127.0.0.1:3000"])
    assert mappings == (PortMapping(3000, 3000),)


@pytest.mark.parametrize(
    ("value", "pointer", "fragment"),
    [
        ([70000], "forwardPorts[0]", "1 to 65535"),
        ([3000, "abc"], "forwardPorts[1]", "'abc'"),
        ([True], "forwardPorts[0]", "True"),
        ("3000", "forwardPorts", "array"),
        ([0], "forwardPorts[0]", "got 0"),
    ],
)
def test_bad_forward_ports_name_the_item(value: object, pointer: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_config(value)
    assert info.value.pointer == pointer
    assert fragment in info.value.msg


def test_attributes_label_and_require_local_port_reach_the_mapping() -> None:
    attrs = {"3000": {"label": "Web", "requireLocalPort": True, "elevateIfNeeded": True}}
    mappings, _ = from_config([3000, 4000], ports_attributes=attrs)
    assert mappings[0] == PortMapping(3000, 3000, label="Web", require_local_port=True, elevate_if_needed=True)
    assert mappings[1] == PortMapping(4000, 4000)


def test_app_port_number_is_published_on_the_same_port_exactly() -> None:
    assert parse_app_port(8000) == (PortMapping(8000, 8000, require_local_port=True),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8000:8010", [PortMapping(8010, 8000, require_local_port=True)]),
        ("8010", [PortMapping(8010, 0)]),
        ("0.0.0.0:8000:8010", [PortMapping(8010, 8000, "0.0.0.0", require_local_port=True)]),
        ("127.0.0.1::8010", [PortMapping(8010, 0, "127.0.0.1")]),
        ("[::1]:8000:8010/tcp", [PortMapping(8010, 8000, "::1", require_local_port=True)]),
        ("5353:53/udp", [PortMapping(53, 5353, protocol="udp", require_local_port=True)]),
        (
            "9000-9001:8000-8001",
            [PortMapping(8000, 9000, require_local_port=True), PortMapping(8001, 9001, require_local_port=True)],
        ),
    ],
)
def test_app_port_strings_use_docker_publish_syntax(text: str, expected: list[PortMapping]) -> None:
    assert list(parse_app_port([text])) == expected


@pytest.mark.parametrize("text", ["80:80:80:80", "9000-9002:8000-8001", "abc", "300.1.1.1:80:80", "8000:8010/sctp"])
def test_bad_app_port_strings_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_app_port([text])
    assert info.value.pointer == "appPort[0]"


def test_attribute_precedence_exact_then_range_then_expression_then_other() -> None:
    policy = parse_policy(
        {
            r".+/server\.js": {"label": "node"},
            "3000-3999": {"label": "range", "onAutoForward": "silent"},
            "3001": {"label": "exact"},
        },
        {"onAutoForward": "ignore"},
    )
    assert attributes_for(3001, policy).label == "exact"
    assert attributes_for(3002, policy) == PortAttributes(label="range", on_auto_forward="silent")
    assert attributes_for(5000, policy, "node /app/server.js").label == "node"
    assert attributes_for(5000, policy, "python -m http.server").on_auto_forward == "ignore"
    assert attributes_for(5000, policy).on_auto_forward == "ignore"
    assert has_expressions(policy)
    assert not has_expressions(parse_policy({"3000": {}}, None))


@pytest.mark.parametrize(
    ("attrs", "pointer"),
    [
        ({"3000": {"onAutoForward": "sometimes"}}, "portsAttributes['3000'].onAutoForward"),
        ({"3000": {"requireLocalPort": "yes"}}, "portsAttributes['3000'].requireLocalPort"),
        ({"3000": {"label": 5}}, "portsAttributes['3000'].label"),
        ({"3000": "web"}, "portsAttributes['3000']"),
        ({"(": {}}, "portsAttributes['(']"),
    ],
)
def test_bad_ports_attributes_name_the_property(attrs: dict[str, object], pointer: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(attrs, None)
    assert info.value.pointer == pointer


def test_auto_forward_can_be_turned_off() -> None:
    _, policy = from_config([3000], auto_forward=False)
    assert policy.auto_forward is False


def test_from_merged_accepts_the_config_models_typed_attributes() -> None:
    from devenv.config.model import PortAttributes as ModelAttributes
    from devenv.network.ports import from_merged

    mappings, policy = from_merged(
        (3000, "db:5432"),
        (8000,),
        {"3000": ModelAttributes(label="Web", require_local_port=True)},
        ModelAttributes(on_auto_forward="ignore"),
    )
    assert mappings == (
        PortMapping(3000, 3000, label="Web", require_local_port=True),
        PortMapping(5432, 5432, target_host="db"),
        PortMapping(8000, 8000, require_local_port=True),
    )
    assert policy.other == PortAttributes(on_auto_forward="ignore")
    assert policy.auto_forward
