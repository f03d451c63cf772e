"""Start-up mistakes about the store and the topics: one line naming what to change, exit
code non-zero, before the worker consumes anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from devtools.cluster import ClusterConfig, cluster_down, cluster_up
from devtools.services import ServiceConfig
from tests.support import OwnRedis, free_port, worker_start_up_error

pytestmark = pytest.mark.integration


def test_input_topics_with_different_partition_counts_are_refused(
        services: ServiceConfig, worker_env: dict[str, str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=services.bootstrap)
    try:
        admin.create_topics([NewTopic(worker_env["SUPPORT_TOPIC_TICKETS"], 2, 1),
                             NewTopic(worker_env["SUPPORT_TOPIC_CHATS"], 3, 1)])
    finally:
        admin.close()
    out = worker_start_up_error(worker_env)
    line = next(ln for ln in out.splitlines() if "partitions" in ln)
    assert worker_env["SUPPORT_TOPIC_TICKETS"] in line and "has 2 partitions" in line
    assert worker_env["SUPPORT_TOPIC_CHATS"] in line and "has 3" in line
    assert "SUPPORT_TOPIC_TICKETS" in line


def test_a_cluster_setting_that_does_not_match_the_server_is_refused(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    out = worker_start_up_error({**worker_env, "SUPPORT_REDIS_CLUSTER": "true"})
    assert "is not a Redis Cluster node: unset SUPPORT_REDIS_CLUSTER" in out, out[-2000:]
    base = free_port()
    while any(p > 55535 for p in (base, base + 5)):
        base = free_port()
    cfg = ClusterConfig(tmp_path / "cluster", base_port=base, masters=3, replicas=0)
    cluster_up(cfg)
    try:
        out = worker_start_up_error({**worker_env, "SUPPORT_REDIS_URL": cfg.url})
        assert "is a Redis Cluster node: set SUPPORT_REDIS_CLUSTER=true" in out, out[-2000:]
    finally:
        cluster_down(cfg)


def test_wrong_or_missing_redis_password_is_one_line_naming_the_url(
        services: ServiceConfig, worker_env: dict[str, str], tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--requirepass", "right-one").start()
    try:
        wrong = worker_start_up_error(
            {**worker_env, "SUPPORT_REDIS_URL": f"redis://:wrong-one@127.0.0.1:{own.port}/0"})
        line = wrong.strip().splitlines()[-1]
        assert line.startswith("Error: SUPPORT_REDIS_URL (redis://:***@127.0.0.1:"), line
        assert "refused the credentials" in line and "wrong-one" not in wrong
        none = worker_start_up_error(
            {**worker_env, "SUPPORT_REDIS_URL": f"redis://127.0.0.1:{own.port}/0"})
        assert none.strip().splitlines()[-1].endswith(
            "needs a password and the URL has none: put it in (redis://:PASSWORD@host:port/0, "
            "or redis://USER:PASSWORD@…)"), none[-500:]
    finally:
        own.kill()


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (a worker's and its children's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_a_taken_metrics_port_ends_the_worker_and_its_children(
        worker_env: dict[str, str], attempt: int) -> None:
    """Another process holds SUPPORT_METRICS_PORT: the worker says so in one line and exits
    non-zero at once, leaving no helper process behind (three times: the wall's helper
    used to be starting when the bind failed, and the worker then never exited)."""
    import socket
    import time

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    marker = f"SUPPORT_TEST_MARK=taken-port-{worker_env['SUPPORT_KEY_PREFIX']}-{attempt}"
    try:
        started = time.monotonic()
        out = worker_start_up_error({**worker_env, "SUPPORT_METRICS_PORT": str(port),
                                     "SUPPORT_TEST_MARK": marker.split("=", 1)[1]},
                                    timeout=60)
        print(f"exited after {time.monotonic() - started:.1f} s")
    finally:
        holder.close()
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, out[-2000:]
    assert lines[0].startswith(f"Error: cannot serve on 127.0.0.1:{port}") and \
        "SUPPORT_METRICS_PORT" in lines[0], lines[0]
    time.sleep(1)  # a child would outlive its parent by its shutdown
    assert _processes_with(marker) == []
