#!/bin/sh
# First run of the compose stack: creates the secrets docker-compose.yml mounts, if missing.
#   deploy/secrets/api_keys.txt                (FESS API key; clients send it as X-API-Key)
#   deploy/secrets/encryption_key.txt          (AES-256-GCM key for face encodings at rest)
#   deploy/secrets/grafana_admin_password.txt  (Grafana `admin` password)
# All are git-ignored. The folder is private to you (0700); the files are 0644 because compose
# bind-mounts each secret file as it is and the service runs as the image's `deno` user, which
# must read it. Existing files are never overwritten:
# rotate a key by editing the file (several keys, comma-separated, are all valid) and
# `docker compose up -d --force-recreate detector`.
#
#   scripts/first_run.sh [--print]      (--print also shows the API key once)
set -eu
root="$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)"
dir="$root/deploy/secrets"
mkdir -p "$dir"
chmod 700 "$dir"

secret() {
  # 32 random bytes as 64 hex characters (>= 16 characters, as server.api_keys requires).
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# 32 random bytes in base64: the faces.encryption_key format (production requires one).
key32() {
  head -c 32 /dev/urandom | base64 | tr -d '\n'
}

for name in api_keys encryption_key grafana_admin_password; do
  file="$dir/$name.txt"
  if [ -s "$file" ]; then
    echo "first_run: $file exists, kept"
    continue
  fi
  if [ "$name" = encryption_key ]; then
    (umask 022 && key32 >"$file")
  else
    (umask 022 && secret >"$file")
  fi
  echo "first_run: wrote $file"
done

if [ "${1:-}" = "--print" ]; then
  echo "API key: $(cut -d, -f1 "$dir/api_keys.txt")"
fi
echo "first_run: next: docker compose up -d --build   (docs/DOCKER_SETUP.md)"
