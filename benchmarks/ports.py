"""Forwarded ports: devenv's forwarder against Docker's published port (docker-proxy), same server, one run.

``python -m benchmarks.ports [--gib 1] [--reps 3] [--connections 1000]`` (root; runs a private dockerd).

One Docker container (a busybox ``sleep``, imported from the host's busybox-static) publishes a port on
127.0.0.1 (Docker's userland proxy serves loopback clients). A server runs inside that container's network
namespace (the host's Python, entered with nsenter). devenv forwards another host port into the same
namespace (``devenv.network.attach(..., "none", ...)``: no second interface). The client then measures,
alternating between the two paths:

- throughput: upload (client -> server) and download (server -> client) of ``--gib`` GiB per run;
- connection latency: connect, one byte each way, close; ``--connections`` times, sequentially;
- the relay's CPU time per GiB moved (docker-proxy's, the forwarder's): less sensitive to a busy machine.

Prints a table with the ratio devenv / Docker and writes ``benchmarks/results/ports.json``.
Goal: devenv's throughput at least Docker's.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

IMAGE = "devenv-bench-ports:latest"
SERVER_PORT = 5201
CHUNK = 1 << 20

SERVER = r"""
import os, socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(512)
print("ready", flush=True)
null = os.open("/dev/null", os.O_WRONLY)
def serve(c):
    with c:
        mode = c.recv(1)
        if mode == b"L":                       # latency: one byte back
            c.sendall(b"k")
        elif mode == b"U":                     # upload: sink everything (zero-copy), report the count
            r, w = os.pipe(); total = 0
            while True:
                n = os.splice(c.fileno(), w, 1 << 20)
                if n == 0:
                    break
                total += n
                while n:
                    n -= os.splice(r, null, n)
            os.close(r); os.close(w)
            c.sendall(str(total).encode())
        elif mode == b"D":                     # download: send the number of bytes asked for
            size = int(c.recv(64)); buf = memoryview(bytearray(1 << 20)); sent = 0
            while sent < size:
                sent += c.send(buf[: min(len(buf), size - sent)])
while True:
    c, _ = srv.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout.strip()


