# syntax=docker/dockerfile:1
# The platform image: dagster-webserver, dagster-daemon, the instance/app migrations and the LLM
# cost exporter (talent-shared[platform]; no code location is installed: the webserver and the
# daemon reach the locations over gRPC). Build from the repository root:
#   docker build -f shared_lib/platform.Dockerfile -t talent-platform:<immutable tag> .
# The charts set the command of every container; the default below is the webserver.

# The base of both stages: the official Python image by default; a machine that cannot pull it
# builds a stand-in from Debian's packages (tests/e2e/images/build.sh) and passes it here.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
COPY constraints.txt constraints-tools.txt ./
RUN pip install --no-cache-dir --constraint constraints-tools.txt uv \
 && python -m venv --without-pip /opt/venv
COPY shared_lib/ shared_lib/
RUN uv pip install --python /opt/venv/bin/python --compile-bytecode --constraints constraints.txt \
        "./shared_lib[platform]" \
 && /opt/venv/bin/python -m talent_shared.llm.encodings seed /opt/tiktoken

FROM ${BASE_IMAGE}
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && groupadd --system --gid 10001 talent \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin talent
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/tiktoken /opt/tiktoken
# Read-only root filesystem: the charts mount emptyDirs at DAGSTER_HOME and /tmp; nothing else is
# written (bytecode is compiled at build time, tiktoken's encodings are seeded into the image).
# DL3064 flags the word TOKEN in TIKTOKEN_CACHE_DIR: it is a cache path, not a credential.
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    TIKTOKEN_CACHE_DIR=/opt/tiktoken
WORKDIR /opt/dagster/app
USER 10001:10001
EXPOSE 3000 9108
CMD ["dagster-webserver", "--host", "0.0.0.0", "--port", "3000", "--workspace", "/dagster-workspace/workspace.yaml"]
