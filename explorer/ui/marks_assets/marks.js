// The current z marked on the Explore page's views, moved in place (explorer/ui/marks.py).
//
// The z panel's run ends with this element, whose data is the new z and where each view draws
// it. Three crosses move without their views being sent or drawn again:
//   the live pad: through its own API (window.__latentPad, pad.js: Pad.follow);
//   the manifold: its cross's left / top in percent (explorer.plots.manifold_mark);
//   the scatter: a cross laid over the Plotly chart, placed with the chart's own axes. (Moving a
//     Plotly shape or trace instead makes Plotly recompute and redraw all 10,000 WebGL points:
//     40-120 ms a step on this machine's software WebGL, against well under 1 ms here.)
// The scatter's figure carries its plane and where z was when it was drawn (layout.meta); the
// cross follows the chart's re-plots, zooms and pans through Plotly's events, and a chart drawn
// anew gets its cross from a watch on the page.
//
// A slider step is answered here first (data.local): when the user moves one of the z panel's
// sliders, the new z is decoded with the live pad's decoder (pad.js, already in the browser),
// shown as the current image, and the crosses move; a release on the pad does the same. The
// server's answer (its own decode, the nearest test images) follows. Until it has caught up with
// what the sliders show, an older answer does not pull the image and the crosses back. The
// nearest test images are found here too when the page holds the model's atlas (explorer/ui/atlas.py:
// μ of the test set and the images as one sprite); without it they are faded as out of date.
//
// The address bar's link follows the z shown here too: the page's own answer's, then the server's
// (data.link). A link change sent by the server costs every browser a history entry and a redraw
// of the whole page, on every step.
//
// Test hook: window.__zMarks.last (the latest data), .applied (how many were applied),
// .local (the z answered here and not yet by the server, or null), .localApplied (how many),
// .atlas (the atlas held: its id, n, d, and its sprite once the browser has read it).

const NS = (window.__zMarks ??= {
  last: null,
  applied: 0,
  hooked: new WeakSet(),
  observer: null,
  local: null,
  localApplied: 0,
  userAt: -Infinity,
  userSlider: -1,
  listening: false,
  atlas: null,
});
// A change of the slider the user last touched, this soon after the touch, is the user's (and
// only while nothing else was touched since: the server moves every slider after a pad release).
const USER_MS = 1000;
const LOCAL_MS = 8000; // a z answered here waits this long at most for the server to catch up
const CROSS =
  '<svg viewBox="0 0 22 22" width="22" height="22" aria-hidden="true">' +
  '<path d="M4 4L18 18M18 4L4 18" stroke="white" stroke-width="6" stroke-linecap="round"/>' +
  '<path d="M4 4L18 18M18 4L4 18" stroke="#111111" stroke-width="3" stroke-linecap="round"/></svg>';

function movePad(data) {
  const pads = window.__latentPad;
  const pad = pads && pads.pads ? pads.pads.get(data.pad) : null;
  if (pad && typeof pad.follow === "function") pad.follow(data.z, data.ack);
}

function moveManifold(mark) {
  const root = document.querySelector('[data-testid="manifold"]');
  if (!root) return;
  const cross = root.querySelector('[data-testid="manifold-current-z"]');
  const note = root.querySelector('[data-testid="manifold-off-grid"]');
  if (cross) {
    if (mark) {
      cross.style.left = `${mark.left}%`;
      cross.style.top = `${mark.top}%`;
      cross.style.display = "";
      cross.title = mark.title;
    } else {
      cross.style.display = "none";
    }
  }
  if (note) note.style.display = mark ? "none" : "block";
}

// ---------------------------------------------------------------- the scatter's cross

function scatterCharts() {
  return Array.from(document.querySelectorAll(".js-plotly-plot")).filter(
    (gd) => gd.layout && gd.layout.meta && typeof gd.layout.meta.plane === "string",
  );
}

// Where z is on this chart's plane: the latest data when it is for this plane, else where the
// figure was drawn with.
function currentOf(gd) {
  const scatter = NS.last && NS.last.scatter;
  if (scatter && scatter.plane === gd.layout.meta.plane) return (NS.local && NS.local.xy) || scatter.xy;
  return gd.layout.meta.current || null;
}

