# FESS detector service.
#   docker build -t fess .            (or: docker compose build)
#   docker compose up                 (see docs/DOCKER_SETUP.md)
# Models are not baked in: docker/entrypoint.sh verifies (sha256) or downloads the models the
# settings name into FESS_MODELS_DIR (/models, a volume) at start.
#
# Two stages: `build` installs every npm package (deno install, all platforms' optional parts)
# and prunes what Linux on this CPU never loads (docker/prune_node_modules.sh); the runtime
# stage copies the pruned node_modules and the sources only, not the npm tarball cache.
ARG DENO_IMAGE=denoland/deno:debian-2.9.6

FROM ${DENO_IMAGE} AS build
WORKDIR /app
# Dependencies first so source edits do not refetch npm packages (nodeModulesDir is "auto").
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY docker/prune_node_modules.sh docker/
RUN sh docker/prune_node_modules.sh node_modules

FROM ${DENO_IMAGE}
WORKDIR /app
# Code and packages are root-owned and read-only to the service; it writes only to volumes.
COPY --from=build /app/node_modules node_modules/
COPY deno.json deno.lock main.ts app.ts ./
COPY functions/ functions/
COPY shared/ shared/
COPY models/ models/
COPY ui/ ui/
COPY scripts/models.ts scripts/
COPY docker/entrypoint.sh docker/
RUN mkdir -p /app/.data /models && chown deno:deno /app/.data /models
USER deno
# Compile cache (in the deno user's DENO_DIR) for the service, its detector Worker (started
# by URL, so not reached from main.ts) and the model check: the
# container starts with --cached-only, without the network except for model downloads.
RUN deno cache --frozen main.ts scripts/models.ts shared/detector/detector_worker.ts
ENV FESS_ENVIRONMENT=production \
    FESS_MODELS_DIR=/models \
    FESS_DATA_DIR=/app/.data \
    FESS_HEALTH__DISK_PATH=/app/.data
# Memory under load (docs/PERFORMANCE.md): two malloc arenas instead of one per thread and a
# small V8 young generation (each isolate, Workers included).
ENV MALLOC_ARENA_MAX=2 \
    DENO_V8_FLAGS=--max-semi-space-size=2
VOLUME ["/models", "/app/.data"]
EXPOSE 8080
# Ready = detector loaded and warmed; the start period covers a first model download.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:8080/health/ready'); Deno.exit(r.ok ? 0 : 1)"]
# tini (PID 1, from the base image) forwards signals; the entrypoint execs the command, so
# SIGTERM reaches main.ts, which owns the listener (header deadline, idle timeout), finishes
# requests in flight (server.shutdown_grace_ms, below the stop timeout) and flushes or spools
# accepted events before exiting.
ENTRYPOINT ["/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["deno", "run", "--cached-only", "--allow-net", "--allow-env", "--allow-read", "--allow-write=/app/.data", "--allow-ffi", "--allow-sys", "main.ts", "--host", "0.0.0.0", "--port", "8080"]
