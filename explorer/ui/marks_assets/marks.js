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
// Test hook: window.__zMarks.last (the latest data), .applied (how many were applied).

const NS = (window.__zMarks ??= { last: null, applied: 0, hooked: new WeakSet(), observer: null });
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
  if (scatter && scatter.plane === gd.layout.meta.plane) return scatter.xy;
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

function apply(data) {
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
  NS.last = data;
  apply(data);
}