function crossOf(gd) {
  const host = gd.querySelector(".svg-container");
  if (!host) return null;
  let cross = host.querySelector(":scope > .zm-cross");
  if (!cross) {
    cross = document.createElement("div");
    cross.className = "zm-cross";
    cross.dataset.testid = "scatter-current-z";
    cross.innerHTML = CROSS;
    Object.assign(cross.style, {
      position: "absolute",
      width: "22px",
      height: "22px",
      transform: "translate(-50%, -50%)",
      pointerEvents: "none",
      lineHeight: "0",
    });
    host.appendChild(cross);
  }
  return cross;
}

function placeCross(gd) {
  const layout = gd._fullLayout;
  const xy = gd.layout && gd.layout.meta ? currentOf(gd) : null;
  if (!layout || !layout.xaxis || !layout.yaxis || !xy) return;
  const cross = crossOf(gd);
  if (!cross) return;
  const xa = layout.xaxis;
  const ya = layout.yaxis;
  const px = xa._offset + xa.l2p(xy[0]);
  const py = ya._offset + ya.l2p(xy[1]);
  if (!Number.isFinite(px) || !Number.isFinite(py)) {
    cross.style.display = "none";
    return;
  }
  // Off this view (a zoom, or a draw far out in the prior's tails): pinned to the edge, faded.
  const cx = Math.min(xa._offset + xa._length, Math.max(xa._offset, px));
  const cy = Math.min(ya._offset + ya._length, Math.max(ya._offset, py));
  const outside = cx !== px || cy !== py;
  cross.style.left = `${cx}px`;
  cross.style.top = `${cy}px`;
  cross.style.display = "";
  cross.style.opacity = outside ? "0.45" : "1";
  cross.dataset.z = `${xy[0]},${xy[1]}`;
  cross.dataset.outside = outside ? "1" : "0";
  cross.title = `current z (${xy[0].toFixed(2)}, ${xy[1].toFixed(2)})${outside ? ", outside this view" : ""}`;
}

function hook(gd) {
  if (NS.hooked.has(gd) || typeof gd.on !== "function") return;
  NS.hooked.add(gd);
  const place = () => placeCross(gd);
  gd.on("plotly_afterplot", place); // a new figure, a selection drawn, a resize
  gd.on("plotly_relayout", place); // zoom, pan, autoscale
  gd.on("plotly_relayouting", place); // while dragging a pan or zoom
}

function moveScatters() {
  for (const gd of scatterCharts()) {
    hook(gd);
    placeCross(gd);
  }
}

// Streamlit draws a chart anew (a new plane, the views' rerun, Plotly's script arriving late)
// without this element's data changing: watch the page, and at most once a frame give any
// scatter without its cross one.
function watch() {
  if (NS.observer) return;
  let queued = false;
  const check = () => {
    queued = false;
    for (const gd of scatterCharts()) {
      const host = gd.querySelector(".svg-container");
      if (!NS.hooked.has(gd) || (host && !host.querySelector(":scope > .zm-cross"))) {
        hook(gd);
        placeCross(gd);
      }
    }
  };
  NS.observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(check);
  });
  NS.observer.observe(document.body, { childList: true, subtree: true });
}

// ---------------------------------------------------------------- the atlas: nearest images here

// The packed atlas (explorer.ui.atlas.pack_atlas): header, μ, labels, then the sprite's PNG.
function registerAtlas(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + size)));
  if (NS.atlas && NS.atlas.id === header.id) return;
  const { n, d } = header;
  let at = bytes.byteOffset + 4 + size;
  const copy = (Type, count) => {
    const out = new Type(count); // a copy: the bytes' offset need not suit the type's alignment
    new Uint8Array(out.buffer).set(new Uint8Array(bytes.buffer, at, count * Type.BYTES_PER_ELEMENT));
    at += count * Type.BYTES_PER_ELEMENT;
    return out;
  };
  const mu = copy(Float32Array, n * d);
  const labels = copy(Int16Array, n);
  at += (4 - ((2 * n) % 4)) % 4;
  const atlas = { ...header, mu, labels, sprite: null, tiles: new Map() };
  NS.atlas = atlas;
  const png = new Blob([new Uint8Array(bytes.buffer, at, bytes.byteOffset + bytes.byteLength - at)], { type: "image/png" });
  createImageBitmap(png).then(
    (bitmap) => {
      atlas.sprite = bitmap;
    },
    () => {
      if (NS.atlas === atlas) NS.atlas = null; // a sprite the browser cannot read: the server answers
    },
  );
}

