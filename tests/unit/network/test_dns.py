"""Which resolv.conf a container gets, for each kind of host resolver configuration."""

from __future__ import annotations

from pathlib import Path

from devenv.network.dns import PROXY_ADDRESS, plan


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_upstream_servers_are_used_and_search_options_kept(tmp_path: Path) -> None:
    host = write(
        tmp_path, "resolv.conf", "# c\nnameserver 10.1.1.1\nnameserver fd00::1\nsearch corp.test\noptions ndots:2\n"
    )
    p = plan("bridge", host, resolved_upstream=tmp_path / "none")
    assert p.servers == ("10.1.1.1",)
    assert "nameserver 10.1.1.1\nsearch corp.test\noptions ndots:2\n" in p.resolv_conf
    assert "fd00::1" not in p.resolv_conf  # containers have no IPv6 route
    assert p.proxy_upstreams == ()


def test_systemd_resolved_stub_is_replaced_by_its_upstream_servers(tmp_path: Path) -> None:
    host = write(tmp_path, "resolv.conf", "nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    upstream = write(tmp_path, "upstream.conf", "nameserver 192.0.2.53\nnameserver 192.0.2.54\n")
    p = plan("bridge", host, resolved_upstream=upstream)
    assert p.servers == ("192.0.2.53", "192.0.2.54")
    assert "127.0.0.53" not in p.resolv_conf
    assert p.proxy_upstreams == ()


def test_loopback_only_resolver_goes_through_the_proxy(tmp_path: Path) -> None:
    host = write(tmp_path, "resolv.conf", "nameserver 127.0.0.1\n")
    p = plan("bridge", host, resolved_upstream=tmp_path / "missing")
    assert p.servers == (PROXY_ADDRESS,)
    assert f"nameserver {PROXY_ADDRESS}\n" in p.resolv_conf
    assert p.proxy_upstreams == ("127.0.0.1",)


def test_explicit_servers_win(tmp_path: Path) -> None:
    host = write(tmp_path, "resolv.conf", "nameserver 127.0.0.53\n")
    p = plan("bridge", host, ("198.51.100.1",), resolved_upstream=tmp_path / "missing")
    assert p.servers == ("198.51.100.1",)
    assert p.proxy_upstreams == ()


def test_host_mode_gets_the_host_file_verbatim(tmp_path: Path) -> None:
    text = "nameserver 127.0.0.53\nsearch lan\n"
    p = plan("host", write(tmp_path, "resolv.conf", text))
    assert p.resolv_conf == text


def test_none_mode_has_no_servers(tmp_path: Path) -> None:
    p = plan("none", write(tmp_path, "resolv.conf", "nameserver 10.1.1.1\n"))
    assert p.servers == ()
    assert "nameserver" not in p.resolv_conf


def test_no_host_file_at_all_falls_back_to_the_proxy(tmp_path: Path) -> None:
    p = plan("bridge", tmp_path / "missing", resolved_upstream=tmp_path / "missing")
    assert p.proxy_upstreams == ("127.0.0.1",)
