# A stand-in for python:3.11-slim-bookworm built only from Debian's packages, for machines that reach
# Debian's mirror but no image registry (tests/e2e/images/build.sh tags it talent/python-base:3.11-bookworm).
# The product Dockerfiles take it as BASE_IMAGE and need what the official image gives them:
# `python` and `pip` in /usr/local/bin, `python -m venv`, `pip uninstall pip setuptools wheel`,
# groupadd/useradd, CA certificates. Debian's python3.11 refuses `pip install` into the system
# (PEP 668), so /usr/local itself is a virtualenv of it: pip, python and python3 land in
# /usr/local/bin, and a venv made from it (/opt/venv) points at Debian's /usr/bin/python3.11.
# Debian bookworm's interpreter is 3.11.2 (the official image is a later 3.11 patch release).
#
# The build context (made by build.sh) holds host-ca.crt: the CA certificates the host trusts, added
# to Debian's store here so that pip and uv in the product builds trust what the host's pip trusts
# (a machine whose HTTPS egress is re-signed by a local CA reaches the package index only that way). The file may
# be empty. SSL_CERT_FILE points uv (which has its own roots otherwise) at the same store.
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV LANG=C.UTF-8 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY host-ca.crt /usr/local/share/ca-certificates/host-ca.crt
# The versions are those of Debian bookworm's point release at build time (one distribution, one
# version of each package), so they are not repeated here.
# Like Debian's slim images: no manuals, docs (copyright files kept) or translations from these packages.
# hadolint ignore=DL3008
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        > /etc/dpkg/dpkg.cfg.d/slim \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3.11 python3.11-venv ca-certificates >/dev/null \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && python3.11 -m venv /usr/local \
 && /usr/local/bin/python -m pip --version
CMD ["python3"]