// The atlas for this data's model, with its sprite ready; else null.
function atlasFor(data) {
  const atlas = NS.atlas;
  const id = data && data.local ? data.local.atlas : null;
  return id && atlas && atlas.id === id && atlas.sprite ? atlas : null;
}

// The k rows of μ nearest to z, nearest first (explorer.latent.nearest).
function nearestRows(atlas, z, k) {
  const { mu, n, d } = atlas;
  const best = []; // [distance, index], nearest first
  for (let i = 0; i < n && k > 0; i++) {
    let dist = 0;
    for (let j = 0; j < d; j++) {
      const diff = mu[i * d + j] - z[j];
      dist += diff * diff;
    }
    if (best.length === k) {
      if (dist >= best[k - 1][0]) continue;
      best.pop();
    }
    let at = best.length;
    while (at > 0 && best[at - 1][0] > dist) at--;
    best.splice(at, 0, [dist, i]);
  }
  return best.map(([, i]) => i);
}

// Test image i as a PNG data URL, cut from the sprite (kept: a walk comes back to the same images).
function tile(atlas, i) {
  let src = atlas.tiles.get(i);
  if (src) return src;
  const canvas = (NS.tileCanvas ??= document.createElement("canvas"));
  canvas.width = atlas.w;
  canvas.height = atlas.h;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, atlas.w, atlas.h);
  const [row, col] = [Math.floor(i / atlas.cols), i % atlas.cols];
  g.drawImage(atlas.sprite, col * atlas.w, row * atlas.h, atlas.w, atlas.h, 0, 0, atlas.w, atlas.h);
  src = canvas.toDataURL();
  if (atlas.tiles.size > 2000) atlas.tiles.clear();
  atlas.tiles.set(i, src);
  return src;
}

// The server's nearest images (each an image with its caption), in order.
function nearestItems() {
  const panel = document.querySelector('[data-testid="nearest-images"]');
  return panel ? Array.from(panel.children) : [];
}

// Show test images `rows` in the nearest images' places, captioned as the server captions them.
// False when the panel is not one of the same length (the server's answer will fill it).
function showNearest(atlas, rows) {
  const items = nearestItems();
  if (items.length !== rows.length) return false;
  rows.forEach((i, j) => {
    const img = items[j].querySelector("img");
    const caption = items[j].querySelector("img + div");
    const src = tile(atlas, i);
    if (img && img.getAttribute("src") !== src) img.src = src;
    const text = `${atlas.names[atlas.labels[i]] ?? atlas.labels[i]} · #${i}`;
    if (caption && caption.textContent !== text) caption.textContent = text;
  });
  return true;
}

// ---------------------------------------------------------------- answering a step here

function sliderOf(element, local) {
  const container = element.closest ? element.closest('[data-testid="stElementContainer"]') : null;
  if (!container) return -1;
  return local.sliders.findIndex((cls) => container.classList.contains(cls));
}

function sliderValue(local, i) {
  const container = document.getElementsByClassName(local.sliders[i])[0];
  const input = container ? container.querySelector('input[type="range"]') : null;
  const value = input ? parseFloat(input.value) : NaN;
  return Number.isFinite(value) ? value : null;
}

// Where `value` falls on the manifold's grid (explorer.plots.grid_position): piecewise linear
// through the anchors; null off the grid.
function gridPosition(value, grid) {
  const { anchors, steps } = grid;
  if (!(value >= anchors[0] && value <= anchors[anchors.length - 1])) return null;
  let k = 1;
  while (k < anchors.length - 1 && anchors[k] < value) k++;
  const span = anchors[k] - anchors[k - 1];
  const t = span > 0 ? (value - anchors[k - 1]) / span : 0;
  return steps[k - 1] + t * (steps[k] - steps[k - 1]);
}

