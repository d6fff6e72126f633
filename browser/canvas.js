// What both components share: canvases sized for the screen's pixel ratio, the time from a
// pointer or slider event to the frame that shows its result, and when to tell the server.

const KEPT_TIMINGS = 500;
// The server hears of edits once the visitor has been still this long, or at once when the mouse
// leaves the component (towards the server's own controls, the address bar, the strips below):
// a visitor editing every second costs it no run until they pause.
const REPORT_DELAY_MS = 1500;

// Each component root's view, made on the first render and kept while the data changes.
const views = new WeakMap();

function viewOf(parentElement, selector, View) {
  const root = parentElement.querySelector(selector);
  let view = views.get(root);
  if (view === undefined) {
    view = new View(root);
    views.set(root, view);
  }
  return view;
}

// Keeps each canvas's width (CSS pixels) in `glWidth` and calls `redraw` when one changes, so
// drawing never asks for layout: reading clientWidth after a label changed would lay out the
// whole page again in the middle of an edit.
function watchWidths(canvases, redraw) {
  const observer = new ResizeObserver((entries) => {
    for (const entry of entries) entry.target.glWidth = entry.contentRect.width;
    redraw();
  });
  for (const canvas of canvases) observer.observe(canvas);
}

// The text colour of the page's theme, read once a view is built (reading it per draw would
// recompute styles in the middle of an edit).
function textColour(element) {
  return getComputedStyle(element).color;
}

// A canvas as wide as its box and `height` drawing units tall, a unit being `zoom` CSS pixels:
// presenter view zooms a picture's text, lines and margins alike, and the picture lays itself out
// in the narrower width (in units) it returns.
function fitCanvas(canvas, height, zoom = 1) {
  const cssWidth = canvas.glWidth || canvas.clientWidth || 600;
  const ratio = window.devicePixelRatio || 1;
  const [pixelWidth, pixelHeight] = [Math.round(cssWidth * ratio), Math.round(height * zoom * ratio)];
  if (canvas.width !== pixelWidth || canvas.height !== pixelHeight) {
    canvas.width = pixelWidth;
    canvas.height = pixelHeight;
    canvas.style.height = `${height * zoom}px`;
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio * zoom, 0, 0, ratio * zoom, 0, 0);
  context.clearRect(0, 0, cssWidth / zoom, height);
  return { context, width: cssWidth / zoom };
}

// Presenter view's factor from the server (1 otherwise), also given to the component's own text
// through the --gl-zoom custom property its stylesheet sizes by.
function takeZoom(root, zoom) {
  const factor = Number.isFinite(zoom) && zoom > 0 ? zoom : 1;
  root.style.setProperty("--gl-zoom", String(factor));
  return factor;
}

// After the frame that shows this edit has been painted: a task queued from the animation frame
// callback runs once rendering is done.
function afterPaint(callback) {
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = callback;
    channel.port2.postMessage(0);
  });
}

// Milliseconds from `started` (an event's timeStamp) to the painted frame, kept in `timings`.
function recordLatency(timings, started) {
  afterPaint(() => {
    timings.push(performance.now() - started);
    if (timings.length > KEPT_TIMINGS) timings.shift();
  });
}

function latencyNote(timings) {
  const recent = [...timings.slice(-50)].sort((x, y) => x - y);
  if (!recent.length) return "";
  const middle = recent[Math.floor((recent.length - 1) / 2)];
  return `Drawn in your browser: ${middle.toFixed(1)} ms from pointer to screen (median of the last ${recent.length} edits).`;
}

// `report()` schedules `send()` for REPORT_DELAY_MS after the last call; leaving `root` with the
// mouse sends a pending report at once.
function reporter(root, send) {
  let timer = null;
  const flush = () => {
    if (timer === null) return;
    clearTimeout(timer);
    timer = null;
    send();
  };
  root.addEventListener("pointerleave", (event) => event.pointerType === "mouse" && flush());
  return () => {
    clearTimeout(timer);
    timer = setTimeout(flush, REPORT_DELAY_MS);
  };
}
