"""Every page on a projector, in Chromium: at 1280 × 800 and 1024 × 768, in normal and presenter
view, nothing a room must read (a control, a title, a formula, a legend, a chart's text) runs past
its container or the window, nor is cut to an ellipsis, nor (a selectbox's choice) clipped; at
1280 × 800 each page's picture (or, on Train and Sweep, the Start button) begins on the first
screen; presenter view draws every chart's smallest text at least 1.4 times its normal size. One
server, one browser, every page in a loop. Saves each page's first screen in presenter view under
artifacts/browser/projector/ (docs/projector/ keeps a copy)."""

from __future__ import annotations

import pytest

from tests.test_browser import SHOTS, browser, no_errors, server, settle  # noqa: F401
from ui.pages import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENS = ((1280, 800), (1024, 768))
FOLD = 800  # the first screen's height at 1280 × 800
GROWTH = 1.4
# The page's main picture; on Train and Sweep (no run yet) the Start button that makes it.
PICTURE = ".js-plotly-plot, [data-testid='stImage'], [data-testid='stCustomComponentV1'], canvas"
STARTS = {"train": "Start training", "sweep": "Start sweep"}

# In the page: what runs past its container (a chart for a chart's text, else the column or the
# main area) or the window, the top of the first picture, and each chart's smallest font.
SURVEY = """(picture) => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const box = (e) => e.getBoundingClientRect();
  const readable = [
    '[data-testid="stWidgetLabel"]', '[data-testid="stSelectbox"]', '[data-testid="stMultiSelect"]',
    '[data-testid="stSlider"]', '[data-testid="stNumberInput"]', '[data-testid="stButtonGroup"]',
    '[data-testid="stButton"]', '[data-testid="stFormSubmitButton"]', '[data-testid="stPageLink"]',
    '[data-testid="stMetric"]', 'h1', 'h2', 'h3', '.katex', '.gtitle', '.g-xtitle', '.g-ytitle',
    '.annotation-text', '.legendtext', '.xtick text', '.ytick text',
  ];
  const past = [];
  for (const element of main.querySelectorAll(readable.join(','))) {
    const r = box(element);
    if (r.width === 0 || r.height === 0) continue;  // folded away
    const holder = element.closest('.js-plotly-plot') || element.closest('[data-testid="stMarkdownContainer"]')
      || element.closest('[data-testid="stColumn"]') || main;
    const h = box(holder);
    const right = Math.min(h.right, window.innerWidth);
    if (r.right > right + 2 || r.left < h.left - 2) {
      past.push(`${element.tagName}.${element.getAttribute('class') || element.dataset.testid}` +
        ` "${(element.textContent || '').slice(0, 40)}" ${Math.round(r.left)}-${Math.round(r.right)}` +
        ` in ${Math.round(h.left)}-${Math.round(right)}`);
    }
  }
  for (const cut of main.querySelectorAll('*')) {  // what Streamlit shortens with "…"
    if (getComputedStyle(cut).textOverflow === 'ellipsis' && cut.scrollWidth > cut.clientWidth + 1) {
      past.push(`cut to an ellipsis: "${cut.textContent.slice(0, 40)}"`);
    }
  }
  const pen = document.createElement('canvas').getContext('2d');
  for (const chosen of main.querySelectorAll('[data-testid="stSelectbox"] input')) {  // a choice clipped
    const style = getComputedStyle(chosen);
    pen.font = style.font;
    const room = chosen.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (chosen.clientWidth && pen.measureText(chosen.value).width > room + 1) {
      past.push(`clipped: "${chosen.value.slice(0, 40)}"`);
    }
  }
  for (const inner of main.querySelectorAll('[data-testid="stButtonGroup"] *')) {  // options behind a scroll
    if (inner.scrollWidth > inner.clientWidth + 2 && getComputedStyle(inner).overflowX !== 'visible') {
      past.push(`options hidden behind a sideways scroll: "${inner.textContent.slice(0, 40)}"`);
    }
  }
  // The browser components draw on canvases inside their own shadow roots.
  const roots = [main, ...[...main.querySelectorAll('*')].filter((e) => e.shadowRoot).map((e) => e.shadowRoot)];
  const pictures = roots.flatMap((root) => [...root.querySelectorAll(picture)]).map(box).filter((r) => r.height > 0);
  const top = pictures.length ? Math.min(...pictures.map((r) => r.top + window.scrollY)) : null;
  const smallest = [...main.querySelectorAll('.js-plotly-plot')].map((chart) => Math.min(
    ...[...chart.querySelectorAll('text')].filter((t) => t.textContent.trim())
      .map((t) => parseFloat(getComputedStyle(t).fontSize))));
  return {past, top, smallest};
}"""


def slug(path: str) -> str:
    return path.removeprefix("views/").removesuffix(".py")


def visit(page, url: str, path: str, presenter: bool) -> dict:
    address = "" if path == PAGES[0].path else slug(path)
    page.goto(f"{url}/{address}{'?presenter=on' if presenter else ''}")
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=90_000)
    settle(page)
    if slug(path) not in STARTS:
        page.wait_for_selector(PICTURE, timeout=90_000)
        settle(page)
    page.wait_for_timeout(500)  # plotly's text is laid out after the chart appears
    no_errors(page)
    picture = PICTURE if slug(path) not in STARTS else '[data-testid="stFormSubmitButton"]'
    return page.evaluate(SURVEY, picture)


