#!/bin/sh
# FESS container entry point (PID 1 is tini, which forwards signals to the process we exec).
#
# 1. Ensures the models the settings name are in FESS_MODELS_DIR (the models volume): verifies
#    their sha256 and downloads missing ones (scripts/models.ts --config). A wrong or missing
#    detector model stops the container with a line naming the file and its URL.
# 2. Claims a data slot: replicas scaled from one service share the data volume, so each takes
#    the first free `slot-N` directory (an flock held for the life of the service, inherited
#    through exec) for its event spool and event log. A replacement container takes over a freed
#    slot and replays what its predecessor spooled, so no accepted event is stranded.
# 3. Execs the command (`deno run ... main.ts`): no shell stays in between, so SIGTERM from
#    `docker stop` reaches the service, which flushes or spools its events before exiting.
#
# FESS_SKIP_MODEL_CHECK=true skips step 1 (models baked into a derived image, read-only mounts).
set -eu

app_dir="$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)"
log_prefix="fess-entrypoint:"

if [ "${FESS_SKIP_MODEL_CHECK:-false}" != "true" ]; then
  echo "$log_prefix checking models" >&2
  if ! deno run --cached-only --allow-read --allow-write --allow-net --allow-env \
    "$app_dir/scripts/models.ts" --config >&2; then
    echo "$log_prefix models not ready (see the FAIL lines above); not starting" >&2
    exit 1
  fi
fi

data_dir="${FESS_DATA_DIR:-$app_dir/.data}"
if [ -z "${FESS_KAFKA__SPOOL_DIR:-}" ] || [ -z "${FESS_KAFKA__EVENT_LOG_PATH:-}" ]; then
  mkdir -p "$data_dir"
  slot=""
  n=1
  while [ "$n" -le "${FESS_DATA_SLOTS:-64}" ]; do
    mkdir -p "$data_dir/slot-$n"
    # fd 9 stays open across exec: the lock lives as long as the service.
    exec 9>"$data_dir/slot-$n/.lock"
    if flock -n 9; then
      slot="$data_dir/slot-$n"
      break
    fi
    exec 9>&-
    n=$((n + 1))
  done
  if [ -z "$slot" ]; then
    echo "$log_prefix no free data slot in $data_dir (raise FESS_DATA_SLOTS)" >&2
    exit 1
  fi
  export FESS_KAFKA__SPOOL_DIR="${FESS_KAFKA__SPOOL_DIR:-$slot/spool}"
  export FESS_KAFKA__EVENT_LOG_PATH="${FESS_KAFKA__EVENT_LOG_PATH:-$slot/events.jsonl}"
  echo "$log_prefix data slot $slot" >&2
fi

exec "$@"
