// The Latent editor's code grid, decoded digit and Play Gumbel-Softmax, all in the browser.
// Uses sampling.js, decoder.js and canvas.js (browser/components.py joins them into one module).
// The server is told about an edit once the visitor is still (canvas.js: reporter), so a drag costs
// it nothing; it answers with the same code, which this view then leaves alone.

const SAMPLES_PER_SECOND = 10;
const CODE_MIX = 0.1; // Play draws from the code's probabilities mixed this much toward uniform
const KEPT_MODELS = 4;
const DRAG_PIXELS = 4;
const EMPTY_COLOUR = [232, 238, 247];
const FULL_COLOUR = [31, 59, 115];
const SELECTED_COLOUR = "#d62728";

const models = new Map(); // model id -> decoder, most recently used last

function rememberModel(id, decoder) {
  models.delete(id);
  models.set(id, decoder);
  while (models.size > KEPT_MODELS) models.delete(models.keys().next().value);
}

function recallModel(id) {
  const decoder = models.get(id);
  if (decoder !== undefined) rememberModel(id, decoder);
  return decoder;
}

function paintDigit(canvas, pixels) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < pixels.length; i++) {
    const grey = Math.round((1 - Math.min(Math.max(pixels[i], 0), 1)) * 255);
    image.data[4 * i] = grey;
    image.data[4 * i + 1] = grey;
    image.data[4 * i + 2] = grey;
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// What was sent and how far it may differ from the server's decoder, from the header's numbers.
function describeModel(header) {
  return (
    `Decoded in your browser from float${header.dtype} weights (${(header.bytes / 1e6).toFixed(2)} MB, sent once); ` +
    `largest pixel difference from the server's decoder on ${header.checked} check codes: ${header.deviation.toExponential(1)}.`
  );
}

class EditorView {
  constructor(root) {
    this.root = root;
    this.grid = root.querySelector(".gl-grid");
    this.decodedCanvas = root.querySelector(".gl-decoded");
    this.playButton = root.querySelector(".gl-play-button");
    this.tauInput = root.querySelector(".gl-tau");
    this.seedInput = root.querySelector(".gl-seed");
    this.status = root.querySelector(".gl-status");
    this.version = null;
    this.modelId = null;
    this.zoom = 1;
    this.asked = new Set();
    this.playing = false;
    this.drag = null;
    this.timings = [];
    root.glTimings = this.timings; // read by benchmarks/browser_latency.py
    this.report = reporter(root, () => this.send("edit", this.editedState()));
    this.listen();
  }

  listen() {
    this.grid.addEventListener("pointerdown", (event) => this.press(event));
    this.grid.addEventListener("pointermove", (event) => this.move(event));
    this.grid.addEventListener("pointerup", () => this.release());
    this.grid.addEventListener("pointercancel", () => this.release());
    this.playButton.addEventListener("click", () => this.togglePlay());
    this.tauInput.addEventListener("input", () => this.showTau());
    this.tauInput.addEventListener("change", () => this.report());
    this.seedInput.addEventListener("change", () => {
      this.seed = Math.max(0, Math.floor(Number(this.seedInput.value) || 0)) % 2147483648;
      this.seedInput.value = String(this.seed);
      this.frame = 0;
      this.report();
    });
    this.text = textColour(root);
    watchWidths([this.grid], () => this.drawGrid());
  }

  // The server's state: taken when it is new (another model, or a change made on the server:
  // a test digit encoded, a class picked in its controls); otherwise this view's own edits stand.
  apply(header, decoder, send) {
    this.send = send;
    this.decoder = decoder;
    const zoom = takeZoom(this.root, header.zoom);
    if (zoom !== this.zoom) {
      this.zoom = zoom;
      this.drawGrid();
    }
    if (header.version === this.version && header.model === this.modelId) return;
    if (this.playing) this.togglePlay();
    this.version = header.version;
    this.modelId = header.model;
    this.vars = header.vars;
    this.classes = header.classes;
    this.positions = Float64Array.from(header.positions);
    this.posterior = header.posterior.length ? Float64Array.from(header.posterior) : null;
    this.edited = new Uint8Array(this.vars);
    this.variable = header.variable;
    this.seed = header.seed;
    this.frame = 0;
    this.code = new Float64Array(this.vars * this.classes);
    this.sample = new Float64Array(this.vars * this.classes);
    this.uniforms = new Float64Array(this.vars * this.classes);
    this.pixels = new Float32Array(header.sizes[header.sizes.length - 1]);
    for (const canvas of this.root.querySelectorAll(".gl-digit")) {
      canvas.width = header.side;
      canvas.height = header.side;
    }
    this.tauInput.value = String(Math.log10(header.tau));
    this.seedInput.value = String(this.seed);
    const original = this.root.querySelector(".gl-original");
    original.hidden = header.original.length === 0;
    if (header.original.length) paintDigit(this.root.querySelector(".gl-original-digit"), header.original);
    this.status.textContent = describeModel(header);
    this.showTau();
    this.redraw();
  }

  get tau() {
    return 10 ** Number(this.tauInput.value);
  }

  showTau() {
    const tau = this.tau;
    this.root.querySelector(".gl-tau-value").textContent = `τ = ${tau < 0.1 ? tau.toFixed(3) : tau.toFixed(2)}`;
  }

  codeProbabilities() {
    return codeFromPositions(this.positions, this.classes, this.code);
  }

  // The code (or, while playing, the latest sample) decoded and drawn.
  redraw() {
    const shown = this.playing ? this.sample : this.codeProbabilities();
    decode(this.decoder, shown, this.pixels);
    paintDigit(this.decodedCanvas, this.pixels);
    this.drawGrid();
  }

  // The grid's layout in drawing units (CSS pixels / zoom).
  geometry() {
    const width = (this.grid.glWidth || this.grid.clientWidth || 600) / this.zoom;
    const left = 34;
    const cell = Math.max(8, Math.min(30, Math.floor((width - left - 4) / this.vars)));
    return { width, left, top: 6, cell, height: 6 + cell * this.classes + 30 };
  }

  drawGrid() {
    if (this.vars === undefined) return;
    const { left, top, cell, height } = this.geometry();
    const { context } = fitCanvas(this.grid, height, this.zoom);
    const shown = this.playing ? this.sample : this.code;
    const k = this.classes;
    for (let v = 0; v < this.vars; v++) {
      for (let j = 0; j < k; j++) {
        const p = shown[v * k + j];
        const rgb = EMPTY_COLOUR.map((e, c) => Math.round(e + (FULL_COLOUR[c] - e) * p));
        context.fillStyle = `rgb(${rgb.join(",")})`;
        context.fillRect(left + v * cell + 1, top + j * cell + 1, cell - 2, cell - 2);
      }
    }
    context.strokeStyle = SELECTED_COLOUR;
    context.lineWidth = 2.5;
    context.strokeRect(left + this.variable * cell, top, cell, cell * k);
    context.fillStyle = this.text;
    context.font = `${Math.min(12, cell - 2)}px sans-serif`;
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (let j = 0; j < k; j++) context.fillText(String(j), left - 6, top + (j + 0.5) * cell);
    context.textAlign = "center";
    context.textBaseline = "top";
    // Every variable's number where it fits beside its neighbours', else every 2nd, 5th or 10th.
    const widest = context.measureText(String(this.vars - 1)).width + 3;
    const step = [1, 2, 5, 10].find((s) => s * cell >= widest) || 10;
    for (let v = 0; v < this.vars; v += step) context.fillText(String(v), left + (v + 0.5) * cell, top + k * cell + 4);
    context.save();
    context.translate(9, top + (k * cell) / 2);
    context.rotate(-Math.PI / 2);
    context.fillText("class", 0, -4);
    context.restore();
    context.fillText("variable", left + (this.vars * cell) / 2, top + k * cell + 17);
  }

  // Where a pointer is on the grid: its variable, and its continuous position on the class axis.
  locate(event) {
    const { left, top, cell } = this.geometry();
    const variable = Math.floor((event.offsetX / this.zoom - left) / cell);
    const position = (event.offsetY / this.zoom - top) / cell - 0.5;
    return { variable, position: Math.min(Math.max(position, 0), this.classes - 1) };
  }

  press(event) {
    if (this.vars === undefined || this.playing) return;
    const { variable, position } = this.locate(event);
    if (variable < 0 || variable >= this.vars) return;
    this.grid.setPointerCapture(event.pointerId);
    this.drag = { variable, x: event.offsetX, y: event.offsetY, moved: false };
    this.variable = variable;
    this.edit(variable, Math.round(position), event.timeStamp);
  }

  move(event) {
    const drag = this.drag;
    if (drag === null) return;
    drag.moved ||= Math.hypot(event.offsetX - drag.x, event.offsetY - drag.y) >= DRAG_PIXELS;
    if (drag.moved) this.edit(drag.variable, this.locate(event).position, event.timeStamp);
  }

  release() {
    if (this.drag === null) return;
    this.drag = null;
    this.status.textContent = latencyNote(this.timings);
    this.report();
  }

  edit(variable, position, started) {
    this.positions[variable] = position;
    this.edited[variable] = 1;
    this.redraw();
    recordLatency(this.timings, started);
  }

  // Play draws from the encoder's posterior where the code came from a digit and the variable
  // was not edited since; elsewhere from the code itself, mixed toward uniform.
  playLogits() {
    const k = this.classes;
    const code = this.codeProbabilities();
    const logits = new Float64Array(this.vars * k);
    for (let v = 0; v < this.vars; v++) {
      for (let j = 0; j < k; j++) {
        const i = v * k + j;
        logits[i] = this.posterior && !this.edited[v] ? this.posterior[i] : Math.log((1 - CODE_MIX) * code[i] + CODE_MIX / k);
      }
    }
    return logits;
  }

  togglePlay() {
    this.playing = !this.playing;
    this.playButton.setAttribute("aria-pressed", String(this.playing));
    this.playButton.textContent = this.playing ? "■ Stop" : "▶ Play Gumbel-Softmax";
    if (!this.playing) {
      this.root.querySelector(".gl-frame").textContent = "";
      this.redraw();
      return;
    }
    this.frame = 0;
    const logits = this.playLogits();
    let last = -Infinity;
    const step = (now) => {
      if (!this.playing || !this.root.isConnected) return;
      if (now - last >= 1000 / SAMPLES_PER_SECOND) {
        last = now;
        fillUniforms(this.uniforms, this.seed, this.frame);
        gumbelSoftmax(logits, this.uniforms, this.classes, this.tau, this.sample);
        this.root.querySelector(".gl-frame").textContent = `sample ${this.frame + 1}`;
        this.frame += 1;
        this.redraw();
      }
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  // The code, the selected variable, τ and the noise seed, for the server (debounced).
  editedState() {
    return {
      positions: Array.from(this.positions, (p) => Math.round(p * 1000) / 1000),
      variable: this.variable,
      tau: Math.round(this.tau * 10000) / 10000,
      seed: this.seed,
    };
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const view = viewOf(parentElement, ".gl-editor", EditorView);
  let message;
  try {
    message = readMessage(data);
    if (message.payload.byteLength) rememberModel(message.header.model, buildDecoder(message.header, message.payload));
  } catch (error) {
    view.status.textContent = `The browser could not read the model (${error.message}); reload the page.`;
    return;
  }
  const { header } = message;
  const decoder = recallModel(header.model);
  if (decoder === undefined) {
    // Sent earlier but not kept here (another tab's cache, a reloaded script): ask once more.
    if (!view.asked.has(header.model)) setTriggerValue("missing", header.model);
    view.asked.add(header.model);
    view.status.textContent = "Loading the model…";
    return;
  }
  view.apply(header, decoder, setTriggerValue);
}