def test_every_page_fits_a_projector_and_presenter_view_enlarges_its_charts(server, browser):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    SHOTS.joinpath("projector").mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        for width, height in SCREENS:
            page.set_viewport_size({"width": width, "height": height})
            for entry in PAGES:
                surveys = {}
                for presenter in (False, True):
                    where = f"{slug(entry.path)} at {width}×{height}{' presenter' if presenter else ''}"
                    survey = surveys[presenter] = visit(page, server, entry.path, presenter)
                    problems += [f"{where}: {p}" for p in survey["past"]]
                    if (width, height) == SCREENS[0] and (survey["top"] is None or survey["top"] >= FOLD):
                        problems.append(f"{where}: the picture starts at y = {survey['top']}")
                    if presenter and (width, height) == SCREENS[0]:
                        page.screenshot(path=str(SHOTS / "projector" / f"{slug(entry.path)}.png"))
                normal, big = surveys[False]["smallest"], surveys[True]["smallest"]
                if len(normal) != len(big):
                    problems.append(f"{slug(entry.path)}: {len(normal)} charts in normal view, {len(big)} presenter")
                for i, (small, large) in enumerate(zip(normal, big)):
                    if large < GROWTH * small:
                        problems.append(f"{slug(entry.path)} chart {i}: smallest text {small} px -> {large} px")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


# Inside a browser component's shadow root: a text's font size and a picture's height, CSS pixels.
COMPONENT_SIZES = """([text, picture]) => {
  const host = [...document.querySelectorAll('*')].find((e) => e.shadowRoot && e.shadowRoot.querySelector(picture));
  if (!host) return null;
  const root = host.shadowRoot;
  const height = root.querySelector(picture).getBoundingClientRect().height;
  return height > 0 ? {font: parseFloat(getComputedStyle(root.querySelector(text)).fontSize), height} : null;
}"""


@pytest.mark.parametrize(
    "path, text, picture",
    [("temperature", ".gl-heading", ".gl-curve"), ("latent_editor", ".gl-title", ".gl-digit.gl-decoded")],
)
def test_presenter_view_enlarges_the_browser_components_text_and_pictures(server, browser, path, text, picture):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sizes = {}
        for presenter in (False, True):
            page.goto(f"{server}/{path}{'?presenter=on' if presenter else ''}")
            page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=90_000)
            settle(page)
            handle = page.wait_for_function(COMPONENT_SIZES, arg=[text, picture], timeout=90_000)
            sizes[presenter] = handle.json_value()
            no_errors(page)
        normal, big = sizes[False], sizes[True]
        assert big["font"] >= GROWTH * normal["font"], sizes
        assert big["height"] >= GROWTH * normal["height"], sizes
    finally:
        context.close()


# The texts on each component canvas now, with their horizontal extents in canvas pixels: each
# drawing starts with a clearRect (canvas.js's fitCanvas), which drops that canvas's earlier texts.
RECORD_CANVAS_TEXT = """
window.canvasTexts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
const clearRect = CanvasRenderingContext2D.prototype.clearRect;
CanvasRenderingContext2D.prototype.clearRect = function (...args) {
  window.canvasTexts = window.canvasTexts.filter((t) => t.canvas !== this.canvas);
  return clearRect.apply(this, args);
};
CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
  const m = this.getTransform(), width = this.measureText(text).width;
  const start = {left: 0, start: 0, center: -width / 2, right: -width, end: -width}[this.textAlign];
  if (m.b === 0 && m.c === 0) {  // upright text; a rotated axis title stands alone
    const space = 0.25 * parseFloat(this.font) * m.a;  // a quarter of the font's size between texts
    window.canvasTexts.push({canvas: this.canvas, text: String(text), y: Math.round(m.f + m.d * y),
      from: m.e + m.a * (x + start), to: m.e + m.a * (x + start + width) + space});
  }
  return fillText.call(this, text, x, y, ...rest);
};
"""

# Texts on one line of one canvas closer to their neighbours than a quarter of their font's size.
OVERLAPS = """() => {
  const lines = new Map();
  for (const t of window.canvasTexts) {
    const key = [t.canvas, t.y];
    const line = [...lines.keys()].find(([canvas, y]) => canvas === t.canvas && y === t.y) || key;
    lines.set(line, [...(lines.get(line) || []), t]);
  }
  const clashes = [];
  for (const row of lines.values()) {
    row.sort((a, b) => a.from - b.from);
    for (let i = 1; i < row.length; i++) {
      if (row[i].from < row[i - 1].to) clashes.push(`"${row[i - 1].text}" and "${row[i].text}"`);
    }
  }
  return {texts: window.canvasTexts.length, clashes};
}"""


@pytest.mark.parametrize("width, height", SCREENS)
@pytest.mark.parametrize("path", ["temperature", "latent_editor"])
def test_the_browser_components_canvas_labels_stand_apart_in_presenter_view(server, browser, path, width, height):  # noqa: F811
    """The latent editor's 30 variable numbers ran together ("1011121314") in presenter view: each
    number now needs its width and a gap of the axis, else every 2nd, 5th or 10th is drawn."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(RECORD_CANVAS_TEXT)
    page = context.new_page()
    try:
        page.goto(f"{server}/{path}?presenter=on")
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=90_000)
        settle(page)
        page.wait_for_function("() => window.canvasTexts.length > 0", timeout=90_000)
        page.wait_for_timeout(500)
        survey = page.evaluate(OVERLAPS)
        no_errors(page)
        assert survey["texts"] > 0 and not survey["clashes"], survey
    finally:
        context.close()
