#!/usr/bin/python3
"""A real RTSP server for tests and benchmarks: GStreamer's gst-rtsp-server through python3-gi
(Debian: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-{good,bad,ugly} gstreamer1.0-libav).

Serves a video file, decoded and re-encoded to H.264 (RTP/H264), at its native rate on
rtsp://127.0.0.1:<port>/<mount>. The media is shared: every client of a mount watches the same
encode, so ten clients cost one encoder. At the end of the file the stream ends (clients see
the session close) and the next client starts it again from the beginning.

Prints "READY <port>" on stdout once it listens; runs until SIGTERM/SIGINT, or until its parent
process is gone (so a killed test run leaves no server behind).
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True, help="video file to serve")
    parser.add_argument("--mount", default="/vtest", help="path of the stream")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    location = args.file.replace("\\", "\\\\").replace('"', '\\"')
    # One keyframe a second so a client joining (or re-joining) starts decoding within a second.
    factory.set_launch(
        f'( filesrc location="{location}" ! decodebin ! videoconvert ! '
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 threads=1 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)

    if server.attach(None) == 0:
        print(f"could not listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    parent = os.getppid()

    def orphaned() -> bool:
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add_seconds(1, orphaned)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
