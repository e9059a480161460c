# toolfleet: one image for every process of the fleet; the command picks the role:
#   docker run toolfleet worker -Q http -c 32 -n http@%h | beat | flower | metrics | migrate
# Configuration and credentials come from the environment at run time (see the
# README's configuration table); nothing secret is baked into the image.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 fleet \
 && useradd --system --uid 10001 --gid fleet --create-home --shell /usr/sbin/nologin fleet

# Exactly what the package is built from (pyproject: readme, packages, py-modules);
# listed, not `COPY .`, so a stray local file (.env...) can never ship.
COPY pyproject.toml README.md beat_schedule.py /tmp/src/
COPY worker/ /tmp/src/worker/
COPY tasks/ /tmp/src/tasks/
COPY simulator/ /tmp/src/simulator/
RUN pip install /tmp/src && rm -rf /tmp/src

# An empty working directory: `celery -A worker.app` (run by hand) puts the cwd
# on sys.path, and it must import the installed package, not a source copy.
WORKDIR /app
USER 10001:10001
EXPOSE 5555 9808

# No HEALTHCHECK: the same image runs workers, beat, Flower, the exporter and
# a one-shot migration, and each needs its own check (docker-compose.yml, deploy/).
# Workers stop warmly on SIGTERM (running calls finish): give them time, e.g.
# `docker stop -t 300`; the default 10 s would kill calls mid-flight.
ENTRYPOINT ["fleet"]
CMD ["--help"]
