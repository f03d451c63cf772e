"""Start-up checks that turn the usual first-run mistakes into one line before anything
starts: nothing listening at the Kafka bootstrap, a port already taken."""

from __future__ import annotations

import socket


def _host_port(server: str, default_port: int = 9092) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    if not host:  # "broker" without a port
        return port, default_port
    return host.strip("[]"), int(port)


def kafka_unreachable(bootstrap: str, timeout_s: float = 3.0) -> str:
    """"" when at least one bootstrap server accepts a TCP connection, else why not (a
    broker that answers but refuses the client is the worker's own check to report)."""
    errors = []
    for server in filter(None, bootstrap.split(",")):
        try:
            host, port = _host_port(server)
        except ValueError:
            return f"SUPPORT_KAFKA_BOOTSTRAP has {server!r}, not HOST:PORT"
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return ""
        except OSError as exc:
            errors.append(f"{host}:{port} ({exc.strerror or type(exc).__name__})")
    return "no Kafka broker listens at " + ", ".join(errors)


def port_taken(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound now (another process listens there)."""
    if port == 0:
        return False
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
