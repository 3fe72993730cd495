#!/usr/bin/python3
"""Writes metric_expectations.json: PSNR / SSIM from scikit-image and PSNR-B
from an independent numpy implementation of Yim & Bovik (2011), for the
image pairs made by make_fixtures.py.

Needs python3-skimage (0.19.3 on Debian 12), python3-numpy, python3-pil:
    /usr/bin/python3 tests/testdata/image/make_metric_expectations.py
"""
import json
import os

import numpy as np
import skimage
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = [("photo_a.png", "photo_a_q10.png"), ("photo_b.png", "photo_b_q30.png")]


def load(name):
    return np.asarray(Image.open(os.path.join(HERE, name)).convert("RGB")).astype(np.float64)


def luma(rgb, rounded):
    """MATLAB rgb2ycbcr Y on 0..255 input: 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    # Half away from zero, like MATLAB's uint8 conversion (y > 0 here).
    return np.floor(y + 0.5) if rounded else y


def ssim(a, b, multichannel):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255,
                                 channel_axis=2 if multichannel else None)


def bef(y, count_partial_edge):
    """Blocking effect factor of one plane y (H x W), block size B = 8.

    D_B: mean squared difference across horizontally / vertically adjacent
    pixel pairs that straddle a block edge (between column or row 8k-1 and 8k,
    0-based); D_Bc: the same over all other adjacent pairs.
    BEF = eta * (D_B - D_Bc) if D_B > D_Bc else 0, eta = log2(B) / log2(min(H, W)).

    The paper counts N_HB = N_V (N_H / B - 1) edge pairs. With
    count_partial_edge=True, an edge before a trailing partial block (W not a
    multiple of 8) is also summed into D_B while the count stays
    N_V (N_H // B - 1): this is how the JPEG-restoration code (KAIR, FBCNN,
    SwinIR) computes it. For sides that are multiples of 8 both agree.
    """
    B = 8
    H, W = y.shape
    dh = (y[:, :-1] - y[:, 1:]) ** 2  # pair (x, x+1), x = 0..W-2
    dv = (y[:-1, :] - y[1:, :]) ** 2
    if count_partial_edge:
        edge_x = np.arange(W - 1) % B == B - 1
        edge_y = np.arange(H - 1) % B == B - 1
    else:
        edge_x = np.zeros(W - 1, bool)
        edge_x[[8 * k - 1 for k in range(1, W // B)]] = True
        edge_y = np.zeros(H - 1, bool)
        edge_y[[8 * k - 1 for k in range(1, H // B)]] = True
    n_hb = H * (W // B - 1)
    n_vb = W * (H // B - 1)
    n_hbc = H * (W - 1) - n_hb
    n_vbc = W * (H - 1) - n_vb
    d_b = (dh[:, edge_x].sum() + dv[edge_y, :].sum()) / (n_hb + n_vb)
    d_bc = (dh[:, ~edge_x].sum() + dv[~edge_y, :].sum()) / (n_hbc + n_vbc)
    eta = np.log2(B) / np.log2(min(H, W))
    return eta * (d_b - d_bc) if d_b > d_bc else 0.0


def psnrb_plane(ref, test, count_partial_edge):
    mse = np.mean((ref - test) ** 2)
    return 10 * np.log10(255.0 ** 2 / (mse + bef(test, count_partial_edge)))


def psnrb(ref, test, count_partial_edge=True):
    if ref.ndim == 2:
        return psnrb_plane(ref, test, count_partial_edge)
    return float(np.mean([psnrb_plane(ref[..., c], test[..., c], count_partial_edge)
                          for c in range(ref.shape[2])]))


def main():
    cases = []
    for ref_name, test_name in PAIRS:
        ref, test = load(ref_name), load(test_name)
        case = {"reference": ref_name, "test": test_name}
        for rounded, tag in ((True, "y"), (False, "y_unrounded")):
            yr, yt = luma(ref, rounded), luma(test, rounded)
            case[f"psnr_{tag}"] = peak_signal_noise_ratio(yr, yt, data_range=255)
            case[f"ssim_{tag}"] = ssim(yr, yt, False)
            case[f"psnrb_{tag}"] = psnrb(yr, yt)
        case["psnr_rgb"] = peak_signal_noise_ratio(ref, test, data_range=255)
        case["ssim_rgb"] = ssim(ref, test, True)
        case["psnrb_rgb"] = psnrb(ref, test)
        # Where the two edge countings differ, record the paper's too.
        case["psnrb_y_paper_count"] = psnrb(luma(ref, True), luma(test, True), False)
        cases.append(case)
    doc = {
        "generator": "make_metric_expectations.py",
        "skimage_version": skimage.__version__,
        "numpy_version": np.__version__,
        "cases": cases,
    }
    with open(os.path.join(HERE, "metric_expectations.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
