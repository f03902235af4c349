"""Seccomp profiles: devenv's default (Docker's refusals, relaxed by capability) and Docker-format JSON."""

from __future__ import annotations

import errno

import pytest

from devenv.runtime.embedded import seccomp


def names(profile: seccomp.Profile) -> set[str]:
    return {r.name for r in profile.rules}


def test_default_refuses_what_docker_refuses() -> None:
    p = seccomp.default_profile(["CHOWN"])
    assert p.default_action == seccomp.ACT_ALLOW
    assert {"mount", "kexec_load", "init_module", "keyctl", "bpf", "unshare", "setns", "clone3"} <= names(p)
    assert next(r for r in p.rules if r.name == "mount").action == seccomp.act_errno(errno.EPERM)
    assert next(r for r in p.rules if r.name == "clone3").action == seccomp.act_errno(errno.ENOSYS)
    clones = [r for r in p.rules if r.name == "clone"]
    assert len(clones) == len(seccomp.NAMESPACE_FLAGS) and all(r.args[0].arg == 0 for r in clones)


def test_capabilities_let_their_syscalls_through() -> None:
    p = seccomp.default_profile(["SYS_ADMIN", "SYS_TIME"])
    assert "mount" not in names(p) and "clock_settime" not in names(p) and "clone" not in names(p)
    assert "kexec_load" in names(p) and "keyctl" in names(p)


def test_docker_profile_with_includes_excludes_args_and_errno() -> None:
    text = """{
      "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
      "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["SYS_PTRACE"]}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
      ]}"""
    p = seccomp.parse_profile(text, ["SYS_PTRACE"])
    assert p.default_action == seccomp.act_errno(38)
    assert names(p) == {"read", "write", "personality", "mkdir"}
    pers = next(r for r in p.rules if r.name == "personality")
    assert pers.args == (seccomp.ArgRule(0, seccomp.CMP_OPS["SCMP_CMP_EQ"], 8, 0),)
    assert next(r for r in p.rules if r.name == "mkdir").action == seccomp.act_errno(13)
    assert "reboot" in names(seccomp.parse_profile(text, ["SYS_BOOT"]))


def test_bad_profiles_are_reported_with_a_location() -> None:
    with pytest.raises(seccomp.SeccompError, match=r"p.json:1:2"):
        seccomp.parse_profile("{x", [], "p.json")
    with pytest.raises(seccomp.SeccompError, match="defaultAction"):
        seccomp.parse_profile("{}", [])
    with pytest.raises(seccomp.SeccompError, match=r"syscalls\[0\]: unsupported seccomp action 'SCMP_ACT_NOPE'"):
        seccomp.parse_profile(
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOPE"}]}', []
        )


def test_resolve_settings() -> None:
    assert seccomp.resolve("unconfined", [], False) is None
    assert seccomp.resolve("default", [], True) is None  # privileged: no filter
    assert seccomp.resolve("default", [], False) == seccomp.default_profile([])


@pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed")
def test_the_compiled_program_is_kept_and_refuses_what_the_profile_refuses() -> None:
    import ctypes
    import os

    profile = seccomp.default_profile([])
    bpf = seccomp.program(profile)
    assert bpf is not None and len(bpf) % 8 == 0 and len(bpf) > 8
    assert seccomp.program(seccomp.default_profile([])) is bpf  # (compiled once per process)
    pid = os.fork()
    if pid == 0:  # the child loads it (one prctl) and tries a refused call
        code = 1
        try:
            seccomp.load(profile, set_no_new_privs=True)
            libc = ctypes.CDLL(None, use_errno=True)
            refused = libc.unshare(0x04000000) == -1 and ctypes.get_errno() == errno.EPERM  # CLONE_NEWUTS
            code = 0 if refused else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
