// The Temperature page's logit and τ sliders and the pictures they drive, in the browser: single
// relaxed samples, the simplex cloud, closeness to one-hot over τ and the expected relaxed sample.
// Uses sampling.js and canvas.js. Every picture relaxes the same seeded Gumbel noise, so moving a
// slider moves the samples and never redraws the noise; the server hears of the logits and τ
// once the visitor is still (canvas.js: reporter), for the URL and its Gumbel-max check.

const DRAWS = 2000; // expected relaxed sample
const CURVE_DRAWS = 1000;
const SIMPLEX_DRAWS = 600;
const SHOWN = 5;
const CURVE_TAUS = Array.from({ length: 36 }, (_, i) => 10 ** (-2 + (3.5 * i) / 35)); // 0.01 .. 10^1.5
const BLUE = "#1f77b4";
const RED = "#d62728";

function tauText(tau) {
  return tau < 0.1 ? tau.toFixed(3) : tau < 10 ? tau.toFixed(2) : tau.toFixed(1);
}

// Mix of two colours, for the heat cells: white at 0, the blue of the charts at 1.
function heat(p) {
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  return `rgb(${from.map((f, c) => Math.round(f + (to[c] - f) * p)).join(",")})`;
}

class TemperatureView {
  constructor(root) {
    this.root = root;
    this.tauInput = root.querySelector(".gl-tau");
    this.zoom = 1;
    this.timings = [];
    root.glTimings = this.timings; // read by benchmarks/browser_latency.py
    this.report = reporter(root, () => this.send("edit", { logits: [...this.logits], tau: this.tauRounded() }));
    this.tauInput.addEventListener("input", (event) => {
      this.drawTau();
      recordLatency(this.timings, this.startOf(event));
    });
    this.tauInput.addEventListener("change", () => this.settled());
    for (const type of ["pointerdown", "pointermove"]) {
      root.addEventListener(type, (event) => (this.lastPointer = event.timeStamp), { capture: true });
    }
    this.text = textColour(root);
    const canvases = root.querySelectorAll("canvas");
    watchWidths(canvases, () => this.noise !== undefined && this.drawAll());
  }

  get tau() {
    return 10 ** Number(this.tauInput.value);
  }

  // When the visitor acted: the pointer event that moved a slider (its input event comes later,
  // in the same task), else the input event itself (a key press).
  startOf(event) {
    const pointer = this.lastPointer ?? -Infinity;
    return event.timeStamp - pointer < 50 ? pointer : event.timeStamp;
  }

  tauRounded() {
    return Math.round(this.tau * 10000) / 10000;
  }

  settled() {
    this.root.querySelector(".gl-status").textContent = latencyNote(this.timings);
    this.report();
  }

  // Seed and temperatures always come from the server; logits and τ only when it changed them
  // (a preset, another number of classes): otherwise the visitor's own slider positions stand.
  apply(data, send) {
    this.send = send;
    this.zoom = takeZoom(this.root, data.zoom);
    const k = data.logits.length;
    if (data.version !== this.version || k !== this.classes) {
      this.version = data.version;
      this.logits = Float64Array.from(data.logits);
      this.tauInput.value = String(Math.log10(data.tau));
      this.buildSliders(data);
    }
    if (data.seed !== this.seed || k !== this.classes) {
      this.seed = data.seed;
      this.classes = k;
      this.noise = new Float64Array(DRAWS * k);
      fillUniforms(this.noise, data.seed, 0);
      for (let i = 0; i < this.noise.length; i++) this.noise[i] = gumbelFromUniform(this.noise[i]);
      this.scores = new Float64Array(DRAWS * k);
      this.gaps = new Float64Array(CURVE_DRAWS * k);
      this.relaxed = new Float64Array(DRAWS * k);
    }
    this.taus = data.taus;
    this.drawAll();
  }

