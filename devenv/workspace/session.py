"""Getting a running workspace container ready for tools: users, system patches, environment, hooks.

Used by ``up``, ``run-user-commands`` and ``set-up``. The steps, once per container start:

1. one root script: updateRemoteUserUID, the reference's /etc/environment and /etc/profile patches,
   the remote user's passwd entry and the hook markers;
2. userEnvProbe as the remote user (its shell, home), remoteEnv on top;
3. the lifecycle hooks that are due (markers), as the remote user in the workspace folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devenv.config.merge import MergedConfig
from devenv.errors import LifecycleCommandFailed, WorkspaceError
from devenv.events import NULL, Reporter
from devenv.runtime.base import Container, Runtime
from devenv.workspace import environment, hookbatch, incontainer, users
from devenv.workspace.hooks import CONTAINER_HOOKS, LifecyclePlan, is_empty, run_lifecycle

if TYPE_CHECKING:
    from devenv.workspace.dotfiles import Dotfiles


def created_stamp(container: Container) -> str:
    return repr(container.created)


def started_stamp(container: Container) -> str:
    return repr(container.started_at or 0.0)


@dataclass
class Session:
    """A prepared container: who tools run as, where, and with which environment."""

    container: Container
    remote_user: str
    remote_workspace_folder: str
    shell: str = "/bin/sh"
    home: str = "/root"
    env: dict[str, str] = field(default_factory=dict)
    probed_env: dict[str, str] = field(default_factory=dict)
    container_env: dict[str, str] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    uid_changed: bool = False
    early: EarlyResult | None = None  # the hooks the set-up exec ran itself (see early_hooks)


@dataclass
class EarlyResult:
    """Hooks run in the set-up exec: which hooks' markers were written, and the failure if one failed."""

    finished: list[str]
    error: LifecycleCommandFailed | None = None


@dataclass(frozen=True)
class SessionOptions:
    remote_workspace_folder: str
    uid_owner: tuple[int, int] | None = None  # the host folder's owner, for updateRemoteUserUID
    update_uid_default: str = "on"  # the reference's --update-remote-user-uid-default: never, on, off
    default_user_env_probe: str = environment.DEFAULT_PROBE
    extra_remote_env: Mapping[str, str] = field(default_factory=dict)  # --remote-env
    early_hooks: tuple[hookbatch.Step, ...] = ()  # run by the set-up exec when it can (see early_hooks)


def remote_user_of(merged: MergedConfig, container: Container) -> str:
    return users.resolve_remote_user(merged.remote_user, container.spec.user, None)


def prepare(
    runtime: Runtime, container: Container, merged: MergedConfig, opts: SessionOptions, reporter: Reporter = NULL
) -> Session:
    """Steps 1 and 2 (see the module doc) for a running container."""
    remote_user = remote_user_of(merged, container)
    container_env = environment.env_list_to_dict(list(container.spec.env))
    uid_update = None
    flag = merged.update_remote_user_uid
    wanted = flag if flag is not None else opts.update_uid_default == "on"
    if (
        opts.update_uid_default != "never"
        and opts.uid_owner is not None
        and users.wants_uid_update(wanted, remote_user)
    ):
        uid_update = opts.uid_owner
    protected = tuple(m.target for m in container.spec.mounts if m.type in ("bind", "volume"))
    probe = merged.user_env_probe or opts.default_user_env_probe
    probe_here = None
    if users.user_name(remote_user) == "root" and probe != "none":
        _, mark = environment.probe_command("/bin/sh", probe)
        probe_here = (environment.probe_flag(probe), mark)
    empty_hooks = premarks(merged, container)
    fused = None
    if probe_here is not None and opts.early_hooks and opts.remote_workspace_folder:
        fused = hookbatch.BatchOutput(opts.early_hooks, reporter)
    script = incontainer.system_setup_script(
        remote_user,
        container_env,
        uid_update=uid_update,
        protected=protected,
        premark=empty_hooks,
        probe=probe_here,
        then=_early_script(fused, merged, opts, container_env) if fused is not None else None,
    )
    if fused is None:
        code, out = incontainer.capture(runtime, container.id, ["/bin/sh", "-c", script], user="root")
        early = None
    else:
        code, out, early = _setup_with_hooks(runtime, container.id, script, fused)
    text = out.decode("utf-8", "surrogateescape")
    if code != 0:
        raise WorkspaceError(
            f"preparing the container {container.name} failed (exit code {code})",
            detail=text[-2000:],
            remedy="the image needs /bin/sh; see the output above",
        )
    setup = incontainer.parse_setup(text, probe_here[1] if probe_here else None)
    for message in setup.messages:
        reporter.event("workspace.uid", message=message)
    passwd = setup.passwd
    if passwd is None:
        reporter.event("warning", message=f"user {remote_user} not found in the container's /etc/passwd")
    shell = container_env.get("SHELL") or (passwd.shell if passwd and passwd.shell else "/bin/sh")
    home = passwd.home if passwd and passwd.home else container_env.get("HOME", "/root")
    session = Session(
        container=container,
        remote_user=remote_user,
        remote_workspace_folder=opts.remote_workspace_folder,
        shell=shell,
        home=home,
        container_env=container_env,
        # The script lists the markers before it records the hooks without commands: they are done too
        # (else the first hook with a command would be preceded by an exec that only writes their markers).
        markers={**setup.markers, **empty_hooks},
        uid_changed=any(m.startswith("uid: updated") for m in setup.messages),
        early=early,
    )
    if early is not None:
        session.markers.update({h: _stamp_of(h, container) for h in early.finished})
    probed = setup.probed if setup.probed is not None else probe_user_env(runtime, session, probe, reporter)
    session.probed_env = probed
    session.env = environment.remote_environment(probed, merged.remote_env, container_env, opts.extra_remote_env)
    return session


