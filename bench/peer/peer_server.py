"""The Python peer of FESS for bench/peer_bench.ts: aiohttp + onnxruntime + OpenCV, detection only.

Same route and headers as FESS (`POST /detect/{camera_id}`; `image/jpeg` or
`application/octet-stream` with `X-Frame-Width`, `X-Frame-Height`, `X-Pixel-Format`), same model
and the mmdeploy preprocessing of that model: cv2.imdecode (BGR) -> keep-ratio cv2.resize
INTER_LINEAR -> pad bottom/right with 114 -> (x - mean) / std in BGR order -> CHW float32.
Inference runs on the event loop, as a plain aiohttp server would; onnxruntime threads are its
defaults unless --intra-op-threads is given.

    python bench/peer/peer_server.py --model ../shared/models/rtmdet-nano-person.onnx --port 8090
"""

import argparse
import time

import cv2
import numpy as np
import onnxruntime as ort
from aiohttp import web

MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
CHANNELS = {"bgr24": 3, "rgb24": 3, "gray8": 1, "rgba": 4}


def rescale_size(w, h, size):
    """mmcv.rescale_size with keep_ratio: fit (w, h) inside size x size, rounding half up."""
    scale = min(size / w, size / h)
    return int(w * scale + 0.5), int(h * scale + 0.5)


def preprocess(img, size):
    h, w = img.shape[:2]
    nw, nh = rescale_size(w, h, size)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    padded = np.full((size, size, 3), 114, dtype=np.uint8)
    padded[:nh, :nw] = resized
    x = (padded.astype(np.float32) - MEAN) / STD
    return x.transpose(2, 0, 1)[None].copy(), nw / w, nh / h


def to_bgr(body, headers):
    width = int(headers["X-Frame-Width"])
    height = int(headers["X-Frame-Height"])
    fmt = headers.get("X-Pixel-Format", "bgr24")
    ch = CHANNELS.get(fmt)
    if ch is None or len(body) != width * height * ch:
        raise web.HTTPBadRequest(text=f"raw frame does not match {width}x{height} {fmt}")
    img = np.frombuffer(body, dtype=np.uint8).reshape(height, width, ch)
    if fmt == "rgb24":
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if fmt == "rgba":
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    if fmt == "gray8":
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def make_app(args):
    options = ort.SessionOptions()
    if args.intra_op_threads:
        options.intra_op_num_threads = args.intra_op_threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    size = args.size

    async def detect(request):
        started = time.perf_counter()
        body = await request.read()
        if request.content_type == "application/octet-stream":
            img = to_bgr(body, request.headers)
        else:
            img = cv2.imdecode(np.frombuffer(body, dtype=np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise web.HTTPBadRequest(text="body is not a decodable image")
        h, w = img.shape[:2]
        t0 = time.perf_counter()
        x, sx, sy = preprocess(img, size)
        t1 = time.perf_counter()
        dets, labels = session.run(None, {"input": x})
        t2 = time.perf_counter()
        out = []
        for (x1, y1, x2, y2, score), label in zip(dets[0].tolist(), labels[0].tolist()):
            if score < args.score:
                continue
            box = [
                min(max(x1 / sx, 0.0), w),
                min(max(y1 / sy, 0.0), h),
                min(max(x2 / sx, 0.0), w),
                min(max(y2 / sy, 0.0), h),
            ]
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            out.append({
                "class_id": int(label),
                "class_name": "person",
                "score": round(score, 4),
                "bbox": {k: round(v, 2) for k, v in zip(("x1", "y1", "x2", "y2"), box)},
            })
        return web.json_response({
            "camera_id": request.match_info["camera_id"],
            "width": w,
            "height": h,
            "detections": out,
            "timing": {
                "decode_ms": (t0 - started) * 1000,
                "preprocess_ms": (t1 - t0) * 1000,
                "inference_ms": (t2 - t1) * 1000,
                "total_ms": (time.perf_counter() - started) * 1000,
            },
        })

    async def health(_request):
        return web.json_response({"status": "healthy"})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/detect/{camera_id}", detect)
    app.router.add_get("/health", health)
    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--score", type=float, default=0.3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--intra-op-threads", type=int, default=0)
    args = parser.parse_args()
    web.run_app(make_app(args), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
