// The categorical VAE's decoder in the visitor's browser: the server's message parsed, its
// weights unpacked (float16 or float32), a code decoded to pixel probabilities with plain typed
// arrays. Computes what core.vae.CategoricalVAE.decode computes, accumulating in float64.

const MAGIC = "GLB1";

// A message from browser/components.py: "GLB1", the header's length (uint32, little-endian),
// the header as JSON (numbers only), padding to 8 bytes, then the weights if the header says so.
function readMessage(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) {
    throw new Error("not a Gumbel Lab message");
  }
  const length = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const start = 8 + Math.ceil(length / 8) * 8;
  return { header, payload: bytes.subarray(start) };
}

let halfTable = null;

// float16 bit patterns -> float32, through a 65,536-entry table built once.
function halfToFloat(bits) {
  if (halfTable === null) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const fraction = h & 0x3ff;
      if (exponent === 0) halfTable[h] = sign * fraction * 2 ** -24;
      else if (exponent === 31) halfTable[h] = fraction ? NaN : sign * Infinity;
      else halfTable[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]];
  return out;
}

// Layers from the payload: per layer its weight transposed to (inputs, outputs), then its bias,
// in float16 (header.dtype 16) or float32 (32), little-endian.
function buildDecoder(header, payload) {
  const count = header.sizes.reduce((n, size, i) => (i ? n + header.sizes[i - 1] * size + size : 0), 0);
  const bytesPer = header.dtype === 16 ? 2 : 4;
  if (payload.byteLength !== count * bytesPer) throw new Error("the model's weights are incomplete");
  const aligned = payload.slice(); // a fresh buffer: typed arrays need an aligned offset
  const values = bytesPer === 2 ? halfToFloat(new Uint16Array(aligned.buffer)) : new Float32Array(aligned.buffer);
  const layers = [];
  let at = 0;
  for (let i = 1; i < header.sizes.length; i++) {
    const inputs = header.sizes[i - 1];
    const outputs = header.sizes[i];
    const weight = values.subarray(at, at + inputs * outputs);
    at += inputs * outputs;
    layers.push({ inputs, outputs, weight, bias: values.subarray(at, at + outputs) });
    at += outputs;
  }
  const widest = Math.max(...header.sizes);
  return { layers, buffers: [new Float64Array(widest), new Float64Array(widest)] };
}

// A code from each variable's position on its class axis, as core.studies.latent.soft_code makes
// it: between the two nearest classes, linearly (a point on an edge of the simplex); a whole
// number is that class's one-hot. The editor's drag moves a position.
function codeFromPositions(positions, k, out = new Float64Array(positions.length * k)) {
  out.fill(0);
  positions.forEach((position, v) => {
    const low = Math.min(Math.floor(position), k - 1);
    const share = position - low;
    out[v * k + low] = 1 - share;
    if (share > 0) out[v * k + low + 1] = share;
  });
  return out;
}

// Pixel probabilities for one code (latent_vars x classes values, row-major) into `out`.
// Inputs that are zero (most of a one-hot code, ReLU's zeros) are skipped: a one-hot code costs
// the first layer 30 rows of 256 instead of 300.
function decode(decoder, code, out) {
  const [a, b] = decoder.buffers;
  let input = code;
  let output = a;
  decoder.layers.forEach((layer, index) => {
    const { inputs, outputs, weight, bias } = layer;
    for (let j = 0; j < outputs; j++) output[j] = bias[j];
    for (let i = 0; i < inputs; i++) {
      const x = input[i];
      if (x === 0) continue;
      const row = i * outputs;
      for (let j = 0; j < outputs; j++) output[j] += x * weight[row + j];
    }
    const last = index === decoder.layers.length - 1;
    if (last) {
      for (let j = 0; j < outputs; j++) out[j] = 1 / (1 + Math.exp(-output[j]));
    } else {
      for (let j = 0; j < outputs; j++) if (output[j] < 0) output[j] = 0;
      input = output;
      output = output === a ? b : a;
    }
  });
  return out;
}