function manifoldMark(z, local) {
  const [x, y] = [z[local.dims[0]], z[local.dims[1]]];
  const px = gridPosition(x, local.grid);
  const py = gridPosition(y, local.grid);
  if (px === null || py === null) return null;
  const n = local.grid.anchors.length - 2;
  return { left: ((px + 0.5) / n) * 100, top: (1 - (py + 0.5) / n) * 100, title: `current z (${x.toFixed(2)}, ${y.toFixed(2)})` };
}

function scatterXY(z, local) {
  const p = local.projection;
  if (p.mode === "axes") return [z[local.dims[0]], z[local.dims[1]]];
  if (p.mode === "pca") return p.axes.map((axis) => axis.reduce((s, a, i) => s + a * (z[i] - p.mean[i]), 0));
  return null; // t-SNE: the nearest embedded code, which only the server knows
}

const sign = (v) => (v < 0 || Object.is(v, -0) ? "-" : "+") + Math.abs(v).toFixed(2);

function describe(z) {
  if (z.length <= 4) return `z = (${z.map(sign).join(", ")})`;
  return `‖z‖ = ${Math.hypot(...z).toFixed(2)} over ${z.length} coordinates`;
}

function showImage(src, z) {
  const img = document.querySelector('img[data-testid="current-z-image"]');
  if (!img) return;
  if (img.getAttribute("src") !== src) img.src = src;
  const caption = img.nextElementSibling;
  const text = describe(z);
  if (caption && caption.textContent !== text) caption.textContent = text;
}

// The pad's decoder draws z as a PNG data URL; null when no decoder is loaded yet.
function decodeImage(z, padKey) {
  const pads = window.__latentPad;
  const image = pads && pads.imageData ? pads.imageData(z, padKey) : null;
  if (!image) return null;
  const canvas = (NS.canvas ??= document.createElement("canvas"));
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas.toDataURL();
}

function fadeNearest(faded) {
  const near = document.querySelector('[data-testid="nearest-images"]');
  if (!near) return;
  near.style.opacity = faded ? "0.45" : "";
  near.title = faded ? "Updating…" : "";
}

function answerHere(z) {
  const data = NS.last;
  const local = data && data.local;
  if (!local || !data.pad || !document.querySelector('img[data-testid="current-z-image"]')) return;
  const src = decodeImage(z, data.pad);
  if (!src) return;
  showImage(src, z);
  const atlas = atlasFor(data);
  const nearest = atlas ? nearestRows(atlas, z, nearestItems().length) : null;
  NS.local = { z, src, xy: scatterXY(z, local), at: performance.now(), nearest };
  NS.localApplied += 1;
  movePad({ pad: data.pad, z, ack: data.ack });
  if (data.manifold) moveManifold(manifoldMark(z, local));
  if (data.scatter) moveScatters();
  fadeNearest(!(nearest && showNearest(atlas, nearest)));
  followLink(linkZ(z)); // the link is what the page shows, before the server has answered
}

// z as explorer.ui.common.format_z writes it for the link: 3 decimals, no "-0.000".
const linkZ = (z) => Array.from(z, (v) => v.toFixed(3).replace(/^-0\.000$/, "0.000")).join(",");

// The z answered here, again: React has drawn an older answer of the server's over it.
function showLocal() {
  showImage(NS.local.src, NS.local.z);
  const atlas = NS.local.nearest && atlasFor(NS.last);
  if (atlas) showNearest(atlas, NS.local.nearest);
}

const near = (a, b, tol) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol);

// What a slider shows for the coordinate value v: v within the sliders' range.
const onSlider = (local, v) => Math.max(-local.limit, Math.min(local.limit, v));

// Whether the server's z is what the page shows now: the z answered here, or, for a z set
// elsewhere (a button, a shared link), what the sliders show.
function caughtUp(data) {
  const local = data.local;
  if (!NS.local || !local || performance.now() - NS.local.at > LOCAL_MS) return true;
  if (near(NS.local.z, data.z, 1e-4)) return true;
  return data.z.every((v, i) => {
    const shown = sliderValue(local, i);
    return shown === null || Math.abs(shown - onSlider(local, v)) <= 1e-4;
  });
}

