# The Auspice hub image: `auspice serve` as a non-root numeric user, on a read-only
# root filesystem (state, git cache and /tmp are volumes), with git and ssh for the
# revert. Build from the repository root:
#
#     docker build -t auspice:0.1.0 .
#
# The base is pinned by its full version tag. To pin it by digest too, resolve the
# digest where you build and pass it (docs/deploy.md, "The image"):
#
#     docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: a virtual environment with Auspice and its dependencies
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine/ engine/
COPY webhooks/ webhooks/
COPY analyses/ analyses/
RUN python -m venv /opt/auspice \
    && /opt/auspice/bin/pip install --no-cache-dir /src \
    && /opt/auspice/bin/auspice --help >/dev/null

# ---- runtime: the same base, git + ssh, the venv, nothing else
FROM ${PYTHON_IMAGE}
# Debian's security updates replace these versions in the archive, so exact pins would
# break the build within weeks; the base tag pins the Debian release (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 auspice \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin auspice \
    && mkdir -p /var/lib/auspice /var/cache/auspice/git /etc/auspice \
    && chown 10001:10001 /var/lib/auspice /var/cache/auspice/git
COPY --from=build /opt/auspice /opt/auspice
# HOME and TMPDIR on the /tmp volume: git and ssh may write there, nothing else is writable.
ENV PATH=/opt/auspice/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/auspice
USER 10001:10001
EXPOSE 8080
# tini as PID 1 reaps the git/ssh children a cancelled revert leaves behind and
# forwards SIGTERM, on which `auspice serve` lets running looks finish.
ENTRYPOINT ["/usr/bin/tini", "--", "auspice", "serve"]
CMD ["--config", "/etc/auspice/config/serve.yaml"]
