"""The README's animation of the Latent editor's browser component: a drag morphing the digit
through a variable's classes, then Play Gumbel-Softmax at τ = 0.5.

    python -m scripts.browser_animation [--out docs/latent_editor_browser.gif]

Starts `streamlit run app.py`, drives headless Chromium over the shipped default model,
screenshots the component's grid and digit at each step and assembles them with Pillow into a
looping GIF, scaled down and with a shared palette so it stays small.
"""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

from PIL import Image

from benchmarks.live_server import REPO, chromium, serve, settle

MORPH_FRAMES = 36
PLAY_FRAMES = 24
WIDTH = 760  # pixels of the GIF
MORPH_MS, PLAY_MS, HOLD_MS = 90, 110, 900


async def frames(url: str) -> tuple[list[Image.Image], list[Image.Image]]:
    """The morph's screenshots, then Play's."""
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        await page.goto(f"{url}/latent_editor?code=493039737316698668436914419990&tau=0.5&noise=4")
        await page.get_by_text("Decoded in your browser").wait_for(timeout=180_000)
        await settle(page)
        row = page.locator(".gl-row")
        box = await page.locator("canvas.gl-grid").bounding_box()
        assert box is not None
        cell = max(8, min(30, (box["width"] - 38) // 30))

        def at(position: float) -> tuple[float, float]:  # variable 4's column (latent_editor.js's geometry)
            return box["x"] + 34 + 4.5 * cell, box["y"] + 6 + (position + 0.5) * cell

        async def shot() -> Image.Image:
            return Image.open(io.BytesIO(await row.screenshot())).convert("RGB")

        morph: list[Image.Image] = []
        await page.mouse.move(*at(0.0))
        await page.mouse.down()
        for i in range(MORPH_FRAMES):
            await page.mouse.move(*at(9 * i / (MORPH_FRAMES - 1)))
            morph.append(await shot())
        await page.mouse.up()
        await page.get_by_role("button", name="Play Gumbel-Softmax").click()
        play: list[Image.Image] = []
        while len(play) < PLAY_FRAMES:
            picture = await shot()
            if not play or picture.tobytes() != play[-1].tobytes():  # a new sample (ten a second)
                play.append(picture)
        return morph, play


def assemble(morph: list[Image.Image], play: list[Image.Image], out: Path) -> None:
    scale = WIDTH / morph[0].width
    size = (WIDTH, round(morph[0].height * scale))
    pictures = [image.resize(size, Image.Resampling.LANCZOS) for image in morph + play]
    sample = pictures[::3]  # a palette that holds the morph's greys and Play's blues
    montage = Image.new("RGB", (size[0], size[1] * len(sample)))
    for i, picture in enumerate(sample):
        montage.paste(picture, (0, i * size[1]))
    palette = montage.quantize(colors=192, method=Image.Quantize.MEDIANCUT)
    shown = [picture.quantize(palette=palette, dither=Image.Dither.NONE) for picture in pictures]
    durations = [MORPH_MS] * len(morph) + [PLAY_MS] * len(play)
    durations[len(morph) - 1] = durations[-1] = HOLD_MS
    shown[0].save(out, save_all=True, append_images=shown[1:], duration=durations, loop=0, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "latent_editor_browser.gif")
    args = parser.parse_args()
    with serve(REPO, prefix="animation-") as server:
        morph, play = asyncio.run(frames(server.url))
    assemble(morph, play, args.out)
    print(f"{args.out}: {len(morph) + len(play)} frames, {args.out.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
