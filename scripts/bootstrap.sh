#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine of this kind:
# Debian packages (redis-server, prometheus for promtool) when missing, a project
# virtualenv with the Python dependencies, and the Apache Kafka jars from Maven Central.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v openssl >/dev/null || need+=(openssl)  # TLS test certificates for redis-server
command -v keytool >/dev/null || need+=(openjdk-17-jre-headless)  # the Kafka TLS listener
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
    echo "bootstrap: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "bootstrap: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's prometheus package starts a server on :9090 when systemd is present; the
# tests run their own instances on loopback ports and never need that one.

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
# the stamp covers the build mode too: SUPPORT_KPI_PURE=1 (the KPI core interpreted) and
# the compiled build each install what they need when switched to
build_mode="pure=${SUPPORT_KPI_PURE:-0}"
stamp=.venv/.installed-$( (cat pyproject.toml setup.py; echo "$build_mode") | sha1sum | cut -c1-12)
if [[ ! -f $stamp ]]; then
  echo "bootstrap: installing Python dependencies into .venv ($build_mode; 0 compiles the KPI core with mypyc)"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
elif ! .venv/bin/python -c "import sys; from kpi._core import stale_sources; sys.exit(bool(stale_sources()))" 2>/dev/null; then
  # a compiled source changed since the last build (setup.py): build it again
  echo "bootstrap: rebuilding the KPI core ($build_mode)"
  .venv/bin/pip install -q --no-deps -e .
fi

.venv/bin/support-kpi services fetch

# The Compose specification JSON schema, for the static check of docker-compose.yml
# (no Docker engine here): it ships inside the docker-compose 1.x wheel on PyPI.
if [[ ! -f .cache/compose/compose_spec.json ]]; then
  mkdir -p .cache/compose
  .venv/bin/pip download -q --no-deps -d .cache/compose docker-compose==1.29.2
  .venv/bin/python -c "import zipfile,glob; z=zipfile.ZipFile(glob.glob('.cache/compose/docker_compose-*.whl')[0]); open('.cache/compose/compose_spec.json','wb').write(z.read('compose/config/compose_spec.json'))"
fi

# Chromium for the wall's browser test (Debian package, driven headless over DevTools)
if ! command -v chromium >/dev/null; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "bootstrap: installing chromium"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
