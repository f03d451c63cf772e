"""One Kafka broker and one redis-server for the whole test run, shared by every pytest-xdist
worker: the first worker that needs them starts them (under a file lock) and records where
they are; the others read that; the run's controller stops them at the end. Tests stay
isolated by their own topics, consumer groups and Redis key prefixes (the ``ns`` fixture);
a test that stops or breaks a server starts its own (``own_kafka``, ``OwnRedis``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from filelock import FileLock

from devtools.services import ServiceConfig, down, up
from tests.support import free_port

# a SCRAM user of the broker's SASL_PLAINTEXT listener (tests of Kafka credentials)
SCRAM_USER = ("kpi-worker", "scram-Secret-51d0")
STATE_FILE = "services.json"


def _encode(cfg: ServiceConfig) -> str:
    return json.dumps({k: str(v) if isinstance(v, Path) else v
                       for k, v in dataclasses.asdict(cfg).items()})


def _decode(text: str) -> ServiceConfig:
    d = json.loads(text)
    d["state_dir"], d["cache_dir"] = Path(d["state_dir"]), Path(d["cache_dir"])
    d["scram_users"] = tuple(tuple(u) for u in d["scram_users"])
    return ServiceConfig(**d)


def shared_services(root: Path) -> ServiceConfig:
    """The run's services, started by the first caller (``root``: the run's temporary
    directory, the same for every worker)."""
    state = root / STATE_FILE
    with FileLock(str(root / "services.lock")):
        if state.exists():
            return _decode(state.read_text())
        cfg = ServiceConfig(state_dir=root / "services", kafka_port=free_port(),
                            controller_port=free_port(), redis_port=free_port(),
                            sasl_port=free_port(), scram_users=(SCRAM_USER,),
                            ssl_port=free_port())
        try:
            up(cfg)
        except BaseException:
            down(cfg, log=lambda _m: None)
            raise
        state.write_text(_encode(cfg))
        return cfg


def stop_shared_services(root: Path) -> None:
    """What :func:`shared_services` started in this run, stopped (the controller, last)."""
    state = root / STATE_FILE
    if state.exists():
        down(_decode(state.read_text()))
        state.unlink()


def own_kafka(state_dir: Path) -> ServiceConfig:
    """A broker of one test only (it stops and starts it); Redis stays the shared one."""
    from devtools.services import start_kafka

    cfg = ServiceConfig(state_dir=state_dir, kafka_port=free_port(),
                        controller_port=free_port())
    start_kafka(cfg)
    return cfg
