"""Draw the Classify page's example photos (assets/examples/*.png) from code: simple shapes, no photo and no
dataset image is used, so they are ours to license (CC0; see assets/examples/LICENSE.md).

    .venv/bin/python scripts/make_examples.py

Deterministic: running it again writes the same pictures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "assets" / "examples"


def sky(w, h, top=(120, 170, 230), bottom=(200, 225, 250)):
    t = np.linspace(0, 1, h)[:, None, None]
    a = (1 - t) * np.array(top) + t * np.array(bottom)
    return Image.fromarray(np.repeat(a, w, axis=1).astype(np.uint8), "RGB")


def noise(image, amount=10, seed=0):
    a = np.asarray(image).astype(np.int16)
    a += np.random.default_rng(seed).integers(-amount, amount + 1, a.shape, dtype=np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), image.mode)


def car():
    im = sky(256, 256, (150, 190, 235), (215, 230, 245))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 170, 256, 256], fill=(90, 90, 95))
    d.rounded_rectangle([30, 120, 226, 190], 18, fill=(200, 30, 35))
    d.polygon([(70, 122), (95, 85), (170, 85), (195, 122)], fill=(185, 25, 30))
    d.polygon([(82, 120), (101, 93), (130, 93), (130, 120)], fill=(170, 210, 240))
    d.polygon([(138, 120), (138, 93), (165, 93), (184, 120)], fill=(170, 210, 240))
    for x in (75, 181):
        d.ellipse([x - 24, 166, x + 24, 214], fill=(25, 25, 25))
        d.ellipse([x - 10, 180, x + 10, 200], fill=(170, 170, 170))
    return noise(im.filter(ImageFilter.GaussianBlur(1)), seed=1)


def truck():
    im = sky(320, 240)  # wider than tall: the model sees the centre square
    d = ImageDraw.Draw(im)
    d.rectangle([0, 175, 320, 240], fill=(100, 100, 100))
    d.rectangle([30, 80, 210, 185], fill=(235, 235, 230), outline=(60, 60, 60), width=3)
    d.rectangle([212, 110, 290, 185], fill=(30, 90, 170))
    d.polygon([(222, 115), (262, 115), (280, 145), (222, 145)], fill=(175, 215, 240))
    for x in (70, 150, 250):
        d.ellipse([x - 20, 168, x + 20, 208], fill=(20, 20, 20))
        d.ellipse([x - 8, 180, x + 8, 196], fill=(160, 160, 160))
    return noise(im.filter(ImageFilter.GaussianBlur(1)), seed=2)


def airplane():
    im = sky(256, 256, (70, 130, 210), (170, 205, 240))
    d = ImageDraw.Draw(im)
    d.ellipse([40, 115, 220, 145], fill=(235, 235, 240))
    d.polygon([(110, 128), (160, 128), (120, 60), (100, 60)], fill=(215, 215, 225))
    d.polygon([(110, 132), (160, 132), (120, 200), (100, 200)], fill=(200, 200, 210))
    d.polygon([(45, 128), (70, 128), (50, 95), (38, 95)], fill=(215, 215, 225))
    for x in range(150, 205, 12):
        d.ellipse([x, 124, x + 6, 130], fill=(60, 80, 110))
    return noise(im.filter(ImageFilter.GaussianBlur(0.8)), seed=3)


def ship():
    im = sky(256, 256, (160, 195, 230), (220, 235, 245))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 160, 256, 256], fill=(30, 80, 140))
    for y in range(170, 256, 14):
        d.line([(0, y), (256, y + 4)], fill=(60, 110, 170), width=2)
    d.polygon([(30, 150), (230, 150), (205, 190), (55, 190)], fill=(40, 40, 50))
    d.rectangle([80, 110, 180, 150], fill=(240, 240, 240))
    d.rectangle([110, 80, 150, 110], fill=(230, 230, 230))
    d.rectangle([122, 55, 138, 80], fill=(200, 40, 40))
    return noise(im.filter(ImageFilter.GaussianBlur(1)), seed=4)


def cat():
    im = Image.new("RGB", (256, 256), (205, 190, 160))
    d = ImageDraw.Draw(im)
    fur = (160, 110, 60)
    d.polygon([(60, 110), (75, 30), (120, 85)], fill=fur)
    d.polygon([(196, 110), (181, 30), (136, 85)], fill=fur)
    d.ellipse([50, 70, 206, 220], fill=fur)
    for x in (100, 156):
        d.ellipse([x - 16, 120, x + 16, 146], fill=(120, 170, 60))
        d.ellipse([x - 4, 122, x + 4, 144], fill=(20, 20, 20))
    d.polygon([(120, 165), (136, 165), (128, 175)], fill=(220, 120, 130))
    for s in (-1, 1):
        for dy in (-6, 2, 10):
            d.line([(128 + s * 20, 178), (128 + s * 85, 172 + dy * 2)], fill=(240, 240, 240), width=2)
    for x in range(70, 190, 22):
        d.line([(x, 80), (x + 8, 105)], fill=(110, 70, 35), width=5)
    return noise(im.filter(ImageFilter.GaussianBlur(1.2)), seed=5)


def bird():
    im = Image.new("RGBA", (256, 256), (0, 0, 0, 0))  # transparent background: filled with white
    d = ImageDraw.Draw(im)
    d.ellipse([60, 100, 190, 190], fill=(220, 60, 40, 255))
    d.ellipse([150, 70, 210, 130], fill=(225, 70, 45, 255))
    d.polygon([(205, 95), (240, 105), (205, 112)], fill=(240, 170, 30, 255))
    d.ellipse([180, 88, 192, 100], fill=(20, 20, 20, 255))
    d.polygon([(70, 130), (20, 110), (30, 160)], fill=(150, 40, 30, 255))
    d.polygon([(100, 120), (160, 125), (110, 170)], fill=(170, 45, 30, 255))
    d.line([(110, 188), (105, 225)], fill=(90, 60, 30, 255), width=4)
    d.line([(140, 188), (145, 225)], fill=(90, 60, 30, 255), width=4)
    return im


EXAMPLES = {"car": car, "truck": truck, "airplane": airplane, "ship": ship, "cat": cat, "bird": bird}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, draw in EXAMPLES.items():
        draw().save(OUT / f"{name}.png", optimize=True)
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