class PrivateDocker:
    """A Docker engine of the benchmark's own (own data root, socket and bridge), so that the machine's
    engine and its docker0 are neither needed nor touched. ``--iptables=false``: every connection to a
    published port goes through docker-proxy, Docker's userland proxy (what a loopback client meets anyway)."""

    def __init__(self, scratch: Path) -> None:
        self.dir = scratch / "docker"
        self.bridge = f"dvbench{os.getpid() % 100000}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from devenv.network.netlink import PyrouteNetlink
        from devenv.network.settings import choose_subnet

        netlink = PyrouteNetlink()
        subnet = choose_subnet(netlink.routed_networks(), ipaddress.IPv4Network("10.244.0.0/16"))
        netlink.close()
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{next(subnet.hosts())}/{subnet.prefixlen}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        self.dir.mkdir(parents=True)
        sock = self.dir / "docker.sock"
        os.environ["DOCKER_HOST"] = f"unix://{sock}"
        with open(self.dir / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", f"--data-root={self.dir}/data", f"--exec-root={self.dir}/exec",
                 f"--pidfile={self.dir}/dockerd.pid", f"--host=unix://{sock}", f"--bridge={self.bridge}",
                 "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dockerd did not start: {(self.dir / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


def import_image() -> None:
    """A one-binary image: the host's busybox-static as /bin/busybox (no registry, no Docker Hub)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
    proc = subprocess.run(["docker", "import", "-", IMAGE], input=data.getvalue(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"docker import failed: {proc.stderr.decode()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (the relay: docker-proxy or devenv's forwarder)."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload(port: int, size: int) -> float:
    buf = memoryview(bytearray(CHUNK))
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"U")
        left = size
        while left:
            left -= s.send(buf[: min(CHUNK, left)])
        s.shutdown(socket.SHUT_WR)
        got = int(s.recv(64))
    elapsed = time.perf_counter() - start
    assert got == size + 0, f"server received {got} of {size} bytes"
    return size / elapsed


def download(port: int, size: int) -> float:
    buf = bytearray(CHUNK)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"D" + str(size).encode().ljust(64))
        got = 0
        while got < size:
            n = s.recv_into(buf)
            if n == 0:
                break
            got += n
    elapsed = time.perf_counter() - start
    assert got == size, f"received {got} of {size} bytes"
    return size / elapsed


def latency(port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"L")
            if s.recv(1) != b"k":
                raise RuntimeError("bad latency reply")
        samples.append(time.perf_counter() - start)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ports")
    parser.add_argument("--gib", type=float, default=1.0, help="GiB per throughput run (default 1)")
    parser.add_argument("--reps", type=int, default=3, help="throughput runs per path and direction (default 3)")
    parser.add_argument("--connections", type=int, default=1000, help="connections for the latency test")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, dockerd)")

    scratch = Path(tempfile.mkdtemp(prefix="devenv-bench-ports-"))
    os.environ["DEVENV_ROOT"] = str(scratch / "root")
    from devenv import network
    from devenv.runtime.base import PortMapping

    name = f"devenv-bench-ports-{os.getpid()}"
    server: subprocess.Popen[str] | None = None
    engine = PrivateDocker(scratch)
    try:
        engine.start()
        import_image()
        publish = f"127.0.0.1::{SERVER_PORT}"
        run("docker", "run", "-d", "--name", name, "-p", publish, IMAGE, "/bin/busybox", "sleep", "3600")
        docker_port = int(run("docker", "port", name, f"{SERVER_PORT}/tcp").splitlines()[0].rsplit(":", 1)[1])
        pid = int(run("docker", "inspect", "-f", "{{.State.Pid}}", name))
        server = subprocess.Popen(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", SERVER, str(SERVER_PORT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        att = network.attach(f"bench-{os.getpid()}", pid, "none", (PortMapping(SERVER_PORT, 0),))
        devenv_port = att.ports[0].host_port
        proxy = [
            int(line.split()[0])
            for line in run("ps", "-eo", "pid,args").splitlines()
            if "docker-proxy" in line and f"-host-port {docker_port}" in line
        ]
        relay_pid = {"docker": proxy[0] if proxy else 0, "devenv": att.forwarder_pid or 0}
        paths = {"docker": docker_port, "devenv": devenv_port}
        size = int(args.gib * 2**30)
        results: dict[str, dict[str, list[float]]] = {
            p: {"upload": [], "download": [], "latency": [], "cpu": []} for p in paths
        }
        for port in paths.values():  # warm-up
            upload(port, 64 * CHUNK)
            latency(port, 50)
        for i in range(args.reps):
            order = list(paths) if i % 2 == 0 else list(reversed(paths))
            for p in order:
                before = cpu_seconds(relay_pid[p])
                results[p]["upload"].append(upload(paths[p], size))
                results[p]["download"].append(download(paths[p], size))
                results[p]["cpu"].append((cpu_seconds(relay_pid[p]) - before) / (2 * args.gib))
        for i in range(2):
            order = list(paths) if i % 2 == 0 else list(reversed(paths))
            for p in order:
                results[p]["latency"] += latency(paths[p], args.connections // 2)
        network.detach(att.container_id)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        engine.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    def gbit(values: list[float]) -> float:
        return statistics.median(values) * 8 / 1e9

    def micros(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6

    rows = []
    for metric in ("upload", "download"):
        d, k = gbit(results["devenv"][metric]), gbit(results["docker"][metric])
        rows.append((f"throughput {metric} (Gbit/s, median)", d, k, d / k))
    d, k = statistics.median(results["devenv"]["cpu"]), statistics.median(results["docker"]["cpu"])
    rows.append(("relay CPU time per GiB (s, median; lower is better)", d, k, k / d if d else 0.0))
    for label, q in (("median", 0.5), ("p99", 0.99)):
        d, k = micros(results["devenv"]["latency"], q), micros(results["docker"]["latency"], q)
        rows.append((f"connection latency {label} (µs)", d, k, k / d))
    print("| metric | devenv | docker-proxy | devenv advantage |")
    print("| --- | --- | --- | --- |")
    for metric_name, d, k, ratio in rows:
        print(f"| {metric_name} | {d:.2f} | {k:.2f} | {ratio:.2f}x |")
    print(
        f"\n{args.reps} x {args.gib} GiB per direction, {args.connections} connections; "
        f"docker-proxy pid: {relay_pid['docker'] or 'none (kernel DNAT)'}; {os.cpu_count()} cores"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ports.json").write_text(json.dumps({"rows": rows, "raw": results, "relay_pids": relay_pid}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
