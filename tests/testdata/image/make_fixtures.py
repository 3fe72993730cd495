#!/usr/bin/python3
"""Regenerates the image-pipeline test fixtures in this folder.

Needs (Debian 12): python3-pil python3-numpy libjpeg-turbo-progs imagemagick
libimage-exiftool-perl. Run from anywhere:
    /usr/bin/python3 tests/testdata/image/make_fixtures.py
Then run make_metric_expectations.py (needs python3-skimage).
The C++ tests only read the files this writes; none of these tools is needed
at test time.
"""
import os
import subprocess

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.join(HERE, "..", "..", "..", "..", "shared", "datasets", "train")
if not os.path.isdir(DATASETS):
    DATASETS = "/work/shared/datasets/train"


def out(name):
    return os.path.join(HERE, name)


def crop(rel, x, y, w, h):
    im = Image.open(os.path.join(DATASETS, rel)).convert("RGB")
    return im.crop((x, y, x + w, y + h))


def run(*args):
    subprocess.run(list(args), check=True)


def exif_orientation(src, n, dst):
    if os.path.exists(dst):
        os.remove(dst)  # exiftool -o refuses to overwrite.
    run("exiftool", "-q", f"-Orientation#={n}", "-n", "-o", dst, src)


def jpeg_roundtrip_png(src, quality, name):
    """Pixels of `src` after a JPEG round trip at `quality`, stored losslessly
    so the C++ test and skimage read identical pixels."""
    tmp = out("_tmp.jpg")
    src.save(tmp, quality=quality)
    Image.open(tmp).convert("RGB").save(out(name))
    os.remove(tmp)


def main():
    # Photo crops for metrics (CBSD68 108005.png, Urban100 img_004.png).
    photo_a = crop("cbsd68/108005.png", 200, 150, 96, 96)
    photo_a.save(out("photo_a.png"))
    jpeg_roundtrip_png(photo_a, 10, "photo_a_q10.png")
    # 100x92: neither side a multiple of 8, to pin PSNR-B's edge counting.
    photo_b = crop("urban100/img_004.png", 300, 200, 100, 92)
    photo_b.save(out("photo_b.png"))
    jpeg_roundtrip_png(photo_b, 30, "photo_b_q30.png")

    # Decoder fixtures from a 64x48 crop.
    small = crop("cbsd68/108005.png", 100, 60, 64, 48)
    small.save(out("small_rgb.png"))
    small.save(out("_small.ppm"))  # cjpeg reads PPM, not PNG.
    run("cjpeg", "-grayscale", "-quality", "90", "-outfile", out("grey.jpg"), out("_small.ppm"))
    run("cjpeg", "-progressive", "-quality", "90", "-outfile", out("progressive.jpg"),
        out("_small.ppm"))
    os.remove(out("_small.ppm"))
    run("convert", out("small_rgb.png"), "-colorspace", "CMYK", "-quality", "95", out("cmyk.jpg"))
    # 16-bit copy: every 8-bit value v becomes v * 257, so 16 -> 8 must give v back.
    run("convert", out("small_rgb.png"), "-depth", "16", "-define", "png:exclude-chunks=date,time",
        "PNG48:" + out("rgb16.png"))
    # RGBA: alpha is a horizontal ramp with a fully transparent and an opaque column.
    rgba = np.dstack([np.asarray(small), np.tile(np.linspace(0, 255, 64).round().astype(np.uint8),
                                                  (48, 1))])
    Image.fromarray(rgba, "RGBA").save(out("rgba.png"))

    # Orientation: 3x2 blocks of 16x16 in six distinct colours, 4:4:4 so the
    # colours survive JPEG; exiftool writes the Orientation tag 1..8.
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    blocks = np.zeros((32, 48, 3), np.uint8)
    for i, c in enumerate(colours):
        r, k = divmod(i, 3)
        blocks[r * 16:(r + 1) * 16, k * 16:(k + 1) * 16] = c
    Image.fromarray(blocks).save(out("_blocks.ppm"))
    run("cjpeg", "-sample", "1x1", "-quality", "95", "-outfile", out("_blocks.jpg"),
        out("_blocks.ppm"))
    for n in range(1, 9):
        exif_orientation(out("_blocks.jpg"), n, out(f"orient_{n}.jpg"))
    # TIFF carries orientation in its own IFD0; OpenCV's libtiff path applies it.
    Image.fromarray(blocks).save(out("_blocks.tiff"), compression="tiff_lzw")
    exif_orientation(out("_blocks.tiff"), 6, out("orient_6.tiff"))
    os.remove(out("_blocks.tiff"))
    os.remove(out("_blocks.ppm"))
    os.remove(out("_blocks.jpg"))


if __name__ == "__main__":
    main()
