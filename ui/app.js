// FESS live page: cameras with their latest frame and boxes, live events (SSE over fetch, so
// the API key travels in a header), the face gallery and the service status. No framework and
// no external resources: everything here is served by FESS itself.

const KEY_STORAGE = "fess.api_key";
const THEME_STORAGE = "fess.theme";
const MAX_EVENTS = 200;
const CAMERA_REFRESH_MS = 1000;
const STATUS_REFRESH_MS = 3000;

const $ = (id) => document.getElementById(id);

/** Error from the API, carrying FESS's `{error, code, detail}` body. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) ?? "",
  cameras: new Map(), // camera_id -> { tile, canvas, caption, frameNumber, info, bitmap }
  paused: false,
  stream: null, // AbortController of the live event stream
  lastEventsTotal: null,
  lastEventsAt: 0,
  openCamera: null,
};

function headers(extra = {}) {
  return state.key ? { "x-api-key": state.key, ...extra } : { ...extra };
}

/** Whether `url` (absolute or relative to the page) is on this page's own origin. */
function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

async function api(path, init = {}) {
  // The key goes to this service only: URLs from events (snapshot_url) are the publisher's text.
  if (!sameOrigin(path)) throw new ApiError(0, { error: "not this service's address" });
  const res = await fetch(path, {
    ...init,
    headers: headers(init.headers),
    credentials: "same-origin",
  });
  if (!res.ok) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const err = new ApiError(res.status, body);
    if (res.status === 401 || res.status === 403) showAuthError(err);
    throw err;
  }
  return res;
}

// ---------------------------------------------------------------- banner and key

function showBanner(text, kind = "error") {
  const b = $("banner");
  b.textContent = text;
  b.dataset.kind = kind;
  b.hidden = false;
}

function clearBanner(kind) {
  const b = $("banner");
  if (!kind || b.dataset.kind === kind) b.hidden = true;
}

function showAuthError(err) {
  const why = err.status === 401
    ? (state.key ? "The API key was refused" : "This service needs an API key")
    : "This API key is not allowed to do that";
  showBanner(`${why} (${err.status}): ${err.message}`, "auth");
}

function setupKey() {
  const input = $("key-input");
  input.value = state.key;
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = input.value.trim();
    sessionStorage.setItem(KEY_STORAGE, state.key);
    clearBanner("auth");
    refreshAll();
  });
  $("key-forget").addEventListener("click", () => {
    state.key = "";
    input.value = "";
    sessionStorage.removeItem(KEY_STORAGE);
    refreshAll();
  });
}

function setupTheme() {
  const root = document.documentElement;
  const saved = localStorage.getItem(THEME_STORAGE);
  if (saved) root.dataset.theme = saved;
  const button = $("theme-toggle");
  const isDark = () =>
    root.dataset.theme
      ? root.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
  button.setAttribute("aria-pressed", String(isDark()));
  button.addEventListener("click", () => {
    root.dataset.theme = isDark() ? "light" : "dark";
    localStorage.setItem(THEME_STORAGE, root.dataset.theme);
    button.setAttribute("aria-pressed", String(isDark()));
  });
}

// ---------------------------------------------------------------- cameras

