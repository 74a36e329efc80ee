#!/usr/bin/env bash
# The venv for bench/yolo/export_yolov8n.py: ultralytics (with torch from PyPI, several GB with
# its CUDA libraries) plus onnx/onnxslim, in .cache/yolo-venv — separate from the reference
# .venv of scripts/python_env.sh. Idempotent; prints the interpreter path.
#   bash bench/yolo/setup_venv.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.cache/yolo-venv
pins=(ultralytics==8.4.190 torch==2.15.0 onnx==1.23.2 onnxslim==0.1.98)
want="$(printf '%s\n' "${pins[@]}")"
if [[ -x "$venv/bin/python" && "$(cat "$venv/.pins" 2>/dev/null)" == "$want" ]]; then
  echo "$PWD/$venv/bin/python"; exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
printf '%s\n' "$want" >"$venv/.pins"
echo "$PWD/$venv/bin/python"
