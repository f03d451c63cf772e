"""Local Apache Kafka (KRaft, single node) and redis-server on loopback, without Docker.

Kafka jars come from Maven Central once (``mvn dependency:copy-dependencies`` on
``scripts/kafka/pom.xml``) into a cache directory and the broker runs with
``java -cp <jars>/*``. ``up`` is idempotent (a running, healthy service is reused),
health-checked (Kafka answers a metadata request, Redis answers PING) and says which
tool is missing when Java, Maven or redis-server is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.1.1"
Log = Callable[[str], object]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServiceError(Exception):
    """A local service could not be installed, started or reached."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "support-kpi"


@dataclass(frozen=True)
class ServiceConfig:
    state_dir: Path
    kafka_port: int = 9092
    controller_port: int = 9093
    redis_port: int = 6379
    cache_dir: Path = field(default_factory=default_cache_dir)
    kafka_heap: str = "768m"
    # an extra SASL_PLAINTEXT listener with SCRAM users created at storage format time
    # (the tests of the worker's Kafka credentials); None = PLAINTEXT only
    sasl_port: int | None = None
    scram_users: tuple[tuple[str, str], ...] = ()
    # an extra SSL listener with a self-signed certificate for 127.0.0.1 made by keytool
    # (the tests of the worker's TLS settings); clients trust it through `tls_cafile`
    ssl_port: int | None = None

    @property
    def tls_cafile(self) -> Path:
        """PEM of the SSL listener's self-signed certificate (its own CA)."""
        return self.state_dir / "kafka" / "tls" / "ca.pem"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def jar_dir(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise ServiceError(f"{tool} not found on PATH: {hint}")
    return path


def fetch_kafka(cfg: ServiceConfig, log: Log = print) -> Path:
    """Download the Kafka broker jars once; later calls reuse the cache."""
    marker = cfg.jar_dir / ".complete"
    if marker.exists():
        return cfg.jar_dir
    mvn = _require("mvn", "install Maven (apt-get install maven); it fetches the Kafka jars once")
    _require("java", "install a Java runtime (apt-get install openjdk-17-jre-headless)")
    cfg.jar_dir.mkdir(parents=True, exist_ok=True)
    pom = PROJECT_ROOT / "scripts" / "kafka" / "pom.xml"
    log(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {cfg.jar_dir} ...")
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={cfg.jar_dir}",
           "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"Maven could not fetch Kafka jars:\n{proc.stdout[-3000:]}"
                           f"{proc.stderr[-3000:]}")
    if not list(cfg.jar_dir.glob("kafka_2.13-*.jar")):
        raise ServiceError(f"Maven finished but no kafka_2.13 jar is in {cfg.jar_dir}")
    marker.write_text(KAFKA_VERSION)
    return cfg.jar_dir


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    try:  # a zombie child counts as dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.split(")")[-1].split()[0] == "Z":
            return None
    except OSError:
        pass
    return pid


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def kafka_ready(bootstrap: str) -> bool:
    """True when the broker answers a metadata request and has an active controller.

    Nothing listening is found out with a plain connect first: kafka-python would log a
    burst of connection-refused errors for every probe while the broker starts."""
    host, _, port = bootstrap.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, int(port))) != 0:
            return False
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()
    except Exception:
        return False


def topics_exist(bootstrap: str, names: Sequence[str]) -> bool:
    """Whether every topic in ``names`` exists (quietly False while Kafka cannot say)."""
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            return set(names) <= set(admin.list_topics())
        finally:
            admin.close()
    except Exception:
        return False


