"""Exports YOLOv8n to ONNX from its architecture file (ultralytics' yolov8n.yaml) with random
weights, for bench/model_compare_bench.ts. Nothing is downloaded: the network is built from the
yaml, and inference time does not depend on the weight values. Run it with the separate venv
made by bench/yolo/setup_venv.sh (ultralytics needs torch; never the reference .venv):

    .cache/yolo-venv/bin/python bench/yolo/export_yolov8n.py [--out .cache/yolo]

Writes yolov8n-320.onnx and yolov8n-640.onnx (80 COCO classes, as the seed's claim means) and
yolov8n-1cls-320/640.onnx (one class, like rtmdet-nano-person), static shapes, batch 1, opset
ultralytics picks, no NMS in the graph (output [1, 4 + classes, anchors]). .onnx files are
git-ignored; never commit them.
"""

import argparse
import os
import shutil
from pathlib import Path

# No settings sync, no auto-install of missing packages, no hub look-ups.
os.environ.setdefault("YOLO_OFFLINE", "true")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def yaml_for(classes, work):
    """yolov8n.yaml itself, or a copy with `nc` changed (as a one-class dataset builds it)."""
    if classes == 80:
        return "yolov8n.yaml"
    import yaml
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolov8n.yaml")
    cfg["nc"] = classes
    cfg["scale"] = "n"
    path = work / f"yolov8n-{classes}cls.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=".cache/yolo")
    parser.add_argument("--sizes", default="320,640")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(out / "config"))

    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    work = out / "work"
    work.mkdir(exist_ok=True)
    os.chdir(work)  # export writes next to the (yaml-built) model's stem
    for classes, stem in ((80, "yolov8n"), (1, "yolov8n-1cls")):
        for size in (int(s) for s in args.sizes.split(",")):
            model = YOLO(yaml_for(classes, work))  # architecture only: random weights
            params = sum(p.numel() for p in model.model.parameters())
            path = model.export(format="onnx", imgsz=size, dynamic=False, simplify=True, device="cpu")
            target = out / f"{stem}-{size}.onnx"
            shutil.move(path, target)
            print(f"{target} ({classes} classes, {params} parameters before fusing)")


if __name__ == "__main__":
    main()
