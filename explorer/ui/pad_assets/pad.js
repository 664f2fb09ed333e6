// The live latent pad (A5): drag over the latent plane, the decoder runs here in the browser.
//
// explorer/ui/pad.py mounts this component three times per pad:
//   the model: the decoder's weights as raw bytes (explorer/pad_export.py's pack_decoder),
//     parsed once per decoder id;
//   role "scene": the points behind the pad, the optional manifold image, the axes;
//   role "pad":   the current z and the ids of the model and scene to draw with.
// The first two are identical on every rerun, so Streamlit sends them once and afterwards only a
// reference to its message cache; what changes on a release is the small "pad" element.
// Every pointer move asks for one animation frame; that frame decodes the newest z and draws the
// image, so the redraw never lags more than a frame behind the pointer. On release the full z
// goes back to Python as the trigger value "release".
//
// Between updates, the page's z panel hands the pad a new z through Pad.follow (a slider step;
// explorer/ui/marks.py), so the pad need not be sent again for it.
//
// Test hook: window.__latentPad.get(key) -> the pad (.snapshot()); .decode(z, key) -> pixels.
// For the page's other scripts: window.__latentPad.imageData(z, key) -> z drawn as the pad draws
// it (explorer/ui/marks_assets/marks.js shows it as the current image before the server does).

const NS = (window.__latentPad ??= { models: new Map(), scenes: new Map(), waiting: new Map(), pads: new Map() });

// Used only when Python sends no colours; it sends explorer.plots.class_colors, the scatter's own.
const PALETTE = [
  "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
  "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF",
];
const MAX_TIMINGS = 20000;
const STALE_MS = 10000; // how long a release may wait for the rerun that answers it
const MAX_MODELS = 8; // decoders kept in memory (an MNIST MLP takes ~5 MB as float64)
const MAX_SCENES = 24; // scenes kept in memory (one per model, axis pair and background)

// ---------------------------------------------------------------- decoder

function base64Bytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function slice64(floats, range) {
  if (!range) return null;
  const [offset, length] = range;
  return Float64Array.from(floats.subarray(offset, offset + length));
}

// Read explorer/pad_export.py's pack_decoder message: MAGIC (8 bytes), the header's length
// (uint32 LE), the JSON header, then the parameters as little-endian float32.
function decoderHeader(bytes) {
  const magic = [76, 80, 65, 68, 1, 0, 0, 0]; // "LPAD" 1
  if (!magic.every((b, i) => bytes[i] === b)) throw new Error("latent pad: not a packed decoder");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length))), start: 12 + length };
}

function unpackDecoder(bytes) {
  const { header, start } = decoderHeader(bytes);
  const floats = new Float32Array(bytes.slice(start).buffer); // a copy: aligned, little-endian
  return { header, floats };
}

// Turn the message into layers with float64 weights and one preallocated output buffer each.
function buildModel(bytes) {
  const { header: payload, floats } = unpackDecoder(bytes);
  const layers = [];
  let size = payload.latent_dim;
  for (const spec of payload.layers) {
    const layer = { type: spec.type };
    if (spec.type === "linear") {
      Object.assign(layer, { nIn: spec.in, nOut: spec.out, W: slice64(floats, spec.weight), b: slice64(floats, spec.bias) });
      layer.out = new Float64Array(spec.out);
      size = spec.out;
    } else if (spec.type === "conv_transpose") {
      const [cin, hin, win] = spec.in_shape;
      const [cout, hout, wout] = spec.out_shape;
      const [kh, kw] = spec.kernel;
      // Weights reordered (C_in, kH, kW, C_out) so the innermost loop runs over output channels
      // through contiguous memory; the layer accumulates channels-last in `acc`.
      const W = slice64(floats, spec.weight); // (C_in, C_out, kH, kW) as in torch
      const WT = new Float64Array(W.length);
      for (let ci = 0; ci < cin; ci++)
        for (let co = 0; co < cout; co++)
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++)
              WT[((ci * kh + ky) * kw + kx) * cout + co] = W[((ci * cout + co) * kh + ky) * kw + kx];
      Object.assign(layer, {
        cin, hin, win, cout, hout, wout, kh, kw,
        sh: spec.stride[0], sw: spec.stride[1], ph: spec.padding[0], pw: spec.padding[1],
        WT, b: slice64(floats, spec.bias),
      });
      layer.acc = new Float64Array(cout * hout * wout);
      layer.out = new Float64Array(cout * hout * wout);
      size = cout * hout * wout;
    } else if (!["relu", "tanh", "sigmoid", "unflatten"].includes(spec.type)) {
      throw new Error(`latent pad: unknown layer ${spec.type}`);
    }
    layers.push(layer);
  }
  const [channels, height, width] = payload.image_shape;
  if (size !== channels * height * width) throw new Error("latent pad: decoder output does not fit the image");
  return { id: payload.id, latentDim: payload.latent_dim, channels, height, width, layers, input: new Float64Array(payload.latent_dim) };
}

