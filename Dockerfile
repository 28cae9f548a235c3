# chatroom server image: `docker build -t chatroom . && docker run -p 8080:8080 chatroom`
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/chatroom \
    PATH=/opt/chatroom/bin:$PATH \
    CHATROOM_HOST=0.0.0.0 \
    CHATROOM_PORT=8080 \
    CHATROOM_DATA_DIR=/data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY chatroom ./chatroom
RUN python3 -m venv /opt/chatroom \
    && /opt/chatroom/bin/pip install --no-cache-dir /src \
    && groupadd --system --gid 10001 chatroom \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --create-home --shell /usr/sbin/nologin chatroom

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["python", "-m", "chatroom", "serve"]
