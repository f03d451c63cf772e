# Worker / simulator image: slim, non-root.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY connectors ./connectors
COPY intake ./intake
COPY streams ./streams
COPY kpi ./kpi
COPY windows ./windows
COPY alerts ./alerts
COPY serve ./serve
COPY devtools ./devtools
COPY supportkpi ./supportkpi
COPY deploy/alerts.yml deploy/calendars.yml deploy/sla_policies.yml ./deploy/
# setup.py compiles the KPI core with mypyc: a C compiler for the build only
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install . && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* && useradd --create-home --uid 10001 kpi && mkdir -p /data && chown kpi /data
USER kpi
ENV SUPPORT_DATA_DIR=/data/faust SUPPORT_METRICS_HOST=0.0.0.0
EXPOSE 9464
ENTRYPOINT ["support-kpi"]
CMD ["worker"]
