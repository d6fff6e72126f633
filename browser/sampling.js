// Seeded uniforms, Gumbel noise and the Gumbel-Softmax relaxation in the visitor's browser.
// From the same uniforms these compute what core.gumbel computes (gumbel_from_uniform, relax),
// in float64; tests/test_browser_parity.py holds them to it.

const TWO_32 = 4294967296;

// A 32-bit hash of a seed and a stream number (splitmix32-style finaliser), so stream k of
// seed s never shares a state with stream k + 1 or with seed s + 1.
function mixSeed(seed, stream) {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream >>> 0, 0x85ebca6b) ^ 0x632be5ab) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// Uniforms in the open interval (0, 1) from mulberry32: never 0, never 1, so Gumbel noise is finite.
function uniformStream(seed, stream) {
  let state = mixSeed(seed, stream);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) + 0.5) / TWO_32);
  };
}

function fillUniforms(out, seed, stream) {
  const next = uniformStream(seed, stream);
  for (let i = 0; i < out.length; i++) out[i] = next();
  return out;
}

// -log(-log u), as core.gumbel.gumbel_from_uniform (u = 0 clamped to the smallest normal double).
function gumbelFromUniform(u) {
  return -Math.log(-Math.log(Math.max(u, 2.2250738585072014e-308)));
}

// softmax((scores[at..at+k]) / tau) into out[at..at+k], subtracting the maximum first: finite
// down to tiny tau, exactly 0 for a score of -Infinity (core.gumbel.relax).
function relaxRow(scores, at, k, tau, out) {
  let top = -Infinity;
  for (let j = 0; j < k; j++) top = Math.max(top, scores[at + j]);
  let total = 0;
  for (let j = 0; j < k; j++) {
    const e = Math.exp((scores[at + j] - top) / tau);
    out[at + j] = e;
    total += e;
  }
  for (let j = 0; j < k; j++) out[at + j] /= total;
}

// Gumbel-Softmax samples of rows of `k` logits from given uniforms: softmax((logits + g) / tau).
function gumbelSoftmax(logits, uniforms, k, tau, out = new Float64Array(uniforms.length)) {
  const rows = uniforms.length / k;
  const scores = new Float64Array(uniforms.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) scores[r * k + j] = logits[(r * k + j) % logits.length] + gumbelFromUniform(uniforms[r * k + j]);
    relaxRow(scores, r * k, k, tau, out);
  }
  return out;
}