  buildSliders(data) {
    const box = this.root.querySelector(".gl-logits");
    box.replaceChildren();
    this.logits.forEach((value, i) => {
      const label = document.createElement("label");
      label.className = "gl-slider";
      const shown = document.createElement("span");
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: String(data.low), max: String(data.high), step: String(data.step) });
      input.value = String(value);
      input.setAttribute("aria-label", `logit of class ${i}`);
      shown.textContent = `class ${i}: ${value.toFixed(1)}`;
      input.addEventListener("input", (event) => {
        this.logits[i] = Number(input.value);
        shown.textContent = `class ${i}: ${this.logits[i].toFixed(1)}`;
        this.drawAll();
        recordLatency(this.timings, this.startOf(event));
      });
      input.addEventListener("change", () => this.settled());
      label.append(shown, input);
      box.append(label);
    });
  }

  // logits + noise for every draw, and each score less its draw's largest: once per change of
  // the logits, whatever τ does.
  perturb() {
    const k = this.classes;
    for (let i = 0; i < this.scores.length; i++) this.scores[i] = this.logits[i % k] + this.noise[i];
    for (let r = 0; r < CURVE_DRAWS; r++) {
      let top = -Infinity;
      for (let j = 0; j < k; j++) top = Math.max(top, this.scores[r * k + j]);
      for (let j = 0; j < k; j++) this.gaps[r * k + j] = this.scores[r * k + j] - top;
    }
  }

  // The first `rows` draws relaxed at τ, into this.relaxed.
  relax(tau, rows) {
    for (let r = 0; r < rows; r++) relaxRow(this.scores, r * this.classes, this.classes, tau, this.relaxed);
    return this.relaxed;
  }

  probabilities() {
    const p = new Float64Array(this.classes);
    relaxRow(this.logits, 0, this.classes, 1, p);
    return p;
  }

  drawAll() {
    this.perturb();
    this.drawMeans();
    this.drawTau();
  }

  // What τ changes: the single samples, the simplex cloud and the ring on the curve.
  drawTau() {
    this.root.querySelector(".gl-tau-value").textContent = `τ = ${tauText(this.tau)}`;
    this.drawSamples();
    this.drawSimplex();
    this.drawCurve();
  }

  drawSamples() {
    const k = this.classes;
    const rows = this.relax(this.tau, SHOWN);
    const { context, width } = fitCanvas(this.root.querySelector(".gl-samples"), 36 + SHOWN * 34, this.zoom);
    const left = 56;
    const cellWidth = (width - left - 8) / k;
    context.font = "13px sans-serif";
    context.textAlign = "center";
    context.textBaseline = "middle";
    for (let r = 0; r < SHOWN; r++) {
      for (let j = 0; j < k; j++) {
        const p = rows[r * k + j];
        context.fillStyle = heat(p);
        context.fillRect(left + j * cellWidth + 1, 4 + r * 34, cellWidth - 2, 32);
        if (k <= 5) {
          context.fillStyle = p > 0.5 ? "#fff" : "#222";
          context.fillText(p.toFixed(2), left + (j + 0.5) * cellWidth, 20 + r * 34);
        }
      }
      context.fillStyle = this.text;
      context.textAlign = "right";
      context.fillText(`draw ${r + 1}`, left - 6, 20 + r * 34);
      context.textAlign = "center";
    }
    for (let j = 0; j < k; j++) context.fillText(`class ${j}`, left + (j + 0.5) * cellWidth, 20 + SHOWN * 34);
  }

  drawSimplex() {
    const canvas = this.root.querySelector(".gl-simplex");
    const three = this.classes === 3;
    canvas.hidden = !three;
    this.root.querySelector(".gl-simplex-note").hidden = three;
    if (!three) return;
    const { context, width } = fitCanvas(canvas, 300, this.zoom);
    const side = Math.min(width - 40, 280); // 24 px above, the triangle, the corner labels below: 300 px
    this.dotScale = canvas.width / width;
    const corners = [
      [width / 2, 24],
      [width / 2 - side / 2, 24 + (side * Math.sqrt(3)) / 2],
      [width / 2 + side / 2, 24 + (side * Math.sqrt(3)) / 2],
    ];
    const at = (p, i) => [0, 1].map((c) => p[i] * corners[0][c] + p[i + 1] * corners[1][c] + p[i + 2] * corners[2][c]);
    context.putImageData(this.dots(canvas, this.relax(this.tau, SIMPLEX_DRAWS), at), 0, 0);
    context.strokeStyle = "#999";
    context.beginPath();
    corners.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.closePath();
    context.stroke();
    context.fillStyle = this.text;
    context.font = "13px sans-serif";
    context.textAlign = "center";
    ["0", "1", "2"].forEach((name, i) => context.fillText(name, corners[i][0] + [0, -10, 10][i], corners[i][1] + [-8, 14, 14][i]));
    const [x, y] = at(this.probabilities(), 0);
    context.fillStyle = RED;
    context.font = "22px sans-serif";
    context.textBaseline = "middle";
    context.fillText("★", x, y);
  }

  // The cloud as translucent 4-pixel squares blended into the canvas's pixels (where squares
  // overlap the colour deepens, as the density does); one putImageData instead of 600 fills.
  dots(canvas, cloud, at) {
    if (this.dotImage?.width !== canvas.width || this.dotImage?.height !== canvas.height) {
      this.dotImage = new ImageData(canvas.width, canvas.height);
    }
    const image = this.dotImage;
    const pixels = image.data;
    pixels.fill(0);
    const scale = this.dotScale;
    const size = Math.max(2, Math.round(4 * scale));
    const [red, green, blue, alpha] = [31, 119, 180, 0.45];
    for (let r = 0; r < SIMPLEX_DRAWS; r++) {
      const [x, y] = at(cloud, 3 * r);
      const left = Math.round((x - 2) * scale);
      const top = Math.round((y - 2) * scale);
      for (let row = Math.max(top, 0); row < Math.min(top + size, image.height); row++) {
        for (let column = Math.max(left, 0); column < Math.min(left + size, image.width); column++) {
          const i = 4 * (row * image.width + column);
          const kept = (pixels[i + 3] / 255) * (1 - alpha); // "over": the new square on top
          const after = alpha + kept;
          pixels[i] = (red * alpha + pixels[i] * kept) / after;
          pixels[i + 1] = (green * alpha + pixels[i + 1] * kept) / after;
          pixels[i + 2] = (blue * alpha + pixels[i + 2] * kept) / after;
          pixels[i + 3] = after * 255;
        }
      }
    }
    return image;
  }

  // Mean largest component of the relaxed samples at τ: 1 is one-hot, 1/K the simplex's centre.
  // A sample's largest component is 1 / Σ_j exp((s_j - max s) / τ): no need to normalise.
  closeness(tau) {
    const gaps = this.gaps;
    const k = this.classes;
    const inverse = 1 / tau;
    let sum = 0;
    for (let r = 0; r < CURVE_DRAWS * k; r += k) {
      let total = 0;
      for (let j = r; j < r + k; j++) total += gaps[j] === 0 ? 1 : Math.exp(gaps[j] * inverse);
      sum += 1 / total;
    }
    return sum / CURVE_DRAWS;
  }

  drawCurve() {
    if (this.curveFor !== this.logits.join(",") + this.seed) {
      this.curve = CURVE_TAUS.map((tau) => this.closeness(tau));
      this.curveFor = this.logits.join(",") + this.seed;
    }
    const { context, width } = fitCanvas(this.root.querySelector(".gl-curve"), 300, this.zoom);
    const box = { left: 44, right: width - 12, top: 12, bottom: 260 };
    const x = (tau) => box.left + ((Math.log10(tau) + 2) / 3.5) * (box.right - box.left);
    const y = (v) => box.bottom - (v / 1.05) * (box.bottom - box.top);
    const text = this.text;
    context.strokeStyle = "#aaa";
    context.setLineDash([3, 4]);
    for (const [v, name] of [[1, "one-hot"], [1 / this.classes, "uniform 1/K"]]) {
      context.beginPath();
      context.moveTo(box.left, y(v));
      context.lineTo(box.right, y(v));
      context.stroke();
      context.fillStyle = text;
      context.textAlign = "right";
      context.fillText(name, box.right, y(v) + (v === 1 ? 14 : -6));
    }
    context.setLineDash([]);
    context.strokeStyle = BLUE;
    context.lineWidth = 3;
    context.beginPath();
    CURVE_TAUS.forEach((tau, i) => (i ? context.lineTo(x(tau), y(this.curve[i])) : context.moveTo(x(tau), y(this.curve[i]))));
    context.stroke();
    context.lineWidth = 1;
    context.fillStyle = text;
    context.font = "12px sans-serif";
    context.textAlign = "center";
    for (const tick of [0.01, 0.1, 1, 10]) context.fillText(String(tick), x(tick), box.bottom + 16);
    context.fillText("temperature τ (log scale)", (box.left + box.right) / 2, box.bottom + 34);
    context.textAlign = "right";
    for (const tick of [0, 0.5, 1]) context.fillText(String(tick), box.left - 6, y(tick) + 4);
    context.fillStyle = RED;
    for (const tau of this.taus) {
      context.beginPath();
      context.arc(x(tau), y(this.nearCurve(tau)), 5, 0, 2 * Math.PI);
      context.fill();
    }
    context.strokeStyle = RED;
    context.lineWidth = 3;
    context.beginPath();
    context.arc(x(this.tau), y(this.nearCurve(this.tau)), 9, 0, 2 * Math.PI);
    context.stroke();
  }

  // The curve's value at τ, interpolated on its log grid.
  nearCurve(tau) {
    const at = Math.min(Math.max(((Math.log10(tau) + 2) / 3.5) * 35, 0), 35);
    const low = Math.floor(at);
    const high = Math.min(low + 1, 35);
    return this.curve[low] + (at - low) * (this.curve[high] - this.curve[low]);
  }

  drawMeans() {
    const k = this.classes;
    const taus = this.taus;
    const { context, width } = fitCanvas(this.root.querySelector(".gl-means"), 240, this.zoom);
    if (!taus.length) return;
    const p = this.probabilities();
    const gap = 18;
    const panel = (width - 40 - gap * (taus.length - 1)) / taus.length;
    const y = (v) => 210 - v * 180;
    context.font = "13px sans-serif";
    context.textAlign = "center";
    taus.forEach((tau, t) => {
      const relaxed = this.relax(tau, DRAWS);
      const left = 40 + t * (panel + gap);
      const bar = panel / k;
      context.fillStyle = this.text;
      context.fillText(`τ = ${tauText(tau)}`, left + panel / 2, 16);
      for (let j = 0; j < k; j++) {
        let mean = 0;
        for (let r = 0; r < DRAWS; r++) mean += relaxed[r * k + j];
        mean /= DRAWS;
        context.fillStyle = BLUE;
        context.fillRect(left + j * bar + bar * 0.15, y(mean), bar * 0.7, y(0) - y(mean));
        context.fillStyle = RED;
        context.beginPath();
        const [cx, cy, r] = [left + (j + 0.5) * bar, y(p[j]), Math.min(7, bar / 3)];
        context.moveTo(cx, cy - r);
        context.lineTo(cx + r, cy);
        context.lineTo(cx, cy + r);
        context.lineTo(cx - r, cy);
        context.fill();
        if (k <= 6) {
          context.fillStyle = this.text;
          context.fillText(String(j), left + (j + 0.5) * bar, 228);
        }
      }
    });
    context.textAlign = "right";
    context.fillStyle = this.text;
    for (const tick of [0, 0.5, 1]) context.fillText(String(tick), 32, y(tick) + 4);
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const view = viewOf(parentElement, ".gl-temperature", TemperatureView);
  view.apply(data, setTriggerValue);
}