def _kafka_properties(cfg: ServiceConfig, data: Path) -> str:
    sasl = [] if cfg.sasl_port is None else [
        "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
        *(f"listener.name.sasl_plaintext.{m}.sasl.jaas.config="
          "org.apache.kafka.common.security.scram.ScramLoginModule required;"
          for m in ("scram-sha-256", "scram-sha-512")),
    ]
    extra = "" if cfg.sasl_port is None else f",SASL_PLAINTEXT://127.0.0.1:{cfg.sasl_port}"
    tls: list[str] = []
    if cfg.ssl_port is not None:
        extra += f",SSL://127.0.0.1:{cfg.ssl_port}"
        ks = cfg.tls_cafile.parent / "broker.p12"
        tls = [f"listener.name.ssl.ssl.keystore.location={ks}",
               f"listener.name.ssl.ssl.keystore.password={TLS_STORE_PASSWORD}",
               f"listener.name.ssl.ssl.key.password={TLS_STORE_PASSWORD}",
               "listener.name.ssl.ssl.keystore.type=PKCS12"]
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{cfg.controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},"
        f"CONTROLLER://127.0.0.1:{cfg.controller_port}{extra}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}{extra}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL",
        *sasl,
        *tls,
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=4",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.hours=168",
        "",
    ])


# Protects only a throw-away key of a loopback test listener.
TLS_STORE_PASSWORD = "local-test-only"


