# A CPU-only image of one version-matrix cell (torch × transformers × gliner on a Python): the cell's pins installed in a
# virtualenv, the project and its tests on top; the default command runs the propagation suite and writes the cell's
# result to /app/reports (mount a directory there), as the local matrix does.
#
#   nox -s "matrix(<cell id>)" -- --docker     builds this with the right arguments and runs it (see README)
#
# Layers from the least to the most often changed, so that cells sharing a torch version share the torch layer and
# editing the project rebuilds only the last layer: base (venv, user) → torch → the cell's other pins → the project.
# Build arguments:
#   PYTHON         the cell's Python (major.minor); the build stops at once if the base image runs another
#   BASE_IMAGE     an image of that Python (default the official python:PYTHON-slim; any Debian-like image with
#                  python3 and venv)
#   CELL           the cell's id: its lock file is constraints/cells/CELL.txt
#   EXCLUDE_NEWER  a date: without a lock file, what the pins leave open resolves as of it (the definition's
#                  exclude_newer, for its pinned cells)
#   TORCH, TORCH_VARIANT, TORCH_INDEX   torch==TORCH+TORCH_VARIANT from TORCH_INDEX (empty variant/index: PyPI's build)
#   TRANSFORMERS, GLINER, OVERRIDE      the cell; OVERRIDE=1 installs TRANSFORMERS even outside gliner's declared range
#   OFFLINE=1      install only from ./wheelhouse (air-gapped builds); wheelhouse/ is searched first in every build,
#                  and torch is taken from there, offline, whenever its wheel is there (else from TORCH_INDEX)
# A CA bundle for a TLS-intercepting proxy goes in as a BuildKit secret (`--secret id=ca,src=$SSL_CERT_FILE`): it is
# read while installing and never stored in a layer. Needs BuildKit (DOCKER_BUILDKIT=1 or buildx).

ARG PYTHON=3.11
ARG BASE_IMAGE=python:${PYTHON}-slim

FROM ${BASE_IMAGE} AS base
ARG PYTHON
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    XDG_CACHE_HOME=/tmp/cache \
    UV_CACHE_DIR=/var/cache/uv
# first, an image of another Python than the cell asks for would prove nothing about the cell: stop, saying so
RUN python3 -c "import platform, sys; found = platform.python_version(); \
sys.exit(0 if found.rsplit('.', 1)[0] == '${PYTHON}' else \
f'the base image runs Python {found}, the cell asks for ${PYTHON}: build on an image of ${PYTHON} (BASE_IMAGE)')" \
 && python3 -m venv --without-pip /opt/venv \
 && useradd --create-home --uid 1000 --user-group --shell /bin/sh ptbr

# uv, used to install and then left out of the image (mounted from this stage where it is needed).
FROM base AS uv
ARG UV_VERSION=0.13.9
ARG OFFLINE=
RUN --mount=type=secret,id=ca --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check --find-links /wheelhouse \
      ${OFFLINE:+--no-index} "uv==${UV_VERSION}"

FROM base AS torch
ARG TORCH=2.13.0
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG OFFLINE=
ARG PYTHON
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON=/opt/venv/bin/python
RUN --mount=type=secret,id=ca --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv --mount=type=cache,target=/var/cache/uv \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    want="${TORCH}${TORCH_VARIANT:++$TORCH_VARIANT}"; \
    if [ -n "$OFFLINE" ]; then \
      set -- --offline --no-index; source=wheelhouse; \
    elif ls "/wheelhouse/torch-$want-cp${PYTHON%%.*}${PYTHON#*.}-"*.whl >/dev/null 2>&1; then \
      set --; source=wheelhouse; \
    else \
      set -- ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"}; source=${TORCH_INDEX:-pypi}; \
    fi; \
    /opt/uv/bin/uv pip install --find-links /wheelhouse "$@" "torch==$want" \
 && echo "$source" >/opt/venv/torch-source

# The cell's other pins, with its lock file (constraints/cells/<id>.txt) as constraints when there is one.
FROM torch AS deps
ARG TRANSFORMERS=5.16.1
ARG GLINER=0.2.29
ARG CELL=torch2.13.0-tf5.16.1-gliner0.2.29
ARG OVERRIDE=
ARG OFFLINE=
ARG EXCLUDE_NEWER=
RUN --mount=type=secret,id=ca --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv --mount=type=cache,target=/var/cache/uv \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    --mount=type=bind,source=constraints,target=/src/constraints \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    lock="/src/constraints/cells/${CELL}.txt"; \
    if [ -f "$lock" ]; then set -- --constraint "$lock"; \
    else set -- ${EXCLUDE_NEWER:+--exclude-newer "$EXCLUDE_NEWER"}; fi; \
    if [ -n "$OVERRIDE" ]; then echo "transformers==${TRANSFORMERS}" >/tmp/override.txt; \
      set -- "$@" --override /tmp/override.txt; fi; \
    /opt/uv/bin/uv pip install --find-links /wheelhouse ${OFFLINE:+--offline --no-index} "$@" \
      "transformers==${TRANSFORMERS}" "gliner[training]==${GLINER}" \
      -r /src/pyproject.toml --all-extras --group /src/pyproject.toml:test \
 && rm -f /tmp/override.txt

FROM deps AS cell
ARG TORCH=2.13.0
ARG TRANSFORMERS=5.16.1
ARG GLINER=0.2.29
ARG OVERRIDE=
ARG OFFLINE=
ARG TORCH_VARIANT=cpu
ARG PYTHON
ARG EXCLUDE_NEWER=
WORKDIR /app
COPY pyproject.toml README.md Dockerfile ./
COPY src src
COPY tests tests
COPY examples examples
COPY harness harness
COPY constraints constraints
RUN --mount=type=secret,id=ca --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,from=uv,source=/opt/uv,target=/opt/uv --mount=type=cache,target=/var/cache/uv \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    /opt/uv/bin/uv pip install --find-links /wheelhouse ${OFFLINE:+--offline --no-index} --no-deps /app \
 && rm -rf /app/build /app/src/*.egg-info
ENV PTBR_CELL_TORCH=${TORCH} \
    PTBR_CELL_TRANSFORMERS=${TRANSFORMERS} \
    PTBR_CELL_GLINER=${GLINER} \
    PTBR_CELL_OVERRIDE=${OVERRIDE} \
    PTBR_CELL_TORCH_VARIANT=${TORCH_VARIANT} \
    PTBR_CELL_PYTHON=${PYTHON} \
    PTBR_CELL_EXCLUDE_NEWER=${EXCLUDE_NEWER}
USER 1000
# Arguments select tests (pytest node ids) or go to pytest; none runs the whole propagation suite.
ENTRYPOINT ["python", "-m", "harness", "in-image"]
