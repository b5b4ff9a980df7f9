# dockhand itself: the service (HTTP API, Slack, GitHub intake, workers and scheduler) in a container that
# drives the host's Docker engine through its socket (sandboxes are the host's containers, siblings of this
# one). Any Debian bookworm base works:
#
#   docker build -t dockhand .                                        # debian:bookworm-slim from a registry
#   docker build -t dockhand --build-arg BASE=dockhand-debian:TAG .   # the base `dockhand image build` made
#   cp proxy-ca.pem deploy/extra-ca.pem && docker build ...           # behind a TLS-intercepting proxy
#
# compose.yaml runs it with PostgreSQL; deploy/dockhand.service runs it with systemd instead.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# deploy/extra-ca.pem, when there is one (it is not in git), is trusted as well: a proxy's CA.
COPY deploy/dockhand.service deploy/extra-ca*.pem /tmp/deploy/
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates debootstrap \
    debian-archive-keyring iptables tini e2fsprogs mount \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -f /tmp/deploy/extra-ca.pem ]; then cat /tmp/deploy/extra-ca.pem >> /etc/ssl/certs/ca-certificates.crt; fi \
 && rm -rf /tmp/deploy
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/dockhand
COPY pyproject.toml README.md ./
COPY core core
COPY bot bot
COPY tui tui
COPY sandbox sandbox
RUN python3 -m venv /opt/dockhand/venv \
 && /opt/dockhand/venv/bin/pip install --no-cache-dir --quiet '.[postgres]' \
 && ln -s /opt/dockhand/venv/bin/dockhand /usr/local/bin/dockhand
# State (SQLite by default, the API token, the master key, artifacts, caches) lives in this volume.
ENV DOCKHAND_DATA_DIR=/var/lib/dockhand \
    DOCKHAND_HOST=0.0.0.0
VOLUME /var/lib/dockhand
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD python3 -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
ENTRYPOINT ["tini", "--", "dockhand"]
CMD ["serve"]
