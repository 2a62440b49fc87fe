/*
 * Avatar Forcing OBS overlay (served at /overlay/overlay.js; see obs_integration/README.md).
 *
 * The page connects to the avatar service as a read-only *watcher* (`hello {"watch": ...}`) and
 * shows the watched session's avatar on a transparent canvas:
 *
 *   mode=motion (default)  `motion` messages (ARKit channels) drawn here with AvatarCartoon
 *                          (cartoon.js), interpolated between frames for smooth 60 fps drawing;
 *   mode=frames            `rendered_frame` images from a server renderer (cartoon, portrait...).
 *
 * Pacing: the server sends a block of frames (4 frames, 160 ms) at a time. Frames play on the
 * session clock: frame time t is shown at performance.now() = offset + 1000 t, where offset is set
 * from the first frame's arrival plus `delay` ms of buffer, and set again ("re-anchored") when the
 * stream jumps (a new session, a skip ahead, t going backwards) or the buffer runs dry or grows
 * too large. With nothing new for a while the avatar eases into its rest pose (motion mode).
 *
 * The connection retries with backoff (1 s doubling to 10 s) after a close, an error, the 4004
 * "session ended" close or an `unknown_session` refusal.
 *
 * Test hook: window.overlayState (connected, frames, lastFrame, t, mode, status, ...).
 * Plain modern JavaScript, no build step, no external resources (OBS may be offline).
 */
