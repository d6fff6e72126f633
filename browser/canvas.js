// What both components draw with: canvases sized for the screen's pixel ratio, and the time from
// a pointer or slider event to the frame that shows its result.

const KEPT_TIMINGS = 500;

// A canvas `height` CSS pixels tall and as wide as its box, drawn in CSS pixels.
function fitCanvas(canvas, height) {
  const width = canvas.clientWidth || 600;
  const scale = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * scale) || canvas.height !== Math.round(height * scale)) {
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    canvas.style.height = `${height}px`;
  }
  const context = canvas.getContext("2d");
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);
  return { context, width };
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

// Tells the server once things are still: `send` runs `delay` ms after the last call.
function debounced(send, delay) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => send(...args), delay);
  };
}
