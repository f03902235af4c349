"""Forwarded ports: devenv's forwarder against Docker's published port (docker-proxy), end to end.

Each tool runs a busybox ``sleep`` container publishing port 5201 on 127.0.0.1 (``-p 127.0.0.1::5201``:
a free host port). The same small server (the host's Python, entered into each container's network
namespace with nsenter) answers in both. The client, on the host, alternates between the two ports:

- throughput: upload (client -> container) and download (container -> client) of 1 GiB per run; the
  rows give the time per GiB, the note Gbit/s and the relay's CPU time per GiB moved (the forwarder's,
  docker-proxy's): less sensitive to a busy machine than wall time;
- latency: a batch of sequential connections (connect, one byte each way, close); each sample is the
  mean of a batch, the note gives the 99th percentile over all connections.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from benchmarks import processes
from benchmarks.context import Context, tidy
from benchmarks.harness import Comparison, Sample, alternate

SERVER_PORT = 5201
CHUNK = 1 << 20
GIB = 1 << 30
BATCH = 200  # connections per latency sample

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


def upload(port: int, size: int = GIB) -> float:
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
    if got != size:
        raise RuntimeError(f"the server received {got} of {size} bytes")
    return elapsed


def download(port: int, size: int = GIB) -> float:
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
    if got != size:
        raise RuntimeError(f"received {got} of {size} bytes")
    return elapsed


def connections(port: int, count: int) -> list[float]:
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


class Route:
    """One tool's way in: its container, the host port it published, its relay process, the server."""

    def __init__(self, tool: str, container_pid: int, host_port: int, relay_pid: int) -> None:
        self.tool, self.port, self.relay = tool, host_port, relay_pid
        self.server = subprocess.Popen(
            ["nsenter", f"--net=/proc/{container_pid}/ns/net", sys.executable, "-c", SERVER, str(SERVER_PORT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.server.stdout is not None
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the test server did not start in {tool}'s container")
        self.cpu: list[float] = []
        self.latencies: list[float] = []

    def relay_cpu(self) -> float:
        return processes.cpu_seconds([self.relay])

    def moved(self, transfer: Callable[[int], float]) -> Callable[[], Sample]:
        def run() -> Sample:
            before = self.relay_cpu()
            sample = Sample(transfer(self.port))
            self.cpu.append(self.relay_cpu() - before)
            return sample

        return run

    def latency(self) -> Sample:
        batch = connections(self.port, BATCH)
        self.latencies += batch
        return Sample(statistics.mean(batch))

    def close(self) -> None:
        self.server.kill()
        self.server.wait()


def _containers(ctx: Context) -> tuple[Route, Route]:
    image = ctx.pulled("busybox")
    engine, env = ctx.engine(), ctx.devenv_env()
    name = f"bench-ports-{uuid.uuid4().hex[:8]}"
    publish = ["-p", f"127.0.0.1::{SERVER_PORT}"]
    ctx.on_close(lambda: tidy(ctx.devenv("container", "rm", "-f", name), env=env))
    ctx.on_close(lambda: tidy(engine.docker("rm", "-f", name)))
    sleeper = ["-d", "--name", name, *publish, image, "sleep", "3600"]
    subprocess.run(ctx.devenv("container", "run", *sleeper), check=True, capture_output=True, env=env)
    subprocess.run(engine.docker("run", *sleeper), check=True, capture_output=True)

    out = subprocess.run(ctx.devenv("container", "inspect", name), check=True, capture_output=True, env=env)
    info = json.loads(out.stdout)[0]
    port = int(info["NetworkSettings"]["Ports"][0]["host_port"])
    forwarder = processes.matching(f"devenv.network.forwarder {info['Id']}")
    ours = Route("devenv", int(info["State"]["Pid"]), port, forwarder[0] if forwarder else 0)

    pid = int(engine.output("inspect", "-f", "{{.State.Pid}}", name))
    port = int(engine.output("port", name, f"{SERVER_PORT}/tcp").splitlines()[0].rsplit(":", 1)[1])
    proxy = processes.matching(f"-host-port {port} ")
    theirs = Route("docker-proxy", pid, port, proxy[0] if proxy else 0)
    for path in (ours, theirs):
        ctx.on_close(path.close)
        if not path.relay:
            raise RuntimeError(f"no relay process found for {path.tool} (port {path.port})")
    return ours, theirs


def _gbit(seconds: list[float]) -> float:
    return GIB * 8 / statistics.median(seconds) / 1e9


def throughput(ctx: Context) -> list[Comparison]:
    ours, theirs = ctx.shared("ports", lambda: _containers(ctx))
    rows = []
    for direction, transfer in (("upload (host -> container)", upload), ("download (container -> host)", download)):
        ours.cpu.clear()
        theirs.cpu.clear()
        series = alternate(ctx.reps, {"devenv": ours.moved(transfer), "docker-proxy": theirs.moved(transfer)})
        d, k = series["devenv"], series["docker-proxy"]
        note = (
            f"({_gbit([s.value for s in d.samples]):.1f} vs {_gbit([s.value for s in k.samples]):.1f} Gbit/s; "
            f"relay CPU per GiB {statistics.median(ours.cpu):.2f} vs {statistics.median(theirs.cpu):.2f} s)"
        )
        rows.append(Comparison(f"forwarded port, 1 GiB {direction}", d, [k], ">= 1x (docker-proxy's)", note=note))
    return rows


def latency(ctx: Context) -> list[Comparison]:
    ours, theirs = ctx.shared("ports", lambda: _containers(ctx))
    for route in (ours, theirs):  # warm-up, not in the percentiles
        route.latency()
        route.latencies.clear()
    series = alternate(ctx.reps, {"devenv": ours.latency, "docker-proxy": theirs.latency}, warmup=0)

    def p99(values: list[float]) -> str:
        ordered = sorted(values)
        return f"{ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e6:.0f} µs"

    note = f"(mean of {BATCH} sequential connections; p99 {p99(ours.latencies)} vs {p99(theirs.latencies)})"
    return [Comparison("forwarded port, connection latency", series["devenv"], [series["docker-proxy"]], note=note)]


SCENARIOS = [throughput, latency]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "ports", *sys.argv[1:]]))