function drawFrame(canvas, bitmap, info) {
  const ctx = canvas.getContext("2d");
  if (bitmap) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
  } else {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  const frame = info.last_frame;
  if (!frame) return;
  const sx = canvas.width / frame.width;
  const sy = canvas.height / frame.height;
  const lineWidth = Math.max(2, Math.round(canvas.width / 320));
  ctx.lineWidth = lineWidth;
  ctx.font = `${Math.max(11, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of frame.detections) {
    const x = d.bbox.x1 * sx;
    const y = d.bbox.y1 * sy;
    const w = (d.bbox.x2 - d.bbox.x1) * sx;
    const h = (d.bbox.y2 - d.bbox.y1) * sy;
    ctx.strokeStyle = "#ffcc00";
    ctx.strokeRect(x, y, w, h);
    const label = `${d.class_name} ${d.score.toFixed(2)}${
      d.track_id === null || d.track_id === undefined ? "" : ` #${d.track_id}`
    }`;
    const tw = ctx.measureText(label).width + 6;
    const th = parseInt(ctx.font, 10) + 4;
    const ly = y - th < 0 ? y + th : y;
    ctx.fillStyle = "#ffcc00";
    ctx.fillRect(x - lineWidth / 2, ly - th, tw, th);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x + 3, ly - 2);
  }
}

function captionText(info) {
  const f = info.last_frame;
  const motion = info.motion === null || info.motion === undefined
    ? "motion gate off"
    : info.motion.detected
    ? "motion"
    : "still";
  const parts = [
    `${(info.fps ?? 0).toFixed(1)} fps`,
    motion,
    f ? `${f.detections.length} objects` : "no frame yet",
  ];
  return parts.join(" · ");
}

function alertText(info) {
  const a = info.last_alert;
  if (!a) return "";
  return `last alert: ${a.alert_type ?? "alert"} ${timeOf(a.timestamp)}`;
}

function cameraTile(id) {
  const tile = document.createElement("button");
  tile.type = "button";
  tile.className = "tile";
  tile.dataset.camera = id;
  tile.setAttribute("aria-label", `Camera ${id}: open a larger view`);
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 240;
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.innerHTML = `<strong></strong><div class="line"></div><div class="alert"></div>`;
  caption.querySelector("strong").textContent = id;
  tile.append(canvas, caption);
  tile.addEventListener("click", () => openCamera(id));
  $("camera-grid").append(tile);
  const opt = document.createElement("option");
  opt.value = id;
  opt.textContent = id;
  $("event-camera").append(opt);
  return { tile, canvas, caption, frameNumber: null, info: null, bitmap: null, option: opt };
}

async function refreshCameras() {
  let body;
  try {
    body = await (await api("/cameras")).json();
  } catch (err) {
    if (!(err instanceof ApiError)) setUnreachable(err);
    return;
  }
  const seen = new Set();
  for (const info of body.cameras) {
    seen.add(info.camera_id);
    let cam = state.cameras.get(info.camera_id);
    if (!cam) {
      cam = cameraTile(info.camera_id);
      state.cameras.set(info.camera_id, cam);
    }
    cam.info = info;
    cam.caption.querySelector(".line").textContent = captionText(info);
    cam.caption.querySelector(".alert").textContent = alertText(info);
    const n = info.last_frame?.frame_number ?? null;
    if (info.last_frame && n !== cam.frameNumber) {
      try {
        const blob = await (await api(info.frame_url)).blob();
        cam.bitmap?.close?.();
        cam.bitmap = await createImageBitmap(blob);
        cam.frameNumber = n;
      } catch {
        // Not kept yet (the service keeps frames while the page watches): next round retries.
      }
    }
    drawFrame(cam.canvas, cam.bitmap, info);
    cam.tile.dataset.detections = String(info.last_frame?.detections.length ?? 0);
    if (state.openCamera === info.camera_id) drawLarge(cam);
  }
  for (const [id, cam] of state.cameras) {
    if (seen.has(id)) continue;
    cam.tile.remove();
    cam.option.remove();
    state.cameras.delete(id);
  }
  $("cameras-empty").hidden = state.cameras.size > 0;
  $("camera-count").textContent = state.cameras.size ? `(${state.cameras.size})` : "";
}

function drawLarge(cam) {
  drawFrame($("camera-large"), cam.bitmap, cam.info);
  $("camera-large-caption").textContent = `${captionText(cam.info)} ${alertText(cam.info)}`;
}

function openCamera(id) {
  const cam = state.cameras.get(id);
  if (!cam) return;
  state.openCamera = id;
  $("camera-dialog-title").textContent = `Camera ${id}`;
  drawLarge(cam);
  const dialog = $("camera-dialog");
  dialog.addEventListener("close", () => (state.openCamera = null), { once: true });
  dialog.showModal();
}

// ---------------------------------------------------------------- live events

function timeOf(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleTimeString();
}

function summary(e) {
  switch (e.event_type) {
    case "motion_detection":
      return `${e.detections?.length ?? 0} objects, motion ${
        Number(e.motion_score ?? 0).toFixed(3)
      }`;
    case "face_recognition":
      return e.face_id
        ? `${e.name ?? e.face_id} (${e.authorized ? "authorised" : "not authorised"})`
        : "unknown face";
    case "alert":
      return `${e.alert_type}: ${e.message ?? ""}`;
    default:
      return e.status ? `${e.component ?? "system"} ${e.status}` : "";
  }
}

async function snapshotImage(url, img) {
  try {
    const blob = await (await api(url)).blob();
    img.src = URL.createObjectURL(blob);
  } catch {
    img.alt = "snapshot expired";
  }
}

function addEvent(e) {
  const li = document.createElement("li");
  li.dataset.type = e.event_type;
  li.dataset.eventId = e.event_id;
  const type = document.createElement("span");
  type.className = "type";
  type.dataset.type = e.event_type;
  type.textContent = e.event_type.replace("_", " ");
  const text = document.createElement("span");
  text.textContent = `${timeOf(e.timestamp)} · ${e.camera_id ?? ""} · ${summary(e)}`;
  li.append(type, text);
  if (e.event_type === "alert" && e.snapshot_url) {
    if (sameOrigin(e.snapshot_url)) {
      const img = document.createElement("img");
      img.alt = `snapshot of alert on ${e.camera_id}`;
      img.loading = "lazy";
      li.append(img);
      snapshotImage(e.snapshot_url, img);
    } else {
      // Another host would get the key with the request: not fetched, not linked.
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = "snapshot on another host, not loaded";
      li.append(note);
    }
  }
  const list = $("event-list");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function parseBlock(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  return { type, data: data.join("\n") };
}

async function runStream() {
  state.stream?.abort();
  const controller = new AbortController();
  state.stream = controller;
  const q = new URLSearchParams();
  if ($("event-camera").value) q.set("camera_id", $("event-camera").value);
  if ($("event-type").value) q.set("type", $("event-type").value);
  let delay = 500;
  while (!controller.signal.aborted) {
    try {
      const res = await api(`/events/stream?${q}`, {
        signal: controller.signal,
        headers: { accept: "text/event-stream" },
      });
      $("event-state").textContent = "live";
      delay = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replaceAll("\r\n", "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const { type, data } = parseBlock(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (!data || type === "ping" || state.paused) continue;
          try {
            addEvent(JSON.parse(data));
          } catch {
            // A malformed message is skipped; the stream goes on.
          }
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        $("event-state").textContent = "not allowed";
        return;
      }
    }
    if (controller.signal.aborted) return;
    $("event-state").textContent = "reconnecting…";
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

function setupEvents() {
  $("event-pause").addEventListener("click", (e) => {
    state.paused = !state.paused;
    e.currentTarget.setAttribute("aria-pressed", String(state.paused));
    e.currentTarget.textContent = state.paused ? "Resume" : "Pause";
    $("event-state").textContent = state.paused ? "paused" : "live";
  });
  $("event-clear").addEventListener("click", () => $("event-list").replaceChildren());
  $("event-camera").addEventListener("change", runStream);
  $("event-type").addEventListener("change", runStream);
}

// ---------------------------------------------------------------- face gallery

async function refreshGallery() {
  let body;
  try {
    body = await (await api("/faces?limit=1000")).json();
  } catch {
    return;
  }
  const rows = body.items.map((f) => {
    const tr = document.createElement("tr");
    tr.dataset.faceId = f.face_id;
    const cells = [f.face_id, f.metadata?.name ?? "", f.metadata?.authorized ? "yes" : "no"];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.append(td);
    }
    const td = document.createElement("td");
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete face ${f.face_id}`);
    del.addEventListener("click", () => confirmDelete(f.face_id));
    td.append(del);
    tr.append(td);
    return tr;
  });
  $("face-rows").replaceChildren(...rows);
  $("face-count").textContent = `(${body.total})`;
}

