#!/usr/bin/env bash
# The Python reference environment used by fidelity tests and peer benchmarks (never by the
# service): a venv in .venv with pinned onnxruntime, OpenCV (headless), numpy and aiohttp from
# PyPI. Idempotent; prints the interpreter path on success.
#   bash scripts/python_env.sh          # create or reuse .venv, print its python
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FESS_PY_VENV:-.venv}"
pins=(onnxruntime==1.30.0 opencv-python-headless==4.12.0.88 numpy==2.2.6 aiohttp==3.12.15)
want="$(printf '%s\n' "${pins[@]}")"
if [[ -x "$venv/bin/python" && "$(cat "$venv/.pins" 2>/dev/null)" == "$want" ]]; then
  echo "$PWD/$venv/bin/python"; exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
printf '%s\n' "$want" >"$venv/.pins"
echo "$PWD/$venv/bin/python"