// Slider i now shows `values[i]`: answer the z the sliders show, unless that is what the page shows.
function answerSliders(values) {
  const data = NS.last;
  const local = data.local;
  const z = (NS.local ? NS.local.z : data.z).slice();
  let changed = false;
  for (const [i, value] of values) {
    if (Math.abs(value - onSlider(local, z[i])) <= 1e-6) continue;
    z[i] = value;
    changed = true;
  }
  if (changed) answerHere(z);
}

function onSliderChange(records) {
  const data = NS.last;
  const local = data && data.local;
  if (!local || performance.now() - NS.userAt > USER_MS) return; // the server moved it, not the user
  const values = new Map();
  for (const record of records) {
    const i = sliderOf(record.target, local);
    const value = i !== NS.userSlider ? null : sliderValue(local, i);
    if (value !== null) values.set(i, value);
  }
  answerSliders(values);
}

// An arrow key on a slider: answer at once with the value the key will give (one step; the
// slider's own change, a moment later, then matches, or corrects it).
const ARROWS = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };

function onSliderKey(event, i) {
  const input = event.target;
  if (!(event.key in ARROWS) || !input || input.type !== "range") return;
  const step = parseFloat(input.step) || 0;
  const value = parseFloat(input.value);
  const [low, high] = [parseFloat(input.min), parseFloat(input.max)];
  if (!(step > 0) || ![value, low, high].every(Number.isFinite)) return;
  const next = Math.round((value + ARROWS[event.key] * step - low) / step) * step + low;
  answerSliders(new Map([[i, Math.min(high, Math.max(low, Number(next.toFixed(10))))]]));
}

function listen() {
  if (NS.listening) return;
  NS.listening = true;
  const touched = (event) => {
    const local = NS.last && NS.last.local;
    if (!local) return;
    const i = sliderOf(event.target, local);
    if (i >= 0) {
      NS.userAt = performance.now();
      NS.userSlider = i;
      if (event.type === "keydown") onSliderKey(event, i);
      return;
    }
    if (event.type === "pointermove") return;
    NS.userAt = -Infinity; // the user went elsewhere: the sliders' next changes are the server's
    if (event.type === "pointerdown" && !event.target.closest?.('[data-testid="latent-pad"]')) NS.local = null;
  };
  for (const type of ["keydown", "pointerdown", "pointermove"]) document.addEventListener(type, touched, true);
  // The server's picture of an older z (React draws it before this element's data arrives):
  // back to the newer one before it is painted.
  new MutationObserver(() => {
    const img = NS.local && document.querySelector('img[data-testid="current-z-image"]');
    const drawn = img ? (img.getAttribute("data-z") || "").split(",").map(Number) : null;
    if (drawn && !near(drawn, NS.local.z, 2e-4) && img.getAttribute("src") !== NS.local.src) showLocal();
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-z"] });
  new MutationObserver(onSliderChange).observe(document.body, {
    attributes: true,
    attributeFilter: ["aria-valuetext"],
    subtree: true,
  });
  window.addEventListener("latent-pad-release", (event) => {
    const data = NS.last;
    if (data && event.detail && event.detail.key === data.pad) answerHere(event.detail.z);
  });
}

// The link's z (explorer.ui.common.format_z) into the address bar, in place: no history entry
// per step. Streamlit sends the address bar's query with each rerun request, so the server
// reads it back.
function followLink(z) {
  const params = new URLSearchParams(window.location.search);
  if (params.get("z") === z) return;
  params.set("z", z);
  window.history.replaceState(window.history.state, "", `${window.location.pathname}?${params}${window.location.hash}`);
}

function apply(data) {
  if (data.link) followLink(data.link);
  if (data.pad) movePad(data);
  if (data.manifold) moveManifold(data.manifold.mark);
  if (data.scatter) {
    moveScatters();
    watch();
  }
  NS.applied += 1;
}

export default function (component) {
  const { data } = component;
  if (!data) return;
  if (data instanceof Uint8Array) {
    registerAtlas(data); // the atlas's carrier (explorer.ui.marks.atlas_carrier)
    return;
  }
  NS.last = data;
  if (data.local) listen();
  if (caughtUp(data)) {
    NS.local = null;
    fadeNearest(false);
    apply(data);
  } else {
    showLocal(); // an older step's answer: keep showing the newer z
  }
}
