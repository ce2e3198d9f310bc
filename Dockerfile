# syntax=docker/dockerfile:1
# Decoupler: a slim, non-root image of the bot with the bundled price snapshot inside.
#   docker build -t decoupler .
#   docker run --env-file .env -p 127.0.0.1:8080:8080 decoupler

FROM python:3.11-slim-bookworm AS build
# uv installs exactly what uv.lock pins (--locked: a lock that no longer matches pyproject.toml fails the build);
# its version is the Makefile's UV_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/decoupler
RUN pip install uv==0.13.9
WORKDIR /src
# the dependencies first, in a layer of their own that a code change does not rebuild
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN uv sync --locked --no-install-project --python /usr/local/bin/python3
COPY bot ./bot
COPY handlers ./handlers
RUN uv sync --locked --no-editable --python /usr/local/bin/python3 \
 && /opt/decoupler/bin/python -c "import bot, handlers"

FROM python:3.11-slim-bookworm
ENV PATH=/opt/decoupler/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    DATABASE_URL=sqlite:////var/lib/decoupler/decoupler.sqlite3 \
    CHART_DIR=/var/lib/decoupler/charts \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN groupadd --system --gid 10001 decoupler \
 && useradd --system --uid 10001 --gid decoupler --home-dir /var/lib/decoupler --create-home decoupler
COPY --from=build /opt/decoupler /opt/decoupler
USER 10001:10001
WORKDIR /var/lib/decoupler
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "bot", "healthcheck"]
# exec form: the bot is PID 1's only child of interest and gets SIGTERM itself (it stops within seconds)
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