// Pixel means for z: C*H*W values in [0, 1], channel-major like torch. Returns the model's own
// output buffer (overwritten by the next call).
function runDecoder(model, z) {
  let x = model.input;
  for (let i = 0; i < x.length; i++) x[i] = z[i];
  for (const L of model.layers) {
    switch (L.type) {
      case "linear": {
        const { W, b, nIn, nOut, out } = L;
        for (let j = 0; j < nOut; j++) {
          let s = b ? b[j] : 0;
          const row = j * nIn;
          for (let i = 0; i < nIn; i++) s += W[row + i] * x[i];
          out[j] = s;
        }
        x = out;
        break;
      }
      case "relu":
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
        break;
      case "tanh":
        for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]);
        break;
      case "sigmoid":
        for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
        break;
      case "unflatten": // C, H, W row-major is already the layout
        break;
      case "conv_transpose": {
        // Input pixel (iy, ix) of channel ci adds x * W[ci, co, ky, kx] to output pixel
        // (iy*sh - ph + ky, ix*sw - pw + kx) of every channel co.
        const { WT, b, cin, hin, win, cout, hout, wout, kh, kw, sh, sw, ph, pw, acc, out } = L;
        acc.fill(0);
        for (let iy = 0; iy < hin; iy++) {
          for (let ix = 0; ix < win; ix++) {
            for (let ci = 0; ci < cin; ci++) {
              const v = x[(ci * hin + iy) * win + ix];
              if (v === 0) continue; // after a ReLU many inputs are zero
              for (let ky = 0; ky < kh; ky++) {
                const oy = iy * sh - ph + ky;
                if (oy < 0 || oy >= hout) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ox = ix * sw - pw + kx;
                  if (ox < 0 || ox >= wout) continue;
                  const o = (oy * wout + ox) * cout;
                  const w = ((ci * kh + ky) * kw + kx) * cout;
                  for (let co = 0; co < cout; co++) acc[o + co] += v * WT[w + co];
                }
              }
            }
          }
        }
        const plane = hout * wout;
        for (let co = 0; co < cout; co++) {
          const bias = b ? b[co] : 0;
          for (let p = 0; p < plane; p++) out[co * plane + p] = acc[p * cout + co] + bias;
        }
        x = out;
        break;
      }
    }
  }
  return x;
}

function whenLoaded(kind, id, callback) {
  const item = NS[kind].get(id);
  if (item) return callback(item);
  const wait = `${kind}:${id}`;
  if (!NS.waiting.has(wait)) NS.waiting.set(wait, []);
  NS.waiting.get(wait).push(callback);
}

function loaded(kind, id, item) {
  NS[kind].set(id, item);
  const wait = `${kind}:${id}`;
  for (const callback of NS.waiting.get(wait) ?? []) callback(item);
  NS.waiting.delete(wait);
}

function registerModel(bytes) {
  const { id } = decoderHeader(bytes).header;
  if (NS.models.has(id)) return;
  // Keep the newest few: a pad holds its own model, and a carrier sends an evicted one again.
  while (NS.models.size >= MAX_MODELS) NS.models.delete(NS.models.keys().next().value);
  loaded("models", id, buildModel(bytes));
}

function registerScene(payload) {
  if (NS.scenes.has(payload.id)) return;
  const scene = {
    id: payload.id,
    dims: payload.dims,
    limit: payload.limit,
    points: decodeFloat32(payload.points),
    labels: decodeLabels(payload.labels),
    classNames: payload.class_names ?? [],
    colors: payload.class_colors?.length ? payload.class_colors : PALETTE,
    axisLabels: payload.axis_labels,
    extent: payload.background_extent,
    background: null,
  };
  const ready = () => {
    while (NS.scenes.size >= MAX_SCENES) NS.scenes.delete(NS.scenes.keys().next().value);
    loaded("scenes", payload.id, scene);
  };
  if (!payload.background) return ready();
  const img = new Image();
  img.onload = () => {
    scene.background = img;
    ready();
  };
  img.onerror = ready;
  img.src = payload.background;
}