def _stamp_of(hook: str, container: Container) -> str:
    return started_stamp(container) if hook == "postStartCommand" else created_stamp(container)


def early_hooks(
    merged: MergedConfig,
    container: Container,
    opts: HookOptions,
    *,
    secrets: Mapping[str, str] | None = None,
    dotfiles: Dotfiles | None = None,
) -> tuple[hookbatch.Step, ...]:
    """The hooks of a new container that the set-up exec can run itself, right after the userEnvProbe:
    all of them, when every hook due is a string or an array and nothing runs between them (no
    --skip-non-blocking-commands stop, no dotfiles, no secrets — those never go into a script). Else ()."""
    if opts.skip_post_create or opts.skip_non_blocking or secrets or dotfiles is not None:
        return ()
    steps: list[hookbatch.Step] = []
    for hook in CONTAINER_HOOKS:
        entries = merged.hook(hook)
        if all(is_empty(e.command) for e in entries) or (hook == "postAttachCommand" and opts.skip_post_attach):
            continue  # (hooks without commands: the set-up script's premarks)
        if not hookbatch.batchable(entries):
            return ()
        marker = None if hook == "postAttachCommand" else incontainer.marker_snippet(hook, _stamp_of(hook, container))
        steps += hookbatch.steps_of(hook, entries, marker)
    return tuple(steps)


def _early_script(
    batch: hookbatch.BatchOutput, merged: MergedConfig, opts: SessionOptions, container_env: Mapping[str, str]
) -> str:
    """Shell code run after the probe: the batch with the environment an exec of its own would have —
    the container's, the probed one on top, then ``--remote-env`` and remoteEnv (a ``null`` there leaves
    the container's value, as an exec does) — as root, in the workspace folder."""
    import shlex

    remote = environment.resolved_remote_env(merged.remote_env)
    unset = [k for k, v in remote.items() if v is None]
    extra = {k: v for k, v in opts.extra_remote_env.items() if k not in unset}
    values = {**extra, **{k: v for k, v in remote.items() if v is not None}}
    values.update({k: container_env[k] for k in unset if k in container_env})
    sets = [f"{k}={v}" for k, v in values.items()]
    unsets = [a for k in ("PWD", *(k for k in unset if k not in container_env)) for a in ("-u", k)]
    inner = shlex.join(["env", *unsets, *sets, "/bin/sh", "-c", hookbatch.script(batch.steps, batch.token)])
    return incontainer.early_hooks_snippet(batch.token, opts.remote_workspace_folder, f'exec env "$@" {inner}')


