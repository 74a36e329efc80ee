"""The reference face alignment FESS must reproduce (used by tests/warp_fidelity_test.ts).

insightface's `norm_crop`, written out: a similarity transform fitted by Umeyama's method (as
skimage's SimilarityTransform.estimate computes it), and cv2.warpAffine with INTER_LINEAR and a
constant black border.

Input (stdin, JSON): {"out_dir": path,
  "images": [{"name": str, "raw": path, "width": w, "height": h, "channels": 1 | 3}],
  "warps": [{"name": str, "image": name, "matrix": [6 numbers], "width": w, "height": h}],
  "similarities": [{"name": str, "src": [[x, y], ...], "dst": [[x, y], ...]}]}
Output: <out_dir>/<warp name>.u8 (the warped image, HWC); stdout: JSON
  {"similarities": {name: [6 numbers]}, "opencv": version}.
"""
import json
import os
import sys

import cv2
import numpy as np


def umeyama(src, dst):
    """Least-squares similarity (rotation, uniform scale, translation) taking src onto dst."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_d, dst_d = src - src_mean, dst - dst_mean
    a = dst_d.T @ src_d / n
    d = np.ones(2)
    if np.linalg.det(a) < 0:
        d[1] = -1
    u, s, vt = np.linalg.svd(a)
    r = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_d.var(axis=0).sum()
    t = dst_mean - scale * (r @ src_mean)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = t
    return m


def main():
    req = json.load(sys.stdin)
    images = {}
    for item in req["images"]:
        raw = np.fromfile(item["raw"], np.uint8)
        shape = (item["height"], item["width"]) + ((item["channels"],) if item["channels"] > 1 else ())
        images[item["name"]] = raw.reshape(shape)
    for warp in req["warps"]:
        m = np.array(warp["matrix"], np.float64).reshape(2, 3)
        out = cv2.warpAffine(
            images[warp["image"]], m, (warp["width"], warp["height"]),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
        )
        out.tofile(os.path.join(req["out_dir"], f"{warp['name']}.u8"))
    sims = {s["name"]: umeyama(s["src"], s["dst"]).flatten().tolist() for s in req["similarities"]}
    json.dump({"similarities": sims, "opencv": cv2.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
