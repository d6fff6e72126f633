"""Ray on this machine listens on loopback only: the local Ray a sweep starts and the simulated
clusters of tests and benchmarks bind 127.0.0.1, never every interface (Ray's default on Linux
puts the GCS on the machine's address and the raylet's and workers' servers on `*`);
GUMBEL_LAB_RAY_HOST opens them for a real cluster. Listening sockets are read from /proc."""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.sweeps import ray_backend

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="reads sockets from Linux's /proc")


@dataclass(frozen=True)
class Listener:
    pid: int
    program: str
    address: str
    port: int

    @property
    def on_loopback(self) -> bool:
        address = ipaddress.ip_address(self.address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1, a dual-stack socket on 127.0.0.1
        return address.is_loopback


def _listening_inodes() -> dict[str, tuple[str, int]]:
    """Socket inode -> (address, port) of every listening TCP socket of the machine."""
    found = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        for fields in (line.split() for line in lines):
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[fields[9]] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    return found


def _process_tree(root: int) -> set[int]:
    """`root` and every process descended from it."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError):
            continue  # not a process, or gone
    tree, grown = {root}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return tree


def ray_listeners() -> list[Listener]:
    """The listening TCP sockets of this process and every process it started (Ray's GCS, raylets,
    agents and workers are all descendants of the driver that started them)."""
    inodes = _listening_inodes()
    found = []
    for pid in _process_tree(os.getpid()):
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue  # ended meanwhile
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in inodes:
                found.append(Listener(pid, Path(program).name, *inodes[link[8:-1]]))
    return found


def test_the_ray_host_is_loopback_unless_set(monkeypatch):
    monkeypatch.delenv(ray_backend.RAY_HOST_ENV, raising=False)
    assert ray_backend.ray_host() == "127.0.0.1"
    for value, host in [("::1", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), (" 10.0.0.5 ", "10.0.0.5")]:
        monkeypatch.setenv(ray_backend.RAY_HOST_ENV, value)
        assert ray_backend.ray_host() == host
    monkeypatch.setenv(ray_backend.RAY_HOST_ENV, "lecture-hall")
    with pytest.raises(ValueError, match="GUMBEL_LAB_RAY_HOST='lecture-hall' is not an IP address"):
        ray_backend.ray_host()


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1:6379", True),
        ("localhost:6379", True),
        ("[::1]:6379", True),
        ("10.0.0.5:6379", False),
        ("head.example.org:6379", False),
        ("ray://127.0.0.1:10001", False),  # Ray Client: no address rewriting to undo
    ],
)
def test_which_ray_addresses_are_loopback(address, loopback):
    assert ray_backend.is_loopback(address) is loopback


def _run_tasks(ray, count: int) -> None:
    """Tasks that overlap, so that worker processes (each with a server of its own) exist."""

    @ray.remote(num_cpus=1)
    def hold() -> int:
        time.sleep(1.0)
        return os.getpid()

    assert len(ray.get([hold.remote() for _ in range(count)], timeout=180)) == count


def _assert_on_loopback_only(listeners: list[Listener]) -> None:
    off = [listener for listener in listeners if not listener.on_loopback]
    assert off == [], f"Ray listens off loopback: {off}"


@pytest.mark.slow
def test_a_local_sweeps_ray_listens_on_loopback_only(monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("GUMBEL_LAB_RAY_HOST", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert "local Ray" in ray_backend.ensure_ray()
    _run_tasks(ray, 2)
    listeners = ray_listeners()
    programs = {listener.program for listener in listeners}
    assert {"gcs_server", "raylet"} <= programs, listeners  # the listing sees Ray's servers
    assert len(listeners) >= 5, listeners  # GCS, raylet and object manager, agent, workers
    _assert_on_loopback_only(listeners)


@pytest.mark.slow
def test_a_simulated_two_node_cluster_listens_on_loopback_only(monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("GUMBEL_LAB_RAY_HOST", raising=False)
    if ray.is_initialized():
        ray.shutdown()  # the driver joins the cluster instead
    cluster = ray_backend.simulated_cluster(nodes=2, cpus_per_node=1)
    try:
        assert cluster.address.startswith("127.0.0.1:")
        where = ray_backend.ensure_ray(cluster.address)
        assert "2 CPU(s)" in where and len(ray.nodes()) == 2
        _run_tasks(ray, 2)
        listeners = ray_listeners()
        assert sum(listener.program == "raylet" for listener in listeners) >= 4, listeners  # 2 ports a node
        _assert_on_loopback_only(listeners)
    finally:
        ray.shutdown()
        cluster.shutdown()
    with pytest.raises(ValueError, match="at least one node"):
        ray_backend.simulated_cluster(nodes=0)
