# chatroom server image.
#   docker build -t chatroom . && docker run -p 8080:8080 -v chatroom-data:/data chatroom
# BASE lets the tests substitute a local stand-in for python:3.11-slim.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY chatroom ./chatroom
# The app and its pinned dependencies in a venv; pip and setuptools leave
# with the build stage.
RUN python3 -m venv /opt/chatroom \
    && /opt/chatroom/bin/pip install --no-cache-dir -r requirements.lock \
    && /opt/chatroom/bin/pip install --no-cache-dir --no-deps /src \
    && /opt/chatroom/bin/pip uninstall --yes pip setuptools \
    && find /opt/chatroom -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/chatroom/bin:$PATH \
    CHATROOM_HOST=0.0.0.0 \
    CHATROOM_PORT=8080 \
    CHATROOM_DATA_DIR=/data
RUN groupadd --system --gid 10001 chatroom \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin chatroom \
    && mkdir -m 0700 /data \
    && chown 10001:10001 /data
COPY --from=build /opt/chatroom /opt/chatroom
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 \
    CMD ["python", "-m", "chatroom.healthcheck"]
# SIGTERM: close every WebSocket with 1001, finish writes, exit 0 (well inside
# docker stop's 10 s).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "chatroom", "serve"]
