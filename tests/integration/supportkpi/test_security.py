"""Credentials: a Redis password and the HTTP token work, and neither is ever printed.

The worker talks to a redis-server that requires a password; /metrics and /wall require
SUPPORT_HTTP_TOKEN as a bearer token or a basic-auth password; the worker's whole log and a
failing CLI's error message are searched for both secrets.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.services import ServiceConfig
from tests.replay_check import cli, small_floor_through_worker
from tests.support import ROOT, OwnRedis, WorkerProcess, free_port, wait_for

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "r3dis-Secret-7f1c"
TOKEN = "wall-Token-92ab"


def get(url: str, auth: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_redis_password_and_http_token_never_leak(services: ServiceConfig,
                                                  worker_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis", "--requirepass", REDIS_PASSWORD).start()
    env = {**worker_env, "SUPPORT_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:"
           f"{own.port}/0", "SUPPORT_HTTP_TOKEN": TOKEN, "SUPPORT_LOG_LEVEL": "debug"}
    base = f"http://127.0.0.1:{env['SUPPORT_METRICS_PORT']}"
    bearer = f"Bearer {TOKEN}"
    basic = "Basic " + base64.b64encode(f"wall:{TOKEN}".encode()).decode()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: get(f"{base}/metrics", bearer) == 200, 60, "worker up")
        file = tmp_path / "floor.jsonl"
        cli(env, "simulate", "--backfill", "10m", "--rate", "10", "--seed", "5",
            "--out", str(file))
        cli(env, "replay", str(file))

        def processed() -> bool:
            req = urllib.request.Request(f"{base}/metrics", headers={"Authorization": bearer})
            with urllib.request.urlopen(req, timeout=10) as r:
                return "support_events_processed_total" in r.read().decode()

        wait_for(processed, 60, "events applied through the password-protected Redis")
        for path in ("/metrics", "/wall", "/api/snapshot"):
            assert get(base + path) == 401, path
            assert get(base + path, "Bearer wrong") == 401, path
            assert get(base + path, bearer) == 200, path
        assert get(base + "/metrics", basic) == 200
        assert get(base + "/wall", basic) == 200
    finally:
        worker.stop()
        own.kill()
    log = worker.log_text()
    assert "token required" in log
    assert REDIS_PASSWORD not in log and TOKEN not in log
    # a failing command names the Redis it could not read, without the password
    proc = subprocess.run([sys.executable, "-m", "supportkpi.cli", "query"], cwd=ROOT,
                          env={**env, "SUPPORT_REDIS_URL": f"redis://:{REDIS_PASSWORD}@"
                               f"127.0.0.1:{own.port}/0"}, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "cannot read Redis at redis://:***@" in proc.stderr, proc.stderr
    assert REDIS_PASSWORD not in proc.stdout + proc.stderr


def test_redis_acl_user_over_tls(services: ServiceConfig, worker_env: dict[str, str],
                                 tmp_path: Path) -> None:
    """A redis-server that listens only on TLS and knows only an ACL user: the worker and
    the query CLI reach it through `rediss://user:password@…?ssl_ca_certs=…`, and the
    password appears in no log."""
    tls = tmp_path / "tls"
    tls.mkdir()
    subprocess.run([shutil.which("openssl") or "openssl", "req", "-x509", "-newkey",
                    "rsa:2048", "-nodes", "-keyout", str(tls / "key.pem"), "-out",
                    str(tls / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(tls / "cert.pem"), "--tls-key-file", str(tls / "key.pem"),
         "--tls-ca-cert-file", str(tls / "cert.pem"), "--tls-auth-clients", "no",
         "--user", "default", "off", "--user", "kpi-reader", "on", f">{REDIS_PASSWORD}",
         "~*", "&*", "+@all", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=open(tmp_path / "redis.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    url = (f"rediss://kpi-reader:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
           f"?ssl_ca_certs={tls / 'cert.pem'}")
    env = {**worker_env, "SUPPORT_REDIS_URL": url, "SUPPORT_LOG_LEVEL": "debug"}
    try:
        worker = small_floor_through_worker(env, tmp_path, 6, "on TLS Redis")
        assert "queue" in cli(env, "query", "--window", "24h")
    finally:
        server.kill()
        server.wait(10)
    assert REDIS_PASSWORD not in worker.log_text()
