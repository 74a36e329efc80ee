"""The reference preprocessing and inference FESS must reproduce (used by tests/fidelity_test.ts).

mmdeploy's pipeline for RTMDet, written out with the same libraries it uses: cv2.imdecode (BGR),
or cv2.cvtColor for 4:2:0 raw frames; mmcv imrescale geometry (scale = min(W/w, H/h), sizes
int(x * s + 0.5)); cv2.resize INTER_LINEAR; pad bottom/right with 114; (img - mean) / std in
float32, CHW; Python onnxruntime (CPU) on the model; boxes divided by the per-axis scale and
clipped to the frame.

Input (stdin, JSON): {"model": path, "mean": [3], "std": [3], "pad": 114, "threshold": 0.3,
  "sizes": [320, 640], "out_dir": path,
  "images": [{"name": str, "file": path} | {"name": str, "raw": path, "width": w, "height": h,
             "format": "bgr24" | "yuv420p" | "nv12"}]}
Output: for each image <out_dir>/<name>.bgr (the decoded BGR frame) and for each size
<name>_<size>.u8 (letterboxed uint8 HWC BGR) and <name>_<size>.f32 (the float32 CHW tensor);
stdout: JSON {name: {"width", "height", "sizes": {size: [[x1, y1, x2, y2, score], ...]}}}.
"""
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort


def decode(item):
    if "file" in item:
        data = np.fromfile(item["file"], np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cv2 cannot decode {item['file']}")
        return img
    w, h, fmt = item["width"], item["height"], item["format"]
    raw = np.fromfile(item["raw"], np.uint8)
    if fmt == "bgr24":
        return raw.reshape(h, w, 3)
    code = {"yuv420p": cv2.COLOR_YUV2BGR_I420, "nv12": cv2.COLOR_YUV2BGR_NV12}[fmt]
    return cv2.cvtColor(raw.reshape(h * 3 // 2, w), code)


def letterbox(img, size, pad):
    h, w = img.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((size, size, 3), pad, np.uint8)
    out[:nh, :nw] = resized
    return out, nw / w, nh / h


def main():
    req = json.load(sys.stdin)
    mean = np.array(req["mean"], np.float32)
    std = np.array(req["std"], np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(req["model"], opts, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    result = {}
    for item in req["images"]:
        img = decode(item)
        name = item["name"]
        img.tofile(os.path.join(req["out_dir"], f"{name}.bgr"))
        h, w = img.shape[:2]
        entry = {"width": w, "height": h, "sizes": {}}
        for size in req["sizes"]:
            boxed, sx, sy = letterbox(img, size, req["pad"])
            boxed.tofile(os.path.join(req["out_dir"], f"{name}_{size}.u8"))
            tensor = ((boxed.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
            tensor = np.ascontiguousarray(tensor, np.float32)
            tensor.tofile(os.path.join(req["out_dir"], f"{name}_{size}.f32"))
            dets = session.run(None, {input_name: tensor})[0][0]
            rows = []
            for x1, y1, x2, y2, score in dets.tolist():
                if score < req["threshold"]:
                    continue
                box = [
                    min(max(x1 / sx, 0), w),
                    min(max(y1 / sy, 0), h),
                    min(max(x2 / sx, 0), w),
                    min(max(y2 / sy, 0), h),
                ]
                if box[2] > box[0] and box[3] > box[1]:
                    rows.append(box + [score])
            rows.sort(key=lambda r: -r[4])
            entry["sizes"][str(size)] = rows
        result[name] = entry
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
