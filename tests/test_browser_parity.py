"""The browser's decoder and sampler against torch, in Chromium (no app server): the JavaScript
the components run (browser/sampling.js, decoder.js) loaded into a blank page, fed the message
the server packs and the same codes or uniforms torch gets.

Bars (issue 23): pixel probabilities within 1e-5 of core.vae's decoder with float32 weights and
2e-3 with the float16 weights the app sends, on both shipped models, one-hot and soft codes; a
Gumbel-Softmax sample from given uniforms within 1e-6 of core.gumbel's.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from browser import components
from core.gumbel import gumbel_from_uniform, relax
from core.store.checkpoints import load_checkpoint
from core.studies.latent import soft_code
from tests.test_browser import browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "checkpoints").glob("*.pt"))
CODES_OF_EACH_KIND = 12  # one-hot, between two classes, dense Gumbel-Softmax samples: 36 codes

DECODE = """([message, codes, positions]) => {
  const bytes = Uint8Array.from(atob(message), (c) => c.charCodeAt(0));
  const { header, payload } = readMessage(bytes);
  const decoder = buildDecoder(header, payload);
  const k = header.sizes[0] / positions[0].length;
  const soft = positions.map((p) => Array.from(codeFromPositions(p, k)));
  const decoded = (code) => Array.from(decode(decoder, code, new Float32Array(header.sizes.at(-1))));
  return { pixels: [...codes, ...soft].map(decoded), soft };
}"""


@pytest.fixture(scope="module")
def js(browser):  # noqa: F811
    """A blank Chromium page holding the components' sampler and decoder."""
    page = browser.new_page()
    page.set_content("<!doctype html><title>parity</title>")
    page.add_script_tag(content=components._source("sampling.js", "decoder.js"))
    yield page
    page.close()


def codes_for(model) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot prior codes and dense Gumbel-Softmax samples (decoded as given), and positions
    between classes (made into codes by the browser and by core.studies.latent.soft_code)."""
    draw = torch.Generator().manual_seed(23)
    vars_, classes = model.config.latent_vars, model.config.classes
    one_hot = F.one_hot(torch.randint(classes, (CODES_OF_EACH_KIND, vars_), generator=draw), classes).double()
    dense = relax(torch.randn(CODES_OF_EACH_KIND, vars_, classes, generator=draw, dtype=torch.float64), 0.7)
    positions = torch.rand(CODES_OF_EACH_KIND, vars_, generator=draw, dtype=torch.float64) * (classes - 1)
    return torch.cat([one_hot, dense]), positions


@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16"])
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_browser_decoder_matches_torch(js, path, half, monkeypatch):
    model = load_checkpoint(path).model
    if not half:
        monkeypatch.setattr(components, "HALF_TOLERANCE", 0.0)  # float16 never qualifies: float32 is sent
    packed = components.pack_decoder(model)
    assert packed.dtype == (16 if half else 32)
    message = base64.b64encode(components.pack_message(packed.header(), packed.weights)).decode()
    given, positions = codes_for(model)
    flat = given.reshape(len(given), -1).tolist()
    result = js.evaluate(DECODE, [message, flat, positions.tolist()])
    soft = torch.stack([soft_code(model, p) for p in positions])  # float32, as the model takes it
    browser_soft = torch.tensor(result["soft"], dtype=torch.float64).view_as(soft)
    assert float((browser_soft - soft.double()).abs().max()) <= 6e-8  # the same edges, up to float32 rounding
    with torch.inference_mode():
        reference = model.decode(torch.cat([given.float(), soft]))
    pixels = torch.tensor(result["pixels"])
    assert pixels.shape == reference.shape == (3 * CODES_OF_EACH_KIND, 784)
    difference = float((pixels - reference).abs().max())
    assert difference <= (2e-3 if half else 1e-5), difference
    print(f"\n{path.stem} float{packed.dtype}: max |browser - torch| = {difference:.2e} on {len(pixels)} codes")


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0, 10.0])
def test_browser_gumbel_softmax_matches_core_from_the_same_uniforms(js, tau):
    """softmax((logits + g(u)) / τ) with g = -log(-log u): the browser's, in float64, against
    core.gumbel's on the same uniforms, an impossible class (-inf) included."""
    draw = torch.Generator().manual_seed(5)
    logits = torch.randn(30, 10, generator=draw, dtype=torch.float64) * 3
    logits[4, 2] = -torch.inf
    uniforms = torch.rand(30, 10, generator=draw, dtype=torch.float64)
    sample = js.evaluate(
        "([logits, u, tau]) => Array.from(gumbelSoftmax(logits.map((x) => x ?? -Infinity), u, 10, tau))",
        [[None if x == -torch.inf else x for x in logits.flatten().tolist()], uniforms.flatten().tolist(), tau],
    )
    reference = relax(logits + gumbel_from_uniform(uniforms), tau)
    browser_sample = torch.tensor(sample, dtype=torch.float64).view(30, 10)
    assert float((browser_sample - reference).abs().max()) <= 1e-6
    assert browser_sample[4, 2] == 0 and torch.allclose(browser_sample.sum(-1), torch.ones(30, dtype=torch.float64))


def test_browser_uniforms_are_seeded_and_open(js):
    """The same seed and stream give the same uniforms, another seed or stream others, all in (0, 1)."""
    draw = "([seed, stream]) => Array.from(fillUniforms(new Float64Array(20000), seed, stream))"
    first = js.evaluate(draw, [7, 0])
    assert first == js.evaluate(draw, [7, 0])
    assert first != js.evaluate(draw, [8, 0]) and first != js.evaluate(draw, [7, 1])
    u = torch.tensor(first, dtype=torch.float64)
    assert float(u.min()) > 0 and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 5 * (1 / 12 / 20000) ** 0.5


def test_gumbel_max_from_browser_uniforms_is_exact(js):
    """The argmax of logits + g(u) over the browser's seeded uniforms has softmax(logits)'s
    frequencies: Pearson's χ² over 20,000 draws of 4 classes (fixed seed, p > 0.001)."""
    logits = [1.0, 0.0, -1.0, 0.5]
    counts = js.evaluate(
        """(logits) => {
          const k = logits.length, draws = 20000, u = fillUniforms(new Float64Array(draws * k), 11, 0);
          const counts = new Array(k).fill(0);
          for (let r = 0; r < draws; r++) {
            let best = 0, top = -Infinity;
            for (let j = 0; j < k; j++) {
              const s = logits[j] + gumbelFromUniform(u[r * k + j]);
              if (s > top) { top = s; best = j; }
            }
            counts[best] += 1;
          }
          return counts;
        }""",
        logits,
    )
    expected = torch.softmax(torch.tensor(logits, dtype=torch.float64), 0) * 20000
    assert sum(counts) == 20000 and chisquare(counts, expected.tolist()).pvalue > 1e-3