function confirmDelete(id) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = `Face ${id} will be removed from the gallery.`;
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "ok") return;
    try {
      await api(`/faces/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (err) {
      showBanner(`Could not delete ${id}: ${err.message}`);
    }
    refreshGallery();
  }, { once: true });
  dialog.showModal();
}

function setupEnrol() {
  $("enrol-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("enrol-result");
    const file = $("enrol-photo").files[0];
    const id = $("enrol-id").value.trim();
    if (!file || !id) return;
    const q = new URLSearchParams({ authorized: String($("enrol-authorized").checked) });
    const name = $("enrol-name").value.trim();
    if (name) q.set("name", name);
    out.dataset.kind = "";
    out.textContent = "enrolling…";
    try {
      await api(`/faces/${encodeURIComponent(id)}?${q}`, {
        method: "PUT",
        body: file,
        headers: { "content-type": file.type || "image/jpeg" },
      });
      out.dataset.kind = "ok";
      out.textContent = `enrolled ${id}`;
      e.target.reset();
      refreshGallery();
    } catch (err) {
      out.dataset.kind = "error";
      out.textContent = `not enrolled (${err.status ?? "network"}): ${err.message}`;
    }
  });
}

// ---------------------------------------------------------------- status

function setUnreachable(err) {
  $("health-pill").dataset.status = "unreachable";
  $("health-pill").textContent = "unreachable";
  showBanner(`The service cannot be reached: ${err.message}`, "net");
}

/** Parses Prometheus text into [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** Median from cumulative histogram buckets summed over every label set. */
function histogramMedian(series, name) {
  const buckets = new Map();
  for (const s of series) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  if (!total) return null;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= total / 2) {
      if (le === Infinity) return prevLe;
      const share = count === prevCount ? 0 : (total / 2 - prevCount) / (count - prevCount);
      return prevLe + (le - prevLe) * share;
    }
    prevLe = le;
    prevCount = count;
  }
  return null;
}

async function refreshStatus() {
  try {
    const res = await fetch("/health", { headers: headers() });
    const body = await res.json();
    $("health-pill").dataset.status = body.status;
    $("health-pill").textContent = body.status;
    if (body.status === "healthy") clearBanner("warn");
    else {
      const bad = Object.entries(body.components ?? {}).filter(([, c]) => !c.healthy)
        .map(([n, c]) => `${n}${c.error ? ` (${c.error})` : ""}`);
      showBanner(
        `Service ${body.status}${bad.length ? `: ${bad.join(", ")}` : ""}`,
        body.status === "unhealthy" ? "error" : "warn",
      );
    }
    const items = Object.entries(body.components ?? {}).map(([name, c]) => {
      const li = document.createElement("li");
      li.dataset.healthy = String(c.healthy);
      li.textContent = `${c.healthy ? "✓" : "✗"} ${name}${c.mode ? ` (${c.mode})` : ""}${
        c.backend ? ` ${c.backend}` : ""
      }`;
      return li;
    });
    if (!body.components) {
      const li = document.createElement("li");
      li.textContent = "enter an API key to see the components";
      items.push(li);
    }
    $("health-list").replaceChildren(...items);
    if ($("banner").dataset.kind === "net") clearBanner("net");
  } catch (err) {
    setUnreachable(err);
    return;
  }
  try {
    const series = parseMetrics(await (await fetch("/metrics")).text());
    const figures = [];
    for (const s of series) {
      if (s.name === "fess_fps") figures.push([`fps ${s.labels.camera_id}`, s.value.toFixed(1)]);
    }
    const p50 = histogramMedian(series, "fess_detection_latency_seconds");
    figures.push(["detection p50", p50 === null ? "–" : `${(p50 * 1000).toFixed(0)} ms`]);
    const sent = series.filter((s) => s.name === "fess_kafka_events_sent_total")
      .reduce((a, s) => a + s.value, 0);
    const now = performance.now();
    if (state.lastEventsTotal !== null && now > state.lastEventsAt) {
      const rate = (sent - state.lastEventsTotal) / ((now - state.lastEventsAt) / 1000);
      figures.push(["events/s", Math.max(0, rate).toFixed(1)]);
    }
    state.lastEventsTotal = sent;
    state.lastEventsAt = now;
    $("figures").replaceChildren(...figures.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      return [dt, dd];
    }));
  } catch {
    // Figures are best effort; health above already reports reachability.
  }
}

// ---------------------------------------------------------------- start

function refreshAll() {
  refreshCameras();
  refreshGallery();
  refreshStatus();
  runStream();
}

function every(ms, fn) {
  const tick = async () => {
    if (!document.hidden) await fn();
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

setupKey();
setupTheme();
setupEvents();
setupEnrol();
refreshAll();
every(CAMERA_REFRESH_MS, refreshCameras);
every(STATUS_REFRESH_MS, refreshStatus);