def _setup_with_hooks(
    runtime: Runtime, container_id: str, script: str, batch: hookbatch.BatchOutput
) -> tuple[int, bytes, EarlyResult | None]:
    """Run the set-up script that ends with the hooks: its own output is kept, the hooks' is followed live."""
    go, end = f"{batch.token}:go".encode(), f"{batch.token}:end:".encode()
    setup: list[bytes] = []
    seen: dict[str, int] = {}

    def on_line(raw: bytes) -> None:
        if "go" not in seen:
            at = raw.find(go)
            if at == -1:
                setup.append(raw)
            else:
                setup.append(raw[:at])
                seen["go"] = 1
            return
        at = raw.find(end)
        if at == -1:
            batch.on_line(raw)
            return
        if at > 0:
            batch.on_line(raw[:at])
        rest = raw[at + len(end) :].strip()
        seen["end"] = int(rest) if rest.isdigit() else 1

    code = incontainer.stream(runtime, container_id, ["/bin/sh", "-c", script], on_line, user="root")
    if "go" not in seen:
        return code, b"".join(setup), None  # the hooks did not start (no probe, no xargs): run them as usual
    try:
        return code, b"".join(setup), EarlyResult(batch.result(seen.get("end", code or 1)))
    except LifecycleCommandFailed as exc:
        return code, b"".join(setup), EarlyResult(list(batch.finished), exc)


def premarks(merged: MergedConfig, container: Container) -> dict[str, str]:
    """Hooks that have no commands: recorded as done by the setup script (no round trip of their own)."""
    stamps = {h: created_stamp(container) for h in CONTAINER_HOOKS[:3]}
    stamps["postStartCommand"] = started_stamp(container)
    return {h: v for h, v in stamps.items() if not any(not is_empty(c.command) for c in merged.hook(h))}


def probe_user_env(runtime: Runtime, session: Session, probe: str, reporter: Reporter = NULL) -> dict[str, str]:
    """The remote user's shell environment (``{}`` for ``none`` or when the shell does not answer)."""
    if probe == "none":
        return {}
    argv, mark = environment.probe_command(session.shell, probe)
    _, out = incontainer.capture(runtime, session.container.id, argv, user=session.remote_user)
    env = environment.parse_probe_output(out, mark)
    if env is None:
        argv = [session.shell, "-lc" if "login" in probe.lower() else "-c", f"echo -n {mark}; printenv; echo -n {mark}"]
        _, out = incontainer.capture(runtime, session.container.id, argv, user=session.remote_user)
        text = out.decode("utf-8", "replace")
        start, end = text.find(mark), text.rfind(mark)
        if start == -1 or end <= start:
            reporter.event(
                "warning", message=f"userEnvProbe ({probe}) with {session.shell} failed; using the container env"
            )
            return {}
        env = environment.env_list_to_dict(text[start + len(mark) : end].split("\n"))
        env.pop("PWD", None)
    return env


@dataclass(frozen=True)
class HookOptions:
    skip_post_create: bool = False
    skip_post_attach: bool = False
    skip_non_blocking: bool = False


def run_hooks(
    runtime: Runtime,
    session: Session,
    merged: MergedConfig,
    opts: HookOptions,
    reporter: Reporter = NULL,
    *,
    markers_known: bool = True,
    secrets: Mapping[str, str] | None = None,
    dotfiles: Dotfiles | None = None,
) -> str:
    """Step 3: the hooks that are due. Returns ``"done"`` or ``"skipNonBlocking"``.

    ``secrets`` (``--secrets-file``) go on top of the hooks' environment only; ``dotfiles`` are installed
    after postCreateCommand (see :mod:`devenv.workspace.dotfiles`)."""
    env = {**session.env, **secrets} if secrets else session.env
    personalize: Callable[[], None] | None = None
    if dotfiles is not None:
        from devenv.workspace import dotfiles as dotfiles_mod

        wanted = dotfiles

        def install_dotfiles() -> None:
            dotfiles_mod.install(
                runtime,
                session.container.id,
                wanted,
                user=session.remote_user,
                home=session.home,
                env=env,
                reporter=reporter,
            )

        personalize = install_dotfiles

    plan = LifecyclePlan(
        hooks={h: merged.hook(h) for h in CONTAINER_HOOKS},
        created=created_stamp(session.container),
        started=started_stamp(session.container),
        wait_for=merged.wait_for or "updateContentCommand",
        skip_post_create=opts.skip_post_create,
        skip_post_attach=opts.skip_post_attach,
        skip_non_blocking=opts.skip_non_blocking,
        personalize=personalize,
        batch=True,
    )
    run = incontainer.runner(
        runtime,
        session.container.id,
        user=session.remote_user,
        workdir=session.remote_workspace_folder or session.home,
        env=env,
    )
    markers = incontainer.ContainerMarkers(
        runtime, session.container.id, initial=session.markers if markers_known else None
    )
    return run_lifecycle(plan, run, markers, reporter)