(function () {
  "use strict";

  const PROTOCOL_VERSION = 1;
  const CLIENT_NAME = "obs-overlay/1";
  const RECONNECT_MIN_MS = 1000;
  const RECONNECT_MAX_MS = 10000;
  const REST_AFTER_MS = 600; // hold the last frame this long after the buffer ran dry...
  const REST_BLEND_MS = 400; // ...then ease into the rest pose over this long
  const MAX_EXTRA_BUFFER_MS = 1000; // buffered beyond `delay` by more than this: re-anchor
  const JUMP_S = 1.0; // the stream skipping ahead by more than this re-anchors
  const EXTRA_DELAY_STEP_MS = 50; // each late arrival adds this much buffer...
  const MAX_EXTRA_DELAY_MS = 500; // ...up to this much
  const KEEP_BEHIND_S = 1.0; // frames kept behind the playhead
  const MAX_IMAGES = 64; // decoded images kept (frames mode)
  const WAITING_AFTER_MS = 1500; // connected but nothing for this long: "waiting for a session"
  const CARTOON_OPTIONS = {
    // URL parameters passed to AvatarCartoon.draw (and to the server's cartoon renderer)
    background: "color",
    skin: "color",
    hair: "color",
    eyes: "color",
    shirt: "color",
    mouth: "color",
    outline_color: "color",
    outline: "number",
    blush: "number",
  };
  const IMAGE_TYPES = { png: "image/png", webp: "image/webp", jpeg: "image/jpeg" };

  // ------------------------------------------------------------------------------- settings
  const params = new URLSearchParams(window.location.search);

  function numberParam(name, fallback, lo, hi) {
    const raw = params.get(name);
    if (raw === null || raw.trim() === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value)) return fallback;
    return Math.min(hi, Math.max(lo, value));
  }

  function defaultSocketUrl() {
    const loc = window.location;
    if (loc.protocol !== "http:" && loc.protocol !== "https:") return "ws://127.0.0.1:8765/";
    return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/";
  }

  function socketUrl(base, token) {
    const url = new URL(base, window.location.href);
    if (token) url.searchParams.set("token", token);
    return url.toString();
  }

  function colorValue(raw) {
    const value = raw.trim();
    if (/^[0-9a-fA-F]{6}$/.test(value)) return "#" + value; // "#" is awkward in a URL
    return value;
  }

  function cartoonOptions() {
    const out = {};
    for (const [key, kind] of Object.entries(CARTOON_OPTIONS)) {
      const raw = params.get(key);
      if (raw === null || raw.trim() === "") continue;
      if (kind === "number") {
        const value = Number(raw);
        if (Number.isFinite(value)) out[key] = value;
      } else {
        out[key] = colorValue(raw);
      }
    }
    return out;
  }

  function rendererOptions() {
    // `ropt.KEY=VALUE` parameters: options for a server renderer (frames mode), e.g. ropt.image=me.jpg
    const out = {};
    for (const [key, raw] of params.entries()) {
      if (!key.startsWith("ropt.") || key.length <= 5) continue;
      const value = raw.trim();
      const num = Number(value);
      if (value === "true" || value === "false") out[key.slice(5)] = value === "true";
      else if (value !== "" && Number.isFinite(num)) out[key.slice(5)] = num;
      else out[key.slice(5)] = value;
    }
    return out;
  }

  const requestedMode = params.get("mode") === "frames" ? "frames" : "motion";
  const formatParam = (params.get("format") || "png").toLowerCase();
  const settings = {
    session: params.get("session") || "*",
    token: params.get("token") || null,
    mode: requestedMode,
    renderer: params.get("renderer") || "cartoon",
    size: Math.round(numberParam("size", 512, 16, 2048)),
    format: ["png", "webp", "jpeg", "rgba"].includes(formatParam) ? formatParam : "png",
    delay: numberParam("delay", 150, 0, 5000),
    debug: params.get("debug") === "1" || params.get("debug") === "true",
    cartoon: cartoonOptions(),
    rendererOptions: rendererOptions(),
  };
  settings.url = socketUrl(params.get("ws") || defaultSocketUrl(), settings.token);

  // ------------------------------------------------------------------------------- state
  const state = {
    mode: settings.mode, // may fall back to "motion" when the server cannot render frames
    requestedMode: settings.mode,
    session: settings.session,
    url: settings.url.replace(/([?&]token=)[^&]*/, "$1***"),
    status: "connecting",
    connected: false,
    sessionId: null, // welcome.session_id: the watched id, or "*"
    capabilities: [],
    configured: false, // the server acknowledged our view config
    frames: 0, // frames received (motion rows or rendered images)
    drawn: 0, // canvas updates
    lastFrame: null, // number of the frame on screen
    t: null, // its session time (s)
    playT: null, // the playhead (s)
    buffered: 0, // frames waiting in the buffer
    resting: true, // nothing new for a while (motion mode: showing the rest pose)
    idleMs: null, // ms since the last frame arrived (null before the first)
    turn: null, // the last turn_event's state
    reanchors: 0,
    lastReanchor: null,
    extraDelayMs: 0, // buffer added after late arrivals
    reconnects: 0,
    closeCode: null,
    errors: [], // the last few server errors {code, message}
    fallback: null, // why frames mode fell back to motion mode
    cartoon: typeof window.AvatarCartoon === "object" && window.AvatarCartoon !== null,
    settings: {
      mode: settings.mode,
      renderer: settings.renderer,
      size: settings.size,
      format: settings.format,
      delay: settings.delay,
      cartoon: settings.cartoon,
    },
  };
  window.overlayState = state;

  // ------------------------------------------------------------------------------- canvas
  const canvas = document.getElementById("avatar");
  const ctx = canvas.getContext("2d");
  const statusEl = document.getElementById("status");
  if (settings.debug) statusEl.hidden = false;
  let aspect = 1; // width / height of what is drawn
  let layoutKey = "";

  function layout(imageWidth, imageHeight) {
    // Fit the canvas into the window keeping the aspect; in motion mode the backing store follows
    // the displayed size (crisp at any size), in frames mode it is the image's size.
    const winW = Math.max(1, window.innerWidth);
    const winH = Math.max(1, window.innerHeight);
    let cssW = winW;
    let cssH = winW / aspect;
    if (cssH > winH) {
      cssH = winH;
      cssW = winH * aspect;
    }
    cssW = Math.max(1, Math.floor(cssW));
    cssH = Math.max(1, Math.floor(cssH));
    let backW;
    let backH;
    if (imageWidth && imageHeight) {
      backW = imageWidth;
      backH = imageHeight;
    } else {
      const dpr = Math.min(window.devicePixelRatio || 1, 4);
      backW = Math.min(4096, Math.round(cssW * dpr));
      backH = Math.min(4096, Math.round(cssH * dpr));
    }
    const key = [cssW, cssH, backW, backH].join("x");
    if (key === layoutKey) return false;
    layoutKey = key;
    canvas.style.width = cssW + "px";
    canvas.style.height = cssH + "px";
    canvas.width = backW;
    canvas.height = backH;
    return true;
  }

  // ------------------------------------------------------------------------------- playback clock
  let offsetMs = null; // performance.now() at which session time 0 would show
  let lastReceivedT = null; // newest timestamp received
  let lastArrival = 0; // performance.now() of the last frame's arrival
  let epoch = 0; // increments when the buffer is cleared (drops stale async image decodes)
  let extraDelayMs = 0; // buffer added after late arrivals (reset for a new session)

  function reanchor(showT, now, reason, clear) {
    // from now on, session time `showT` is shown `delay` (+ extra) ms from now
    if (clear) clearBuffer();
    offsetMs = now + settings.delay + extraDelayMs - 1000 * showT;
    state.reanchors += 1;
    state.lastReanchor = reason;
  }

  /** Place a block [t0 .. tLast] that arrived at `now` on the playback clock. */
  function accept(t0, tLast, now) {
    if (offsetMs === null || lastReceivedT === null) {
      extraDelayMs = 0;
      reanchor(t0, now, "start", true);
    } else if (t0 < lastReceivedT - 1e-6) {
      extraDelayMs = 0;
      reanchor(t0, now, "backwards", true); // a new session (frame numbers restart)
    } else if (t0 - lastReceivedT > JUMP_S) {
      reanchor(t0, now, "jump", true); // the session skipped ahead, or resumed after a pause
    } else if (now - lastArrival > REST_AFTER_MS + REST_BLEND_MS) {
      extraDelayMs = 0;
      reanchor(t0, now, "idle", true); // the stream comes back after a pause: start afresh
    } else if (now > offsetMs + 1000 * t0) {
      // arrived after its time: the buffer ran dry and the last frame is being held. Hold it a
      // little longer, then go on from there (the picture never steps back), with more buffer
      // from now on in case the stream keeps coming late.
      const heldT = Math.min(t0, lastReceivedT);
      extraDelayMs = Math.min(MAX_EXTRA_DELAY_MS, extraDelayMs + EXTRA_DELAY_STEP_MS);
      dropBefore(heldT);
      reanchor(heldT, now, "late", false);
    } else if (offsetMs - (now + settings.delay + extraDelayMs - 1000 * t0) > MAX_EXTRA_BUFFER_MS) {
      reanchor(t0, now, "early", false); // too much buffered: the latency would grow
    }
    lastReceivedT = tLast;
    lastArrival = now;
    state.extraDelayMs = extraDelayMs;
  }

  // ------------------------------------------------------------------------------- motion buffer
  let names = []; // channel names of the motion rows
  let motion = []; // [{frame, t, values: Float64Array}] sorted by t
  let images = []; // [{frame, t, bitmap, width, height}] sorted by t (frames mode)

  function clearBuffer() {
    motion = [];
    for (const img of images) closeBitmap(img.bitmap);
    images = [];
    epoch += 1;
  }

  function dropBefore(t) {
    // forget frames older than t (the held frame stays first, so the picture does not step back)
    while (motion.length && motion[0].t < t - 1e-6) motion.shift();
    while (images.length && images[0].t < t - 1e-6) closeBitmap(images.shift().bitmap);
  }

  function closeBitmap(bitmap) {
    if (bitmap && typeof bitmap.close === "function") bitmap.close();
  }

  function onMotion(msg) {
    const rows = msg.values || [];
    const stamps = msg.timestamps || [];
    if (!rows.length || rows.length !== stamps.length) return;
    if (msg.names && msg.names.length) names = msg.names;
    accept(stamps[0], stamps[stamps.length - 1], performance.now());
    for (let i = 0; i < rows.length; i++) {
      const t = stamps[i];
      if (motion.length && t <= motion[motion.length - 1].t) continue; // duplicate or out of order
      motion.push({ frame: msg.frame + i, t: t, values: Float64Array.from(rows[i]) });
      state.frames += 1;
    }
  }

  function toFrame(values) {
    const frame = {};
    for (let j = 0; j < names.length; j++) frame[names[j]] = values[j];
    return frame;
  }

  function base64Bytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function onRenderedFrame(msg) {
    const now = performance.now();
    accept(msg.t, msg.t, now);
    state.frames += 1;
    const myEpoch = epoch;
    let decoding;
    try {
      const bytes = base64Bytes(msg.data);
      if (msg.format === "rgba") {
        const pixels = new ImageData(new Uint8ClampedArray(bytes.buffer), msg.width, msg.height);
        decoding = createImageBitmap(pixels);
      } else {
        const type = IMAGE_TYPES[msg.format] || "application/octet-stream";
        decoding = createImageBitmap(new Blob([bytes], { type: type }));
      }
    } catch (err) {
      noteError("decode", String(err));
      return;
    }
    decoding.then(
      (bitmap) => {
        if (myEpoch !== epoch) {
          closeBitmap(bitmap);
          return;
        }
        const item = { frame: msg.frame, t: msg.t, bitmap: bitmap, width: msg.width, height: msg.height };
        let i = images.length;
        while (i > 0 && images[i - 1].t > item.t) i--;
        if (i > 0 && images[i - 1].t === item.t) {
          closeBitmap(bitmap);
          return;
        }
        images.splice(i, 0, item);
        while (images.length > MAX_IMAGES) closeBitmap(images.shift().bitmap);
      },
      (err) => noteError("decode", String(err))
    );
  }

  // ------------------------------------------------------------------------------- drawing
  let lastDrawKey = null;

  function drawCartoon(frame) {
    if (!state.cartoon) return;
    try {
      window.AvatarCartoon.draw(ctx, frame, canvas.width, canvas.height, settings.cartoon);
    } catch (err) {
      noteError("draw", String(err));
      state.cartoon = false;
    }
  }

  function drawMotion(now) {
    if (layout(0, 0)) lastDrawKey = null;
    let key;
    let frame;
    if (!motion.length || offsetMs === null) {
      key = "rest";
      frame = {};
      state.resting = true;
      state.lastFrame = null;
      state.t = null;
    } else {
      const playT = (now - offsetMs) / 1000;
      state.playT = playT;
      while (motion.length > 2 && motion[1].t < playT - KEEP_BEHIND_S) motion.shift();
      let i = 0;
      while (i + 1 < motion.length && motion[i + 1].t <= playT) i++;
      const a = motion[i];
      const b = motion[i + 1];
      let values = a.values;
      let shown = a;
      let rest = 0;
      if (b && playT > a.t) {
        const w = Math.min(1, (playT - a.t) / (b.t - a.t));
        values = new Float64Array(a.values.length);
        for (let j = 0; j < values.length; j++) values[j] = a.values[j] + w * (b.values[j] - a.values[j]);
        if (w >= 0.5) shown = b;
        key = a.frame + ":" + w.toFixed(3);
      } else if (!b) {
        // past the newest frame: hold it, then ease into the rest pose
        const dry = now - (offsetMs + 1000 * a.t) - 40;
        rest = Math.min(1, Math.max(0, (dry - REST_AFTER_MS) / REST_BLEND_MS));
        if (rest > 0) {
          const k = 1 - rest;
          values = a.values.map((v) => v * k);
        }
        key = a.frame + ":rest" + rest.toFixed(3);
      } else {
        key = a.frame + ":0";
      }
      state.resting = rest >= 1;
      state.lastFrame = state.resting ? null : shown.frame;
      state.t = state.resting ? null : shown.t;
      frame = toFrame(values);
    }
    state.buffered = motion.filter((m) => state.playT === null || m.t > state.playT).length;
    if (key === lastDrawKey) return;
    lastDrawKey = key;
    drawCartoon(frame);
    state.drawn += 1;
  }

  function drawFrames(now) {
    if (!images.length || offsetMs === null) {
      if (layout(settings.size, settings.size)) lastDrawKey = null;
      state.buffered = 0;
      return;
    }
    const playT = (now - offsetMs) / 1000;
    state.playT = playT;
    let i = 0;
    while (i + 1 < images.length && images[i + 1].t <= playT) i++;
    while (i > 0 && images[0].t < playT - KEEP_BEHIND_S) {
      closeBitmap(images.shift().bitmap);
      i--;
    }
    const img = images[i];
    state.buffered = images.length - i - 1;
    state.resting = now - lastArrival > REST_AFTER_MS + REST_BLEND_MS; // the last image stays
    aspect = img.width / img.height;
    if (layout(img.width, img.height)) lastDrawKey = null;
    if (lastDrawKey === img) return;
    lastDrawKey = img;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img.bitmap, 0, 0, canvas.width, canvas.height);
    state.lastFrame = img.frame;
    state.t = img.t;
    state.drawn += 1;
  }

  function showStatus(now) {
    if (state.connected) {
      const since = state.frames === 0 ? now - connectedAt : now - Math.max(lastArrival, connectedAt);
      if (since > WAITING_AFTER_MS) {
        state.status = state.session === "*" ? "waiting for a session" : "waiting for session " + state.session;
      } else if (state.frames > 0 && lastArrival >= connectedAt) {
        state.status = "playing";
      }
    }
    if (!settings.debug) return;
    const lines = [
      state.status + (state.connected ? "" : " (" + state.url + ")"),
      "mode " + state.mode + (state.fallback ? " (fallback: " + state.fallback + ")" : ""),
      "frame " + (state.lastFrame === null ? "-" : state.lastFrame) + "  buffered " + state.buffered,
    ];
    if (state.errors.length) {
      const e = state.errors[state.errors.length - 1];
      lines.push("error " + e.code + ": " + e.message);
    }
    const text = lines.join("\n");
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }

  function tick(now) {
    window.requestAnimationFrame(tick);
    state.idleMs = state.frames > 0 ? Math.round(now - lastArrival) : null;
    if (state.mode === "frames") drawFrames(now);
    else drawMotion(now);
    showStatus(now);
  }

  window.addEventListener("resize", () => {
    layoutKey = "";
    lastDrawKey = null;
  });

  // ------------------------------------------------------------------------------- connection
  let ws = null;
  let nextId = 0;
  let configId = null;
  let backoffMs = RECONNECT_MIN_MS;
  let connectedAt = 0;
  let reconnectTimer = null;

  function noteError(code, message) {
    state.errors.push({ code: code, message: message });
    if (state.errors.length > 10) state.errors.shift();
    console.warn("avatar overlay:", code, message);
  }

  function send(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    nextId += 1;
    msg.id = nextId;
    ws.send(JSON.stringify(msg));
    return nextId;
  }

  function viewConfig() {
    if (state.mode === "frames") {
      const options = Object.assign({}, settings.rendererOptions);
      if (settings.renderer === "cartoon") Object.assign(options, settings.cartoon);
      options.width = settings.size;
      options.height = settings.size;
      return {
        outputs: ["frames", "events"],
        renderer: settings.renderer,
        renderer_options: options,
        frame_format: settings.format,
      };
    }
    return { outputs: ["motion", "events"], naming: "arkit", arkit_spelling: "pascal" };
  }

  function configure() {
    state.configured = false;
    configId = send({ type: "config", config: viewConfig() });
  }

  function fallBackToMotion(reason) {
    if (state.mode !== "frames") return;
    noteError("fallback", "frames mode is not available (" + reason + "); drawing the cartoon here");
    state.fallback = reason;
    state.mode = "motion";
    aspect = 1;
    clearBuffer();
    lastReceivedT = null;
    offsetMs = null;
    layoutKey = "";
    lastDrawKey = null;
    configure();
  }

  function handle(msg) {
    switch (msg.type) {
      case "welcome":
        state.connected = true;
        state.status = "connected";
        state.sessionId = msg.session_id;
        state.capabilities = msg.capabilities || [];
        backoffMs = RECONNECT_MIN_MS;
        connectedAt = performance.now();
        if (state.mode === "frames" && !state.capabilities.includes("output:frames")) {
          fallBackToMotion("the server has no renderer");
        } else {
          configure();
        }
        break;
      case "ack":
        if (msg.msg_id === configId) state.configured = true;
        break;
      case "error":
        noteError(msg.code, msg.message);
        if (msg.code === "unknown_session") state.status = "waiting for session " + state.session;
        if (msg.msg_id !== null && msg.msg_id === configId && state.mode === "frames") {
          fallBackToMotion(msg.code + ": " + msg.message);
        }
        break;
      case "motion":
        if (state.mode === "motion") onMotion(msg);
        break;
      case "rendered_frame":
        if (state.mode === "frames") onRenderedFrame(msg);
        break;
      case "turn_event":
        state.turn = msg.state;
        break;
      default:
        break; // unknown message types are ignored (the protocol's versioning rule)
    }
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    const wait = backoffMs;
    backoffMs = Math.min(RECONNECT_MAX_MS, backoffMs * 2);
    state.nextRetryMs = wait;
    reconnectTimer = window.setTimeout(() => {
      reconnectTimer = null;
      state.reconnects += 1;
      connect();
    }, wait);
  }

  function connect() {
    state.status = "connecting";
    let sock;
    try {
      sock = new WebSocket(settings.url);
    } catch (err) {
      noteError("connect", String(err));
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      send({
        type: "hello",
        version: PROTOCOL_VERSION,
        capabilities: ["json"],
        client: CLIENT_NAME,
        watch: settings.session,
      });
    };
    sock.onmessage = (event) => {
      if (ws !== sock || typeof event.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (msg && typeof msg.type === "string") handle(msg);
    };
    sock.onclose = (event) => {
      if (ws !== sock) return;
      ws = null;
      state.connected = false;
      state.configured = false;
      state.closeCode = event.code;
      if (event.code === 4004) state.status = "session ended; reconnecting";
      else if (state.status !== "waiting for session " + state.session) state.status = "disconnected";
      scheduleReconnect();
    };
    sock.onerror = () => {
      // a close event follows; it schedules the reconnect
    };
  }

  if (state.cartoon && Object.keys(settings.cartoon).length) {
    // Check the look options one by one: a bad one would make every draw throw; drop it instead.
    const probe = document.createElement("canvas");
    probe.width = probe.height = 8;
    const probeCtx = probe.getContext("2d");
    for (const key of Object.keys(settings.cartoon)) {
      try {
        window.AvatarCartoon.draw(probeCtx, {}, 8, 8, { [key]: settings.cartoon[key] });
      } catch (err) {
        noteError("options", String(err && err.message ? err.message : err) + " (ignored)");
        delete settings.cartoon[key];
      }
    }
    state.settings.cartoon = Object.assign({}, settings.cartoon);
  }
  if (!state.cartoon && state.mode === "motion") {
    noteError("cartoon", "cartoon.js did not load: trying server-rendered frames");
    state.mode = "frames";
    state.fallback = "cartoon.js missing";
  }
  connect();
  window.requestAnimationFrame(tick);
})();