def _make_tls_keystore(cfg: ServiceConfig) -> None:
    """A self-signed key pair for 127.0.0.1/localhost (keytool ships with the JDK), and
    its certificate as PEM for the clients to trust."""
    tls = cfg.tls_cafile.parent
    ks = tls / "broker.p12"
    if ks.exists() and cfg.tls_cafile.exists():
        return
    keytool = _require("keytool", "install a Java runtime "
                       "(apt-get install openjdk-17-jre-headless)")
    tls.mkdir(parents=True, exist_ok=True)
    for args in (["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
                  "-validity", "30", "-dname", "CN=localhost",
                  "-ext", "SAN=IP:127.0.0.1,DNS:localhost", "-storetype", "PKCS12",
                  "-keystore", str(ks), "-storepass", TLS_STORE_PASSWORD,
                  "-keypass", TLS_STORE_PASSWORD],
                 ["-exportcert", "-rfc", "-alias", "broker", "-keystore", str(ks),
                  "-storepass", TLS_STORE_PASSWORD, "-file", str(cfg.tls_cafile)]):
        proc = subprocess.run([keytool, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServiceError(f"keytool {args[0]} failed:\n{proc.stdout}{proc.stderr}")


def _log4j2(cfg: ServiceConfig) -> str:
    return (
        "Configuration:\n  status: warn\n  Appenders:\n    Console:\n      name: STDOUT\n"
        "      PatternLayout:\n        pattern: \"[%d] %p %m (%c)%n\"\n"
        "  Loggers:\n    Root:\n      level: warn\n      AppenderRef:\n        - ref: STDOUT\n"
        "    Logger:\n      - name: kafka.server.KafkaRaftServer\n        level: info\n"
    )


@dataclass(frozen=True)
class _Server:
    """How one local server is started and told ready (Kafka and Redis share the rest)."""

    name: str
    base: Path  # its state: the pid file, the log, its data
    port: int
    port_option: str  # the command-line option that chooses another port
    where: str  # what "up on ..." names
    ready: Callable[[], bool]
    ready_within_s: float
    poll_s: float

    @property
    def pidfile(self) -> Path:
        return self.base / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.base / f"{self.name}.log"


def _running(srv: _Server, log: Log) -> bool:
    """Whether it already runs (reused); refuses a port another process holds."""
    if _pid_alive(srv.pidfile) and srv.ready():
        log(f"{srv.name}: already running on {srv.where}")
        return True
    if _port_open(srv.port):
        raise ServiceError(f"port {srv.port} is taken by another process; choose another "
                           f"with {srv.port_option}")
    return False


def _launch(srv: _Server, argv: Sequence[str], log: Log) -> None:
    """Start it in its own session (a test's Ctrl-C does not reach it), record its pid and
    wait until it answers; its log tail in the error when it exits or never answers."""
    srv.base.mkdir(parents=True, exist_ok=True)
    logfile = open(srv.logfile, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    srv.pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + srv.ready_within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = srv.logfile.read_text(errors="replace")[-3000:]
            raise ServiceError(f"{srv.name} exited with {proc.returncode}; log tail:\n{tail}")
        if srv.ready():
            log(f"{srv.name}: up on {srv.where} (pid {proc.pid}, log {srv.logfile})")
            return
        time.sleep(srv.poll_s)
    raise ServiceError(f"{srv.name} did not answer within {srv.ready_within_s:.0f} s; see "
                       f"{srv.logfile}")


def start_kafka(cfg: ServiceConfig, log: Log = print) -> None:
    java = _require("java", "install a Java runtime (apt-get install openjdk-17-jre-headless)")
    base = cfg.state_dir / "kafka"
    srv = _Server("kafka", base, cfg.kafka_port, "--kafka-port", cfg.bootstrap,
                  lambda: kafka_ready(cfg.bootstrap), 90, 0.5)
    if _running(srv, log):
        return
    jars = fetch_kafka(cfg, log)
    data = base / "data"
    base.mkdir(parents=True, exist_ok=True)
    props = base / "server.properties"
    if cfg.ssl_port is not None:
        _make_tls_keystore(cfg)
    props.write_text(_kafka_properties(cfg, data))
    (base / "log4j2.yaml").write_text(_log4j2(cfg))
    classpath = f"{jars}/*"
    if not (data / "meta.properties").exists():
        _format_storage(cfg, java, classpath, props)
    _launch(srv, [java, f"-Xmx{cfg.kafka_heap}", f"-Xms{cfg.kafka_heap}", "-XX:+UseG1GC",
                  f"-Dlog4j2.configurationFile={base / 'log4j2.yaml'}",
                  "-Djava.awt.headless=true", "-cp", classpath, "kafka.Kafka", str(props)],
            log)


def _format_storage(cfg: ServiceConfig, java: str, classpath: str, props: Path) -> None:
    """KRaft's storage, formatted once, with the SCRAM users of the SASL listener."""
    proc = subprocess.run(
        [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t",
         _kafka_cluster_id(java, classpath) or uuid.uuid4().hex[:22], "-c", str(props),
         *(arg for name, pw in cfg.scram_users
           for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
           for arg in ("--add-scram", f"{mech}=[name={name},password={pw}]"))],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"kafka storage format failed:\n{proc.stdout}{proc.stderr}")


def _kafka_cluster_id(java: str, classpath: str) -> str | None:
    proc = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
                          capture_output=True, text=True)
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return lines[-1] if proc.returncode == 0 and lines else None


def start_redis(cfg: ServiceConfig, log: Log = print) -> None:
    server = _require("redis-server", "install Redis (apt-get install redis-server)")
    base = cfg.state_dir / "redis"
    srv = _Server("redis", base, cfg.redis_port, "--redis-port", f"127.0.0.1:{cfg.redis_port}",
                  lambda: redis_ping(cfg.redis_port), 20, 0.1)
    if _running(srv, log):
        return
    _launch(srv, [server, "--port", str(cfg.redis_port), "--bind", "127.0.0.1", "--dir",
                  str(base), "--save", "", "--appendonly", "no", "--daemonize", "no",
                  "--protected-mode", "yes"], log)


def up(cfg: ServiceConfig, log: Log = print) -> None:
    start_redis(cfg, log)
    start_kafka(cfg, log)


def _stop_pid(pidfile: Path, name: str, log: Log) -> None:
    pid = _pid_alive(pidfile)
    if pid is None:
        log(f"{name}: not running")
        pidfile.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _pid_alive(pidfile):
        time.sleep(0.2)
    if _pid_alive(pidfile):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    log(f"{name}: stopped (pid {pid})")


def stop_kafka(cfg: ServiceConfig, log: Log = print) -> None:
    _stop_pid(cfg.state_dir / "kafka" / "kafka.pid", "kafka", log)


def down(cfg: ServiceConfig, log: Log = print) -> None:
    stop_kafka(cfg, log)
    _stop_pid(cfg.state_dir / "redis" / "redis.pid", "redis", log)


def status(cfg: ServiceConfig) -> dict[str, bool]:
    return {
        "kafka": bool(_pid_alive(cfg.state_dir / "kafka" / "kafka.pid"))
        and kafka_ready(cfg.bootstrap),
        "redis": bool(_pid_alive(cfg.state_dir / "redis" / "redis.pid"))
        and redis_ping(cfg.redis_port),
    }
