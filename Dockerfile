# FESS detector service. Build: docker build -t fess .   Run: docker compose up
# Models are not baked in: mount a directory holding the .onnx files named by models/*.json
# (fetch them with `deno task models`) at /app/models, or set FESS_MODELS_DIR.
FROM denoland/deno:debian-2.9.6

WORKDIR /app
# Dependencies first so source edits do not refetch npm packages. nodeModulesDir is "auto":
# this installs node_modules, including sharp's and onnxruntime-node's prebuilt native parts.
COPY deno.json deno.lock ./
RUN deno install --frozen

COPY main.ts ./
COPY functions/ functions/
COPY shared/ shared/
COPY models/ models/
RUN deno cache --frozen main.ts && mkdir -p /app/.data && chown -R deno:deno /app/.data

USER deno
ENV FESS_ENVIRONMENT=production
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:8080/health/live'); Deno.exit(r.ok ? 0 : 1)"]
# main.ts owns the listener (header deadline, idle timeout) and, on SIGTERM, finishes requests in
# flight (server.shutdown_grace_ms, keep it below the stop timeout) and flushes or spools events.
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-read", "--allow-write=/app/.data", "--allow-ffi", "--allow-sys", "main.ts", "--host", "0.0.0.0", "--port", "8080"]
