# driftbot's image: one image, three processes (web, worker, clock), chosen by the command.
#
#   docker build -t driftbot:0.1.0 .
#   docker run --rm driftbot:0.1.0 --version
#
# One image name everywhere (compose.yaml, deploy/kubernetes, docs/deploying.md): driftbot:VERSION.
# BASE is a slim Python image; any Debian-like image with python3 and its venv module works
# (a machine with no registry can build one with debootstrap: deploy/offline/README.md).
ARG BASE=python:3.11-slim-bookworm

# --- build: the wheel and a virtual environment with the pinned dependencies -------------------
FROM ${BASE} AS build
# Extras of driftbot to install too, comma-separated: --build-arg EXTRAS=otel gives an image that can send
# OpenTelemetry traces (docs/operating.md, "Traces"). Default none.
ARG EXTRAS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
RUN python3 -m venv /opt/driftbot \
 && /opt/driftbot/bin/pip install -q --upgrade pip \
 && /opt/driftbot/bin/pip wheel -q --no-deps -w /wheels . \
 # No extras but those asked for (EXTRAS): the embedded servers (the demo extra) stay out of the image.
 && /opt/driftbot/bin/pip install -q -c constraints.txt "$(ls /wheels/driftbot-*.whl)${EXTRAS:+[$EXTRAS]}" \
 && /opt/driftbot/bin/pip uninstall -q -y pip \
 && find /opt/driftbot -name '__pycache__' -prune -exec rm -rf {} +

# --- run: the virtual environment, git for git migrations sources, no compilers -----------------
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 driftbot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/driftbot --create-home --shell /usr/sbin/nologin driftbot
COPY --from=build /opt/driftbot /opt/driftbot
ENV PATH=/opt/driftbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    XDG_CACHE_HOME=/var/lib/driftbot/cache \
    DRIFTBOT_CONFIG=/etc/driftbot/driftbot.toml
USER driftbot
WORKDIR /var/lib/driftbot
EXPOSE 3000
# Redis and the state database reachable, the state schema at its newest revision: for every process.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["driftbot", "check-ready"]
ENTRYPOINT ["driftbot"]
CMD ["web"]