// ---------------------------------------------------------------- pad

function decodeFloat32(text) {
  return text ? new Float32Array(base64Bytes(text).buffer) : new Float32Array(0);
}

function decodeLabels(text) {
  return text ? new Int16Array(base64Bytes(text).buffer) : new Int16Array(0);
}

function el(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

class Pad {
  constructor(parent, setTriggerValue) {
    this.parent = parent;
    this.setTriggerValue = setTriggerValue;
    this.key = null;
    this.data = null; // the latest "pad" payload
    this.model = null; // set once the payload's model is loaded
    this.scene = null; // likewise its scene
    this.z = null; // the full z shown now (Float64Array)
    this.dragging = false;
    this.deferred = null; // a payload that arrived mid-drag, applied on release
    this.frameRequested = false;
    this.eventTime = null; // timeStamp of the oldest move not drawn yet
    this.frames = 0;
    this.timings = []; // {work, handled, latency} in ms for each frame that followed a move
    this.lastPixels = null;
    this.lastZ = null;
    this.releases = 0;
    this.releasedAt = -Infinity;
    this.updates = 0; // payloads received from Python
    this.follows = 0; // z received from the page's z panel (follow)
    this.size = 0;

    this.root = el("div", "lp-root", parent);
    const planeBox = el("div", "lp-plane-box", this.root);
    this.staticCanvas = el("canvas", "lp-static", planeBox);
    this.overlay = el("canvas", "lp-overlay", planeBox);
    this.overlay.dataset.testid = "latent-pad";
    this.overlay.tabIndex = 0;
    this.overlay.setAttribute("role", "application");
    this.overlay.setAttribute("aria-label", "Latent plane: drag to move z, or use the arrow keys");
    const side = el("div", "lp-side", this.root);
    this.image = el("canvas", "lp-image", side);
    this.image.dataset.testid = "latent-pad-image";
    this.image.width = this.image.height = 1;
    this.readout = el("div", "lp-readout", side);
    this.status = el("div", "lp-status", side);
    this.legend = el("div", "lp-legend", side);

    this.overlay.addEventListener("pointerdown", (e) => this.onDown(e));
    this.overlay.addEventListener("pointermove", (e) => this.onMove(e));
    this.overlay.addEventListener("pointerup", (e) => this.onUp(e));
    this.overlay.addEventListener("pointercancel", (e) => this.onUp(e));
    this.overlay.addEventListener("lostpointercapture", (e) => this.onUp(e));
    this.overlay.addEventListener("keydown", (e) => this.onKey(e));
    this.overlay.addEventListener("keyup", (e) => this.onKeyUp(e));
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(this.root);
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.root.remove();
    if (NS.pads.get(this.key) === this) NS.pads.delete(this.key);
  }

  get ready() {
    return this.model !== null && this.scene !== null && this.z !== null;
  }

  update(data, setTriggerValue) {
    this.setTriggerValue = setTriggerValue;
    if (this.dragging) {
      this.deferred = data;
      return;
    }
    this.key = data.key;
    NS.pads.set(data.key, this);
    this.data = data;
    this.updates += 1;
    // A run that has not seen our latest release carries an older z: keep ours.
    const stale = this.z !== null && this.z.length === data.z.length && this.awaitsAnswer(data.ack);
    if (!stale) this.z = Float64Array.from(data.z);
    if (this.model?.id !== data.model_id || this.scene?.id !== data.scene_id) {
      if (this.model?.id !== data.model_id) this.model = null;
      if (this.scene?.id !== data.scene_id) this.scene = null;
      this.status.textContent = "Loading the decoder…";
      whenLoaded("models", data.model_id, (model) => {
        if (this.data.model_id !== model.id) return;
        this.model = model;
        this.image.width = model.width;
        this.image.height = model.height;
        this.imageData = new ImageData(model.width, model.height);
        this.whenReady();
      });
      whenLoaded("scenes", data.scene_id, (scene) => {
        if (this.data.scene_id !== scene.id) return;
        this.scene = scene;
        this.showLegend();
        this.size = 0; // redraw the static layer at the next layout
        this.whenReady();
      });
    }
    this.whenReady();
  }

  // z from elsewhere on the page between the pad's own updates: a slider step, a button
  // (explorer/ui/marks.py). Kept out while dragging, and while a release of ours is unanswered.
  follow(z, ack) {
    if (this.dragging || this.z === null || this.z.length !== z.length || this.awaitsAnswer(ack)) return;
    this.follows += 1;
    if (this.z.every((v, i) => Math.abs(v - z[i]) <= 1e-6)) return; // drawn already (the page answered the step)
    this.z = Float64Array.from(z);
    this.requestFrame(null);
  }

  // Whether a release of ours is still unanswered by a run that saw `ack` releases (Python counts
  // the ones it has taken): until the run that answers it arrives, or a few seconds have passed
  // (should a release ever go unanswered, Python's z wins).
  awaitsAnswer(ack) {
    return (ack ?? 0) < this.releases && performance.now() - this.releasedAt < STALE_MS;
  }

  whenReady() {
    if (!this.ready) return;
    this.status.textContent = "";
    this.layout();
    this.requestFrame(null);
  }

  showLegend() {
    this.legend.replaceChildren();
    this.scene.classNames.forEach((name, i) => {
      const item = el("span", "lp-legend-item", this.legend);
      el("span", "lp-swatch", item).style.background = this.scene.colors[i % this.scene.colors.length];
      item.appendChild(document.createTextNode(name));
    });
  }

  layout() {
    if (!this.ready) return;
    // Beside the image when there is room for a plane of a useful size, else above it.
    const wanted = this.data.size;
    const width = this.root.clientWidth;
    const gap = parseFloat(getComputedStyle(this.root).columnGap) || 24;
    const besideRoom = width - this.image.parentElement.offsetWidth - gap;
    const room = besideRoom >= Math.min(wanted, 320) ? besideRoom : width;
    const size = Math.floor(Math.max(160, Math.min(wanted, room)));
    if (size !== this.size) {
      this.size = size;
      const dpr = window.devicePixelRatio || 1;
      for (const canvas of [this.staticCanvas, this.overlay]) {
        canvas.style.width = canvas.style.height = `${size}px`;
        canvas.width = canvas.height = Math.round(size * dpr);
      }
      this.staticCanvas.parentElement.style.width = this.staticCanvas.parentElement.style.height = `${size}px`;
      this.drawStatic();
    }
    this.drawOverlay();
  }

  // z <-> canvas CSS pixels, y up.
  toPx(value) {
    return ((value + this.scene.limit) / (2 * this.scene.limit)) * this.size;
  }
  toPy(value) {
    return ((this.scene.limit - value) / (2 * this.scene.limit)) * this.size;
  }

  drawStatic() {
    const { scene, size } = this;
    const ctx = this.staticCanvas.getContext("2d");
    const dpr = this.staticCanvas.width / size;
    const style = getComputedStyle(this.root);
    const text = style.getPropertyValue("--st-text-color").trim() || "#31333F";
    const fontPx = parseFloat(style.fontSize) || 14;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    ctx.fillStyle = style.getPropertyValue("--st-secondary-background-color").trim() || "#F0F2F6";
    ctx.fillRect(0, 0, size, size);
    if (scene.background) {
      const [x0, x1, y0, y1] = scene.extent;
      ctx.drawImage(scene.background, this.toPx(x0), this.toPy(y1), this.toPx(x1) - this.toPx(x0), this.toPy(y0) - this.toPy(y1));
    }
    // a grid at whole numbers, the axes through 0 darker
    const step = scene.limit > 6 ? 2 : 1;
    ctx.lineWidth = 1;
    ctx.font = `${Math.round(fontPx * 0.8)}px ${style.fontFamily}`;
    ctx.fillStyle = scene.background ? "#DDD" : text;
    for (let v = -Math.floor(scene.limit / step) * step; v <= scene.limit; v += step) {
      ctx.strokeStyle = v === 0 ? "rgba(128,128,128,0.8)" : "rgba(128,128,128,0.25)";
      const px = Math.round(this.toPx(v)) + 0.5;
      const py = Math.round(this.toPy(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, 0);
      ctx.lineTo(px, size);
      ctx.moveTo(0, py);
      ctx.lineTo(size, py);
      ctx.stroke();
      if (v !== 0 && Math.abs(v) < scene.limit) {
        ctx.textAlign = "center";
        ctx.textBaseline = "bottom";
        ctx.fillText(String(v), px, size - 2);
        ctx.textAlign = "left";
        ctx.textBaseline = "middle";
        ctx.fillText(String(v), 3, py);
      }
    }
    // the encoded test set
    const { points, labels, colors } = scene;
    const radius = size > 420 ? 2 : 1.6;
    ctx.globalAlpha = scene.background ? 0.85 : 0.6;
    for (let i = 0; i < labels.length; i++) {
      ctx.fillStyle = colors[labels[i] % colors.length];
      ctx.beginPath();
      ctx.arc(this.toPx(points[2 * i]), this.toPy(points[2 * i + 1]), radius, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.font = `${Math.round(fontPx)}px ${style.fontFamily}`;
    ctx.fillStyle = scene.background ? "#EEE" : text;
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(scene.axisLabels[0], size - 4, this.toPy(0) - 3);
    if (scene.dims[1] >= 0) {
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillText(scene.axisLabels[1], this.toPx(0) + 5, 3);
    }
  }

  drawOverlay() {
    const { size } = this;
    const ctx = this.overlay.getContext("2d");
    const dpr = this.overlay.width / size;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    const [i, j] = this.scene.dims;
    const x = this.toPx(this.z[i]);
    const y = j >= 0 ? this.toPy(this.z[j]) : size / 2;
    ctx.strokeStyle = "rgba(128,128,128,0.6)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, size);
    ctx.moveTo(0, y);
    ctx.lineTo(size, y);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(x, y, 8, 0, 2 * Math.PI);
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fill();
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#FF2B2B";
    ctx.stroke();
  }

  drawImage(pixels) {
    fillRGBA(this.model, pixels, this.imageData.data);
    this.image.getContext("2d").putImageData(this.imageData, 0, 0);
  }

  // One animation frame per burst of moves: decode the newest z, draw the image and the marker.
  requestFrame(eventTime) {
    if (eventTime !== null && this.eventTime === null) {
      this.eventTime = eventTime;
      this.handledTime = performance.now();
    }
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.frameRequested = false;
    if (!this.ready) return;
    const start = performance.now();
    const pixels = runDecoder(this.model, this.z);
    this.drawImage(pixels);
    this.drawOverlay();
    this.showReadout();
    const end = performance.now();
    this.frames += 1;
    this.lastPixels = Float64Array.from(pixels);
    this.lastZ = Float64Array.from(this.z);
    if (this.eventTime !== null) {
      if (this.timings.length < MAX_TIMINGS) {
        // work: decode + draw; handled: from the move's handler to the drawn image;
        // latency: from the pointer event's own timestamp (includes the browser's input queue).
        this.timings.push({ work: end - start, handled: end - this.handledTime, latency: end - this.eventTime });
      }
      this.eventTime = null;
    }
  }

  showReadout() {
    const [i, j] = this.scene.dims;
    const [xLabel, yLabel] = this.scene.axisLabels;
    const parts = [`${xLabel} = ${this.z[i].toFixed(2)}`];
    if (j >= 0) parts.push(`${yLabel} = ${this.z[j].toFixed(2)}`);
    this.readout.textContent = parts.join("   ");
  }

  moveTo(clientX, clientY, timeStamp) {
    const rect = this.overlay.getBoundingClientRect();
    const { limit, dims } = this.scene;
    const clamp = (v) => Math.max(-limit, Math.min(limit, v));
    this.z[dims[0]] = clamp(((clientX - rect.left) / rect.width) * 2 * limit - limit);
    if (dims[1] >= 0) this.z[dims[1]] = clamp(limit - ((clientY - rect.top) / rect.height) * 2 * limit);
    this.requestFrame(timeStamp);
  }

  onDown(event) {
    if (!this.ready || event.button !== 0) return;
    this.dragging = true;
    this.overlay.setPointerCapture(event.pointerId);
    this.overlay.focus({ preventScroll: true, focusVisible: false });
    this.moveTo(event.clientX, event.clientY, event.timeStamp);
    event.preventDefault();
  }

  onMove(event) {
    if (!this.dragging) return;
    // Moves that arrived within one frame come coalesced: draw the newest, time from the oldest.
    const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    const first = moves.length ? moves[0] : event;
    this.moveTo(event.clientX, event.clientY, first.timeStamp);
  }

  onUp(event) {
    if (!this.dragging) return;
    this.dragging = false;
    if (event.type === "pointerup") this.moveTo(event.clientX, event.clientY, event.timeStamp);
    this.release();
  }

  release() {
    this.releases += 1;
    this.releasedAt = performance.now();
    this.setTriggerValue("release", { z: Array.from(this.z), seq: this.releases });
    // The page's z panel shows the released z at once (explorer/ui/marks_assets/marks.js).
    window.dispatchEvent(new CustomEvent("latent-pad-release", { detail: { key: this.key, z: Array.from(this.z) } }));
    if (this.deferred) {
      // A rerun arrived mid-drag: apply it now; its z is older than this release, so update()
      // keeps ours until the rerun that answers the release arrives.
      const data = this.deferred;
      this.deferred = null;
      this.update(data, this.setTriggerValue);
    }
  }

  onKey(event) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    const step = steps[event.key];
    if (!step || !this.ready || this.dragging) return;
    event.preventDefault();
    const { limit, dims } = this.scene;
    const delta = (limit / 50) * (event.shiftKey ? 5 : 1);
    const clamp = (v) => Math.max(-limit, Math.min(limit, v));
    this.z[dims[0]] = clamp(this.z[dims[0]] + step[0] * delta);
    if (dims[1] >= 0) this.z[dims[1]] = clamp(this.z[dims[1]] + step[1] * delta);
    this.keyMoved = true;
    this.requestFrame(event.timeStamp);
  }

  onKeyUp(event) {
    if (this.keyMoved && event.key.startsWith("Arrow")) {
      this.keyMoved = false;
      this.release();
    }
  }

  // For tests and the benchmark.
  snapshot() {
    return {
      key: this.key,
      ready: this.ready,
      modelId: this.model ? this.model.id : null,
      sceneId: this.scene ? this.scene.id : null,
      z: this.z ? Array.from(this.z) : null,
      dims: this.scene ? this.scene.dims : null,
      limit: this.scene ? this.scene.limit : null,
      points: this.scene ? this.scene.labels.length : 0,
      frames: this.frames,
      releases: this.releases,
      updates: this.updates,
      follows: this.follows,
      lastZ: this.lastZ ? Array.from(this.lastZ) : null,
      lastPixels: this.lastPixels ? Array.from(this.lastPixels) : null,
      imageShape: this.model ? [this.model.channels, this.model.height, this.model.width] : null,
    };
  }
}

// A decoded image (channels × height × width in [0, 1]) into RGBA bytes: colour as is, other
// channel counts averaged to grey.
function fillRGBA(model, pixels, rgba) {
  const { channels, height, width } = model;
  const plane = height * width;
  for (let p = 0; p < plane; p++) {
    let r, g, b;
    if (channels >= 3) {
      r = pixels[p];
      g = pixels[plane + p];
      b = pixels[2 * plane + p];
    } else {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += pixels[c * plane + p];
      r = g = b = sum / channels;
    }
    rgba[4 * p] = Math.round(255 * r);
    rgba[4 * p + 1] = Math.round(255 * g);
    rgba[4 * p + 2] = Math.round(255 * b);
    rgba[4 * p + 3] = 255;
  }
}

NS.get = (key) => (key === undefined ? NS.pads.values().next().value : NS.pads.get(key)) ?? null;
NS.decode = (z, key) => {
  const pad = NS.get(key);
  if (!pad || !pad.model) throw new Error("latent pad: no decoder loaded yet");
  return Array.from(runDecoder(pad.model, z));
};
// z decoded and drawn as the pad draws it, as an ImageData; null when no decoder of z's size is loaded.
NS.imageData = (z, key) => {
  const pad = NS.get(key);
  if (!pad || !pad.model || pad.model.latentDim !== z.length) return null;
  const image = new ImageData(pad.model.width, pad.model.height);
  fillRGBA(pad.model, runDecoder(pad.model, z), image.data);
  return image;
};

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data) return;
  const isModel = data instanceof Uint8Array; // the packed decoder arrives as raw bytes
  if (isModel || data.role === "scene") {
    // A carrier: nothing to show, and its element container is hidden by pad.css.
    if (!parentElement.querySelector(".lp-carrier")) el("div", "lp-carrier", parentElement);
    (isModel ? registerModel : registerScene)(data);
    return;
  }
  let pad = parentElement.__latentPad;
  if (!pad) {
    pad = new Pad(parentElement, setTriggerValue);
    parentElement.__latentPad = pad;
  }
  pad.update(data, setTriggerValue);
  return () => {
    pad.destroy();
    if (parentElement.__latentPad === pad) delete parentElement.__latentPad;
  };
}
