#!/usr/bin/env python3
"""Times the CODiff reference code on this CPU: the same-run anchor for the
sd21 path's speed (docs/performance.md). Measurement only; nothing here is
part of the project's build or tests.

It needs the reference code BESIDE it, which the project does not ship:
  - diffusers 0.25.1's `src/` and huggingface_hub 0.20.3's `src/` (the search
    tool's fetch of github:huggingface/diffusers and
    github:huggingface/huggingface_hub, `git archive v0.25.1 src/diffusers`,
    `git archive v0.20.3 src/huggingface_hub`), plus a stub `safetensors`
    package (diffusers imports it; nothing is loaded from disk);
  - the CODiff repository's `cave/` (github:jp-guo/CODiff) for CaVE;
  - Debian's python3-torch, python3-yaml, python3-numpy (+ the small packages
    diffusers imports: python3-filelock, python3-requests, python3-tqdm,
    python3-packaging, python3-regex, python3-importlib-metadata).
Run, e.g.:
  PYTHONPATH=/tmp/refstack/src:/tmp/refstack/stubs:/tmp/codiff_ref \\
    python3 benchmarks/reference_speed.py --model MODEL_DIR --size 1024 --runs 1 --tiled

What it runs, with random weights at the sizes in MODEL_DIR/model.yaml (an
sd21 folder: `codiff-model init --preset sd21` or an imported one), fp32,
torch.inference_mode(), 2 threads: the reference CaVE's visual embedding of
the whole image, VAE encode (posterior mean), the UNet at t = 499 on that
context (untiled, or with --tiled the reference's latent tiling, the loop of
tests/testdata/fixtures/pipeline_tiled/make_fixture.py), VAE decode. Prints
seconds per stage and the peak RSS.
"""
import argparse
import os
import resource
import sys
import time

import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TILED_LOOP = os.path.join(HERE, "..", "tests", "testdata", "fixtures", "pipeline_tiled")


def build_models(model_dir):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    arch = yaml.safe_load(open(os.path.join(model_dir, "model.yaml")))["architecture"]
    unet_cfg = {k: v for k, v in arch["unet"].items() if not k.startswith("_")}
    # Keys newer than diffusers 0.25's AutoencoderKL constructor are dropped.
    vae_keys = {"in_channels", "out_channels", "down_block_types", "up_block_types",
                "block_out_channels", "layers_per_block", "act_fn", "latent_channels",
                "norm_num_groups", "sample_size", "scaling_factor"}
    vae_cfg = {k: v for k, v in arch["vae"].items() if k in vae_keys}
    # model.yaml leaves the (only supported) block types implicit.
    levels = len(vae_cfg["block_out_channels"])
    vae_cfg["down_block_types"] = ["DownEncoderBlock2D"] * levels
    vae_cfg["up_block_types"] = ["UpDecoderBlock2D"] * levels
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**unet_cfg).eval()
    vae = AutoencoderKL(**vae_cfg).eval()
    from cave.cave import CaVE
    c = arch["cave"]
    cave = CaVE(in_nc=3, out_nc=3, nc=c.get("nc", [64, 128, 256, 512]), nb=c.get("nb", 4),
                act_mode="BR").eval()
    proj = torch.nn.Linear(c.get("nc", [64, 128, 256, 512])[-1], unet_cfg["cross_attention_dim"])
    return cave, proj, unet, vae


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="model folder (reads model.yaml only)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiled", action="store_true", help="the reference's latent tiling")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cave, proj, unet, vae = build_models(args.model)
    if args.tiled:
        sys.path.insert(0, TILED_LOOP)
        from make_fixture import tiled_unet
    x01 = torch.rand(1, 3, args.size, args.size)
    t = torch.tensor([499]).long()
    for run in range(args.runs):
        with torch.inference_mode():
            t0 = time.time()
            ctx = proj(cave.get_visual_embedding(x01))
            t1 = time.time()
            z = vae.encode(x01 * 2 - 1).latent_dist.mean * 0.18215
            t2 = time.time()
            if args.tiled:
                eps, _ = tiled_unet(unet, z, t, ctx)
            else:
                eps = unet(z, t, encoder_hidden_states=ctx).sample
            t3 = time.time()
            vae.decode(z / 0.18215).sample
            t4 = time.time()
        stages = dict(cave=t1 - t0, vae_enc=t2 - t1, unet=t3 - t2, vae_dec=t4 - t3, total=t4 - t0)
        print(args.size, run, {k: round(v, 2) for k, v in stages.items()}, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    main()
