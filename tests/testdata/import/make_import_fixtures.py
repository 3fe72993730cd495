#!/usr/bin/python3
"""Generate the checkpoint-import fixtures in tests/testdata/import/.

Run with Debian's python3-torch (1.13), NOT a pyenv python:

    /usr/bin/python3 tests/testdata/import/make_import_fixtures.py
    /usr/bin/python3 tests/testdata/import/make_import_fixtures.py --full /tmp/codiff-full

Default mode writes small fixtures (built from the tiny parity fixtures in
../fixtures/) into this folder; see README.md for the file list.  --full OUTDIR
writes a released-layout set at the real SD 2.1-base / CaVE sizes with random
weights (about 4 GB) into OUTDIR; it is never committed.

Everything is seeded; no network, no pip packages beyond torch.  safetensors
is read and written by hand (the python package is not installed).

Nothing in here loads the malicious fixtures, except ONE deliberate check that
runs `pickle.loads` of evil_os_system_legacy.pkl in a throwaway subprocess to
prove the payload is live (it only touches /tmp/codiff-import-pwned, which is
deleted again).
"""

import argparse
import collections
import copy
import json
import os
import pickle
import pickletools
import shutil
import struct
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.normpath(os.path.join(HERE, "..", "fixtures"))

RANK = 4             # tiny fixtures: rank_unet = rank_vae = 4
RANK_FULL = 16       # --full mode
LORA_ALPHA = 8.0     # peft default; scale = alpha / r
PWNED = "/tmp/codiff-import-pwned"

# --------------------------------------------------------------------------
# safetensors (hand-rolled)
# --------------------------------------------------------------------------
ST_DTYPES = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}


def st_read(path):
    """Read a safetensors file into an OrderedDict (header order)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"),
                        object_pairs_hook=collections.OrderedDict)
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = collections.OrderedDict()
    for name, info in header.items():
        dt, _ = ST_DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        buf = bytearray(data[b:e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def st_write_stream(path, specs):
    """specs: list of (name, torch_dtype, shape, make_fn). make_fn() is called
    once per tensor while writing, so only one tensor is in memory at a time."""
    header = collections.OrderedDict()
    header["__metadata__"] = {"format": "pt"}
    off = 0
    for name, dt, shape, _ in specs:
        n = 1
        for s in shape:
            n *= int(s)
        nbytes = n * ST_DTYPES[TORCH_TO_ST[dt]][1]
        header[name] = {"dtype": TORCH_TO_ST[dt], "shape": [int(s) for s in shape],
                        "data_offsets": [off, off + nbytes]}
        off += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, dt, shape, make in specs:
            t = make()
            assert t.dtype == dt and list(t.shape) == [int(s) for s in shape], name
            b = _tensor_bytes(t)
            assert len(b) == header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            f.write(b)
            del t, b
    return off


def st_write(path, tensors):
    specs = [(k, v.dtype, list(v.shape), (lambda v=v: v)) for k, v in tensors.items()]
    return st_write_stream(path, specs)


def read_tsv(path):
    """name<TAB>shape[<TAB>dtype] -> list of (name, shape list, dtype str)."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            shape = [int(x) for x in parts[1].split(",")] if parts[1] else []
            dtype = parts[2] if len(parts) > 2 else "float32"
            rows.append((parts[0], shape, dtype))
    return rows


# --------------------------------------------------------------------------
# CODiff target lists (verbatim logic from diffusion/codiff.py)
# --------------------------------------------------------------------------
def unet_targets(param_names):
    enc, dec, oth = [], [], []
    l_grep = ["to_k", "to_q", "to_v", "to_out.0", "conv", "conv1", "conv2", "conv_in",
              "conv_shortcut", "conv_out", "proj_out", "proj_in", "ff.net.2",
              "ff.net.0.proj", "downsamplers.0.conv", "upsamplers.0.conv"]
    for n in param_names:
        if "bias" in n or "norm" in n:
            continue
        for pattern in l_grep:
            if pattern in n and ("down_blocks" in n or "conv_in" in n):
                enc.append(n.replace(".weight", ""))
                break
            elif pattern in n and ("up_blocks" in n or "conv_out" in n):
                dec.append(n.replace(".weight", ""))
                break
            elif pattern in n:
                oth.append(n.replace(".weight", ""))
                break
    return enc, dec, oth


def vae_targets(param_names):
    out = []
    l_grep = ["conv1", "conv2", "conv_in", "conv_shortcut", "conv", "conv_out",
              "to_k", "to_q", "to_v", "to_out.0"]
    for n in param_names:
        if "bias" in n or "norm" in n:
            continue
        for pattern in l_grep:
            if pattern in n and ("encoder" in n):
                out.append(n.replace(".weight", ""))
            elif ("quant_conv" in n) and ("post_quant_conv" not in n):
                out.append(n.replace(".weight", ""))
    return out  # duplicates kept on purpose (the released file has them)


def lora_shapes(base_shape, r):
    if len(base_shape) == 2:          # nn.Linear [out, in]
        return [r, base_shape[1]], [base_shape[0], r]
    if len(base_shape) == 4:          # nn.Conv2d [out, in, kh, kw]
        return [r, base_shape[1], base_shape[2], base_shape[3]], [base_shape[0], r, 1, 1]
    raise ValueError("LoRA on a %d-d weight" % len(base_shape))


def lora_delta(A, B, r, shape):
    scale = LORA_ALPHA / r
    return scale * (B.flatten(1) @ A.flatten(1)).reshape(shape)


def build_peft_state_dict(base_keys, shapes, adapter_of, r, gen, keep_conv_in, conv_in_values):
    """Emulate `{k: v for k, v in peft_model.state_dict().items() if "lora" in k
    [or "conv_in" in k]}`.

    base_keys: diffusers key order; shapes: name -> shape; adapter_of: module ->
    adapter name (each wrapped module exactly once); conv_in_values: dict with the
    (perturbed) conv_in base_layer tensors (UNet only).
    Returns OrderedDict in peft state-dict order: per wrapped module,
    base_layer.* first (only kept for conv_in), then lora_A, lora_B."""
    groups = collections.OrderedDict()
    for k in base_keys:
        mod, leaf = k.rsplit(".", 1)
        groups.setdefault(mod, []).append(leaf)
    sd = collections.OrderedDict()
    for mod, leaves in groups.items():
        if mod not in adapter_of:
            continue
        X = adapter_of[mod]
        if keep_conv_in and "conv_in" in mod:
            for leaf in leaves:
                sd["%s.base_layer.%s" % (mod, leaf)] = conv_in_values[leaf]
        a_shape, b_shape = lora_shapes(shapes[mod + ".weight"], r)
        A = torch.randn(a_shape, generator=gen) * (1.0 / r)
        B = torch.randn(b_shape, generator=gen) * 0.05
        sd["%s.lora_A.%s.weight" % (mod, X)] = A
        sd["%s.lora_B.%s.weight" % (mod, X)] = B
    return sd


def unique(seq):
    seen, out = set(), []
    for s in seq:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# --------------------------------------------------------------------------
# tiny fixtures
# --------------------------------------------------------------------------
def load_tiny():
    unet = st_read(os.path.join(FIX, "unet_tiny", "weights.safetensors"))
    vae = st_read(os.path.join(FIX, "vae_tiny", "weights.safetensors"))
    cave_st = st_read(os.path.join(FIX, "cave", "weights.safetensors"))
    # order = keys.tsv order (state-dict order)
    unet = collections.OrderedDict((n, unet[n]) for n, _, _ in read_tsv(os.path.join(FIX, "unet_tiny", "keys.tsv")))
    vae = collections.OrderedDict((n, vae[n]) for n, _, _ in read_tsv(os.path.join(FIX, "vae_tiny", "keys.tsv")))
    cave = collections.OrderedDict()
    bn_i = 0
    for n, shape, dt in read_tsv(os.path.join(FIX, "cave", "keys.tsv")):
        if n in cave_st:
            cave[n] = cave_st[n]
        else:
            assert n.endswith("num_batches_tracked") and dt == "int64" and shape == [], n
            # absent from weights.safetensors: 0-d int64, value 1000 + i
            # (i = index of this BatchNorm in state-dict order)
            cave[n] = torch.tensor(1000 + bn_i, dtype=torch.int64)
            bn_i += 1
    proj = st_read(os.path.join(FIX, "pipeline_tiny", "proj.safetensors"))
    proj = collections.OrderedDict([("weight", proj["weight"]), ("bias", proj["bias"])])
    return unet, vae, cave, proj


def make_codiff(unet, vae, proj, r):
    unet_names = list(unet.keys())
    vae_names = list(vae.keys())
    enc, dec, oth = unet_targets(unet_names)
    vae_list = vae_targets(vae_names)
    adapter_u = {}
    for lst, X in ((enc, "default_encoder"), (dec, "default_decoder"), (oth, "default_others")):
        for m in lst:
            assert m not in adapter_u, m
            adapter_u[m] = X
    adapter_v = {m: "default_encoder" for m in unique(vae_list)}
    assert "conv_in" in adapter_u and adapter_u["conv_in"] == "default_encoder"

    g_conv_in = torch.Generator().manual_seed(20250101)
    conv_in_vals = {
        "weight": unet["conv_in.weight"] + 0.05 * torch.randn(unet["conv_in.weight"].shape, generator=g_conv_in),
        "bias": unet["conv_in.bias"] + 0.05 * torch.randn(unet["conv_in.bias"].shape, generator=g_conv_in),
    }
    g_u = torch.Generator().manual_seed(20250102)
    g_v = torch.Generator().manual_seed(20250103)
    shapes_u = {k: list(v.shape) for k, v in unet.items()}
    shapes_v = {k: list(v.shape) for k, v in vae.items()}
    sd_unet = build_peft_state_dict(unet_names, shapes_u, adapter_u, r, g_u, True, conv_in_vals)
    sd_vae = build_peft_state_dict(vae_names, shapes_v, adapter_v, r, g_v, False, None)

    sd = {}
    sd["vae_lora_encoder_modules"] = vae_list
    sd["unet_lora_encoder_modules"], sd["unet_lora_decoder_modules"], sd["unet_lora_others_modules"] = enc, dec, oth
    sd["rank_unet"] = r
    sd["rank_vae"] = r
    sd["state_dict_unet"] = sd_unet
    sd["state_dict_vae"] = sd_vae
    sd["proj"] = proj
    return sd, adapter_u, adapter_v


def merged_expected(unet, vae, sd, adapter_u, adapter_v):
    """fp64 merge, rounded to fp32. Names: unet.<module>.weight, unet.conv_in.bias,
    vae.<module>.weight, projection.weight, projection.bias (base-key order)."""
    r_u, r_v = sd["rank_unet"], sd["rank_vae"]
    su, sv = sd["state_dict_unet"], sd["state_dict_vae"]
    out = collections.OrderedDict()
    for k in unet:
        mod, leaf = k.rsplit(".", 1)
        if mod not in adapter_u:
            continue
        if mod == "conv_in":
            if leaf == "bias":
                out["unet.conv_in.bias"] = su["conv_in.base_layer.bias"].clone()
                continue
            W = su["conv_in.base_layer.weight"]
        else:
            if leaf != "weight":
                continue
            W = unet[k]
        X = adapter_u[mod]
        A = su["%s.lora_A.%s.weight" % (mod, X)].double()
        B = su["%s.lora_B.%s.weight" % (mod, X)].double()
        out["unet.%s.weight" % mod] = (W.double() + lora_delta(A, B, r_u, W.shape)).float()
    for k in vae:
        mod, leaf = k.rsplit(".", 1)
        if mod not in adapter_v or leaf != "weight":
            continue
        X = adapter_v[mod]
        A = sv["%s.lora_A.%s.weight" % (mod, X)].double()
        B = sv["%s.lora_B.%s.weight" % (mod, X)].double()
        W = vae[k]
        out["vae.%s.weight" % mod] = (W.double() + lora_delta(A, B, r_v, W.shape)).float()
    out["projection.weight"] = sd["proj"]["weight"].clone()
    out["projection.bias"] = sd["proj"]["bias"].clone()
    return out


def make_views():
    g = torch.Generator().manual_seed(777)
    base_t = torch.randn(3, 5, generator=g)
    big = torch.randn(10, 4, generator=g)
    s = torch.randn(24, generator=g)
    grid = torch.randn(6, 4, generator=g)
    d = collections.OrderedDict()
    d["transposed"] = base_t.t()                     # [5,3], stride (1,5), offset 0
    d["offset_slice"] = big[3:7]                     # [4,4], contiguous, offset 12, storage 40
    d["column"] = grid[:, 1]                         # [6], stride (4,), offset 1, storage 24
    d["shared_a"] = s[:12].view(3, 4)                # storage s (24), offset 0
    d["shared_b"] = s[8:].view(4, 4)                 # same storage, offset 8, overlaps shared_a
    d["half"] = torch.randn(2, 3, generator=g).half()
    d["bfloat16"] = torch.randn(3, 2, generator=g).bfloat16()
    d["int64"] = torch.tensor([[-3, 0, 2 ** 40], [7, -2 ** 62, 5]], dtype=torch.int64)
    d["scalar"] = torch.tensor(3.25)                 # 0-d float32
    assert not d["transposed"].is_contiguous()
    assert d["offset_slice"].storage_offset() == 12
    assert d["shared_a"].storage().data_ptr() == d["shared_b"].storage().data_ptr()
    wrapped_inner = collections.OrderedDict()
    wrapped_inner["module.a"] = torch.randn(4, 3, generator=g)
    wrapped_inner["module.b"] = torch.arange(5, dtype=torch.float32) * 0.5 - 1.0
    return d, {"state_dict": wrapped_inner}


# ---- malicious / corrupt ---------------------------------------------------
def _binunicode(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def evil_os_system_pickle():
    cmd = "touch " + PWNED
    return (b"\x80\x02" + b"cposix\nsystem\n" + _binunicode(cmd) + b"\x85" + b"R" + b".")


def evil_eval_pickle():
    expr = "__import__('os').system('touch %s')" % PWNED
    return (b"\x80\x02" + b"cbuiltins\neval\n" + _binunicode(expr) + b"\x85" + b"R" + b".")


def write_torch_zip_raw(path, data_pkl):
    """A zip laid out by torch's own writer (PyTorchFileWriter, stored, 64-byte
    aligned): <stem>/data.pkl, <stem>/version ('3\\n')."""
    if os.path.exists(path):
        os.remove(path)
    w = torch._C.PyTorchFileWriter(path)
    w.write_record("data.pkl", data_pkl, len(data_pkl))
    w.write_end_of_file()
    del w


class RawRebuild:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
    with whatever (inconsistent) geometry we ask for."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                 collections.OrderedDict()))


def prove_payload_live(path):
    if os.path.exists(PWNED):
        os.remove(PWNED)
    code = "import pickle,sys; pickle.loads(open(sys.argv[1],'rb').read())"
    rc = subprocess.call([sys.executable, "-c", code, path])
    live = os.path.exists(PWNED)
    if live:
        os.remove(PWNED)
    print("  live check: pickle.loads(%s) in a subprocess -> rc=%d, created %s: %s (deleted again)"
          % (os.path.basename(path), rc, PWNED, live))
    if not live:
        raise SystemExit("payload did not fire; fixture is not live")


def probe_torch_load(path):
    """torch.load a corrupt-geometry file (no code-execution payload in it) in a
    subprocess and report what torch 1.13 does with it."""
    code = ("import torch,sys\n"
            "try:\n"
            "    d = torch.load(sys.argv[1])\n"
            "    t = d['weight']\n"
            "    print('LOADED shape=%s stride=%s offset=%d storage_elems=%d' % (tuple(t.shape), t.stride(), t.storage_offset(), t.storage().size()))\n"
            "except Exception as e:\n"
            "    print('RAISED %s: %s' % (type(e).__name__, str(e).splitlines()[0][:160]))\n")
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True)
    msg = (p.stdout.strip() or p.stderr.strip().splitlines()[-1:] or ["?"])
    msg = msg if isinstance(msg, str) else msg[0]
    print("  torch.load(%s): rc=%d %s" % (os.path.basename(path), p.returncode, msg))
    return p.returncode, msg


# --------------------------------------------------------------------------
def pickle_summary(data):
    globals_, ops = set(), set()
    for op, arg, _ in pickletools.genops(data):
        ops.add(op.name)
        if op.name in ("GLOBAL", "STACK_GLOBAL", "INST"):
            globals_.add(arg)
    return globals_, ops


def data_pkl_of(path):
    import zipfile
    with zipfile.ZipFile(path) as z:
        name = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        return z.read(name)


def legacy_pickles(path):
    """The legacy format is 5 consecutive pickles (magic, protocol, sys_info,
    data, storage key list) followed by raw storages."""
    with open(path, "rb") as f:
        raw = f.read()
    import io
    bio = io.BytesIO(raw)
    out = []
    for _ in range(5):
        start = bio.tell()
        for _op in pickletools.genops(bio):
            pass
        out.append(raw[start:bio.tell()])
    return out


def make_default(outdir):
    t0 = time.time()
    os.makedirs(outdir, exist_ok=True)
    P = lambda n: os.path.join(outdir, n)
    unet, vae, cave, proj = load_tiny()
    print("torch", torch.__version__, "python", sys.version.split()[0])

    # 1. CaVE
    # Only the legacy format (what the authors released); the zip reader is
    # exercised by codiff_zip.pkl and the VAE .bin.
    torch.save(cave, P("cave_legacy.pth"), _use_new_zipfile_serialization=False)

    # 2. codiff
    sd, adapter_u, adapter_v = make_codiff(unet, vae, proj, RANK)
    torch.save(sd, P("codiff_zip.pkl"))
    torch.save(sd, P("codiff_legacy.pkl"), _use_new_zipfile_serialization=False)
    print("  unet targets: enc %d dec %d oth %d; vae list %d (%d unique); state_dict_unet %d keys, state_dict_vae %d keys"
          % (len(sd["unet_lora_encoder_modules"]), len(sd["unet_lora_decoder_modules"]),
             len(sd["unet_lora_others_modules"]), len(sd["vae_lora_encoder_modules"]),
             len(unique(sd["vae_lora_encoder_modules"])), len(sd["state_dict_unet"]), len(sd["state_dict_vae"])))

    # 3. merged expected
    merged = merged_expected(unet, vae, sd, adapter_u, adapter_v)
    st_write(P("merged_expected.safetensors"), merged)

    # 4. diffusers .bin mirror of the VAE
    # (fp16, as the diffusers "fp16" .bin variant ships it, and half the size)
    torch.save(collections.OrderedDict((k, v.half()) for k, v in vae.items()),
               P("vae_diffusion_pytorch_model.fp16.bin"))

    # 5. views / dtypes
    views, wrapped = make_views()
    torch.save(views, P("views_zip.pt"))
    torch.save(views, P("views_legacy.pt"), _use_new_zipfile_serialization=False)
    st_write(P("views_expected.safetensors"),
             collections.OrderedDict((k, v.contiguous().clone()) for k, v in views.items()))
    torch.save(wrapped, P("wrapped_zip.pt"))
    st_write(P("wrapped_expected.safetensors"),
             collections.OrderedDict((k, v.contiguous().clone()) for k, v in wrapped["state_dict"].items()))

    # 6. malicious / corrupt
    with open(P("evil_os_system_legacy.pkl"), "wb") as f:
        f.write(evil_os_system_pickle())
    write_torch_zip_raw(P("evil_eval_zip.pt"), evil_eval_pickle())
    prove_payload_live(P("evil_os_system_legacy.pkl"))

    st16 = torch.arange(16, dtype=torch.float32).storage()
    bad_off = {"weight": RawRebuild(st16, 1_000_000, (4,), (1,))}
    bad_size = {"weight": RawRebuild(st16, 0, (8, 8), (8, 1))}
    torch.save(bad_off, P("bad_offset_zip.pt"))
    torch.save(bad_off, P("bad_offset_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(bad_size, P("bad_size_zip.pt"))
    probes = {n: probe_torch_load(P(n)) for n in ("bad_offset_zip.pt", "bad_offset_legacy.pt", "bad_size_zip.pt")}

    # 7. LoRA error cases (zip format), on a small subset of the adapters so
    # the files stay small: each fails at its own check before the rest
    # would matter.
    full_sd, sd = sd, shrink_codiff(sd)
    bad = copy.deepcopy(sd)
    m = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_x"
    ref = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    bad["state_dict_unet"][m + ".lora_A.default_encoder.weight"] = sd["state_dict_unet"][ref + ".lora_A.default_encoder.weight"] + 0.125
    bad["state_dict_unet"][m + ".lora_B.default_encoder.weight"] = sd["state_dict_unet"][ref + ".lora_B.default_encoder.weight"] + 0.125
    bad["unet_lora_encoder_modules"] = bad["unet_lora_encoder_modules"] + [m]
    torch.save(bad, P("lora_bad_base.pkl"))

    bad = copy.deepcopy(sd)
    m = "mid_block.attentions.0.transformer_blocks.0.attn1.to_q"
    assert adapter_u[m] == "default_others"
    new = collections.OrderedDict()
    for k, v in bad["state_dict_unet"].items():
        if k.startswith(m + ".lora_"):
            k = k.replace(".default_others.", ".default_middle.")
        new[k] = v
    bad["state_dict_unet"] = new
    torch.save(bad, P("lora_bad_adapter.pkl"))

    bad = copy.deepcopy(sd)
    del bad["rank_vae"]
    torch.save(bad, P("lora_no_rank.pkl"))

    bad = copy.deepcopy(sd)
    bad["rank_unet"] = 8
    torch.save(bad, P("lora_wrong_rank.pkl"))

    print("  wrote default fixtures in %.1f s" % (time.time() - t0))
    verify_default(outdir, unet, vae, cave, proj, views, wrapped, full_sd, merged, adapter_u, adapter_v)
    dump_opcodes(outdir)
    return probes


def shrink_codiff(sd):
    """conv_in plus the first two layers of each UNet adapter list, the first
    VAE layer, with the lists cut to match."""
    out = copy.deepcopy(sd)
    keep = set(["conv_in"])
    for key in ("unet_lora_encoder_modules", "unet_lora_decoder_modules", "unet_lora_others_modules"):
        names = [m for m in unique(sd[key]) if m != "conv_in"][:2] + (["conv_in"] if "conv_in" in sd[key] else [])
        keep.update(names)
        out[key] = names
    vae_keep = unique(sd["vae_lora_encoder_modules"])[:1]
    out["vae_lora_encoder_modules"] = vae_keep
    mid = "mid_block.attentions.0.transformer_blocks.0.attn1.to_q"
    if mid in sd["unet_lora_others_modules"] and mid not in keep:
        keep.add(mid)
        out["unet_lora_others_modules"].append(mid)
    def module_of(k):
        return k.split(".lora_")[0] if ".lora_" in k else k.split(".base_layer")[0]
    out["state_dict_unet"] = collections.OrderedDict(
        (k, v) for k, v in sd["state_dict_unet"].items() if module_of(k) in keep)
    out["state_dict_vae"] = collections.OrderedDict(
        (k, v) for k, v in sd["state_dict_vae"].items() if module_of(k) in vae_keep)
    return out


def verify_default(outdir, unet, vae, cave, proj, views, wrapped, sd, merged, adapter_u, adapter_v):
    P = lambda n: os.path.join(outdir, n)

    def same_sd(a, b, what):
        assert list(a.keys()) == list(b.keys()), what
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (what, k)
            assert torch.equal(a[k], b[k]), (what, k)

    for n in ("cave_legacy.pth",):
        d = torch.load(P(n))
        assert type(d) is collections.OrderedDict, n
        same_sd(d, cave, n)
    d = torch.load(P("vae_diffusion_pytorch_model.fp16.bin"))
    same_sd(d, collections.OrderedDict((k, v.half()) for k, v in vae.items()), "vae bin")
    for n in ("codiff_zip.pkl", "codiff_legacy.pkl"):
        d = torch.load(P(n))
        assert list(d.keys()) == list(sd.keys()), n
        for k in ("vae_lora_encoder_modules", "unet_lora_encoder_modules", "unet_lora_decoder_modules",
                  "unet_lora_others_modules", "rank_unet", "rank_vae"):
            assert d[k] == sd[k], (n, k)
        for k in ("state_dict_unet", "state_dict_vae", "proj"):
            assert type(d[k]) is collections.OrderedDict, (n, k)
            same_sd(d[k], sd[k], n + ":" + k)
        # every LoRA tensor non-zero; conv_in perturbed
        for k, v in list(d["state_dict_unet"].items()) + list(d["state_dict_vae"].items()):
            assert bool((v != 0).all()), k
        assert not torch.equal(d["state_dict_unet"]["conv_in.base_layer.weight"], unet["conv_in.weight"])
        assert not torch.equal(d["state_dict_unet"]["conv_in.base_layer.bias"], unet["conv_in.bias"])
        # recompute the merge independently (fp32, peft-style conv path) from the loaded file
        m = st_read(P("merged_expected.safetensors"))
        worst = 0.0
        min_delta = float("inf")
        su, sv = d["state_dict_unet"], d["state_dict_vae"]
        for name, W in m.items():
            if name.startswith("projection."):
                assert torch.equal(W, d["proj"][name.split(".", 1)[1]])
                continue
            if name == "unet.conv_in.bias":
                assert torch.equal(W, su["conv_in.base_layer.bias"])
                continue
            pre, mod = name.split(".", 1)
            mod = mod[:-len(".weight")]
            sdict, r, base = (su, d["rank_unet"], unet) if pre == "unet" else (sv, d["rank_vae"], vae)
            X = [k for k in sdict if k.startswith(mod + ".lora_A.")]
            assert len(X) == 1, name
            X = X[0].split(".lora_A.")[1][:-len(".weight")]
            A, B = sdict["%s.lora_A.%s.weight" % (mod, X)], sdict["%s.lora_B.%s.weight" % (mod, X)]
            W0 = su["conv_in.base_layer.weight"] if mod == "conv_in" and pre == "unet" else base[mod + ".weight"]
            scale = LORA_ALPHA / r
            if A.dim() == 4 and A.shape[2:] != (1, 1):
                delta = torch.nn.functional.conv2d(A.permute(1, 0, 2, 3), B).permute(1, 0, 2, 3) * scale
            elif A.dim() == 4:
                delta = (B.squeeze(3).squeeze(2) @ A.squeeze(3).squeeze(2)).unsqueeze(2).unsqueeze(3) * scale
            else:
                delta = (B @ A) * scale
            worst = max(worst, (W0 + delta - W).abs().max().item())
            min_delta = min(min_delta, (W - W0).abs().max().item())
        n_u = sum(1 for k in m if k.startswith("unet.") and k.endswith(".weight"))
        n_v = sum(1 for k in m if k.startswith("vae."))
        assert n_u == len(adapter_u) and n_v == len(adapter_v)
        print("  verify %s: merged_expected has %d tensors (unet %d weights + conv_in.bias, vae %d, proj 2); "
              "fp32 peft-style merge vs expected max|diff| = %.3g; smallest per-tensor max|W'-W| = %.3g"
              % (n, len(m), n_u, n_v, worst, min_delta))
        assert worst < 1e-5 and min_delta > 1e-3
    for n in ("views_zip.pt", "views_legacy.pt"):
        d = torch.load(P(n))
        e = st_read(P("views_expected.safetensors"))
        assert list(d.keys()) == list(e.keys())
        for k in d:
            assert d[k].dtype == e[k].dtype and d[k].shape == e[k].shape and torch.equal(d[k], e[k]), (n, k)
        assert d["shared_a"].storage().data_ptr() == d["shared_b"].storage().data_ptr(), n
        print("  verify %s: %s" % (n, ", ".join("%s %s%s st%s off%d" % (k, str(v.dtype).replace("torch.", ""), list(v.shape), v.stride(), v.storage_offset()) for k, v in d.items())))
    d = torch.load(P("wrapped_zip.pt"))
    e = st_read(P("wrapped_expected.safetensors"))
    assert list(d.keys()) == ["state_dict"] and list(d["state_dict"].keys()) == list(e.keys())
    for k in e:
        assert torch.equal(d["state_dict"][k], e[k])
    for n in ("lora_bad_base.pkl", "lora_bad_adapter.pkl", "lora_no_rank.pkl", "lora_wrong_rank.pkl"):
        torch.load(P(n))
    # our safetensors writer round-trips
    for n in ("merged_expected.safetensors",):
        e = st_read(P(n))
        assert list(e.keys()) == list(merged.keys()) and all(torch.equal(e[k], merged[k]) for k in e)
    print("  verify: all good files load with torch.load and match their sources/expected files")


def dump_opcodes(outdir):
    P = lambda n: os.path.join(outdir, n)
    print("  pickle opcodes/globals emitted by torch.save:")
    for label, data in (("codiff_zip.pkl data.pkl", data_pkl_of(P("codiff_zip.pkl"))),
                        ("views_zip.pt data.pkl", data_pkl_of(P("views_zip.pt"))),
                        ("bad_offset_zip.pt data.pkl", data_pkl_of(P("bad_offset_zip.pt")))):
        g, o = pickle_summary(data)
        print("   %-28s GLOBALS %s\n   %-28s OPS %s" % (label, sorted(g), "", sorted(o)))
    for n in ("cave_legacy.pth", "codiff_legacy.pkl", "views_legacy.pt"):
        parts = legacy_pickles(P(n))
        for i, part in enumerate(parts):
            g, o = pickle_summary(part)
            print("   %-28s GLOBALS %s\n   %-28s OPS %s" % ("%s pickle#%d" % (n, i), sorted(g), "", sorted(o)))


# --------------------------------------------------------------------------
# --full mode
# --------------------------------------------------------------------------
def full_init(name, shape, dtype, seed):
    if dtype == "int64":
        return torch.tensor(0, dtype=torch.int64) if shape == [] else torch.zeros(shape, dtype=torch.int64)
    if name.endswith("running_mean") or name.endswith(".bias"):
        return torch.zeros(shape)
    if name.endswith("running_var") or (name.endswith(".weight") and len(shape) == 1):
        return torch.ones(shape)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 0.02


def make_full(outdir):
    t_all = time.time()
    os.makedirs(os.path.join(outdir, "sd21", "unet"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "sd21", "vae"), exist_ok=True)
    keys_dir = os.path.join(FIX, "sd21_base_keys")
    rows = {}
    for part, seed0 in (("unet", 1_000_000), ("vae", 2_000_000)):
        t0 = time.time()
        rows[part] = read_tsv(os.path.join(keys_dir, "%s_keys.tsv" % part))
        shutil.copyfile(os.path.join(keys_dir, "%s_config.json" % part),
                        os.path.join(outdir, "sd21", part, "config.json"))
        specs = [(n, torch.float32, s, (lambda n=n, s=s, i=i: full_init(n, s, "float32", seed0 + i)))
                 for i, (n, s, _) in enumerate(rows[part])]
        path = os.path.join(outdir, "sd21", part, "diffusion_pytorch_model.safetensors")
        st_write_stream(path, specs)
        print("  %-60s %12d bytes  %.1f s" % (path, os.path.getsize(path), time.time() - t0))

    t0 = time.time()
    cave = collections.OrderedDict()
    for i, (n, s, dt) in enumerate(read_tsv(os.path.join(FIX, "cave", "keys_full_nc64-512.tsv"))):
        cave[n] = full_init(n, s, dt, 3_000_000 + i)
    path = os.path.join(outdir, "cave.pth")
    torch.save(cave, path, _use_new_zipfile_serialization=False)
    del cave
    print("  %-60s %12d bytes  %.1f s" % (path, os.path.getsize(path), time.time() - t0))

    t0 = time.time()
    unet_names = [n for n, _, _ in rows["unet"]]
    vae_names = [n for n, _, _ in rows["vae"]]
    shapes_u = {n: s for n, s, _ in rows["unet"]}
    shapes_v = {n: s for n, s, _ in rows["vae"]}
    enc, dec, oth = unet_targets(unet_names)
    vae_list = vae_targets(vae_names)
    adapter_u = {}
    for lst, X in ((enc, "default_encoder"), (dec, "default_decoder"), (oth, "default_others")):
        for m in lst:
            adapter_u[m] = X
    adapter_v = {m: "default_encoder" for m in unique(vae_list)}
    gi = torch.Generator().manual_seed(4_000_000)
    conv_in_vals = {}
    for leaf in ("weight", "bias"):
        i = unet_names.index("conv_in." + leaf)
        base = full_init("conv_in." + leaf, shapes_u["conv_in." + leaf], "float32", 1_000_000 + i)
        conv_in_vals[leaf] = base + 0.01 * torch.randn(base.shape, generator=gi)
    sd = {}
    sd["vae_lora_encoder_modules"] = vae_list
    sd["unet_lora_encoder_modules"], sd["unet_lora_decoder_modules"], sd["unet_lora_others_modules"] = enc, dec, oth
    sd["rank_unet"] = RANK_FULL
    sd["rank_vae"] = RANK_FULL
    sd["state_dict_unet"] = build_peft_state_dict(unet_names, shapes_u, adapter_u, RANK_FULL,
                                                  torch.Generator().manual_seed(4_000_001), True, conv_in_vals)
    sd["state_dict_vae"] = build_peft_state_dict(vae_names, shapes_v, adapter_v, RANK_FULL,
                                                 torch.Generator().manual_seed(4_000_002), False, None)
    gp = torch.Generator().manual_seed(4_000_003)
    sd["proj"] = collections.OrderedDict([("weight", torch.randn(1024, 512, generator=gp) * 0.02),
                                          ("bias", torch.randn(1024, generator=gp) * 0.02)])
    path = os.path.join(outdir, "codiff.pkl")
    torch.save(sd, path)
    n_lora = sum(v.numel() for v in sd["state_dict_unet"].values()) + sum(v.numel() for v in sd["state_dict_vae"].values())
    print("  %-60s %12d bytes  %.1f s  (unet enc/dec/oth %d/%d/%d, vae list %d (%d unique), %d LoRA-dict params)"
          % (path, os.path.getsize(path), time.time() - t0, len(enc), len(dec), len(oth), len(vae_list),
             len(adapter_v), n_lora))
    del sd
    print("  full set written in %.1f s" % (time.time() - t_all))


README_TEMPLATE = r"""# Checkpoint-import fixtures

Small, committed inputs for the checkpoint importer (PyTorch pickle / zip
readers, LoRA merge, safety checks). **The test suite needs no Python**: every
file here is committed; `make_import_fixtures.py` is only for regenerating
them. This README is written by the script (sizes included).

## How they were made

```
/usr/bin/python3 tests/testdata/import/make_import_fixtures.py        # from the repo root
```

Debian 12 `python3-torch` 1.13.1 (reports `@TORCH@`), Python 3.11, CPU. No
`safetensors`/`peft`/`diffusers` package: safetensors is read and written by
hand (standard layout, `__metadata__ = {"format":"pt"}` first, offsets tile
the data section), peft's state-dict naming is emulated. All random values are
seeded (torch.Generator). The zip-format files are byte-for-byte reproducible;
the legacy-format files are not (see "Legacy format" below).

Inputs: `../fixtures/unet_tiny`, `../fixtures/vae_tiny`, `../fixtures/cave`
(tiny SD 2.1-base-layout UNet/VAE and CaVE widths 8,16,32,64, F32) and
`../fixtures/pipeline_tiny/proj.safetensors` (Linear 64 -> 32). Those are
described in `../fixtures/FIXTURES.md`.

## Files

### Good checkpoints

- `cave_legacy.pth` (`_use_new_zipfile_serialization=False`, the format of
  the authors' released file): `collections.OrderedDict` CaVE
  state dict, 346 entries in `../fixtures/cave/keys.tsv` order. Float tensors
  equal `../fixtures/cave/weights.safetensors`. The 36 BatchNorm
  `num_batches_tracked` entries (absent from that safetensors file) are 0-d
  int64 tensors with value `1000 + i`, `i` = index of the BatchNorm in
  state-dict order (`m_down1.0.res.1...` = 1000, ..., `qf_pred.3.res.1...` = 1035).
- `codiff_zip.pkl`, `codiff_legacy.pkl`: the CODiff release dict (a plain
  `dict`), built like `diffusion/codiff.py`:
  - `vae_lora_encoder_modules` (list, 65 entries, WITH the duplicates the
    reference's loop produces: every encoder conv twice, `quant_conv` ten times;
    32 unique), `unet_lora_encoder_modules` (94), `unet_lora_decoder_modules`
    (148), `unet_lora_others_modules` (16): module names without `.weight`,
    computed with the reference's `l_grep` loops over the diffusers key order.
  - `rank_unet` = `rank_vae` = 4 (python ints).
  - `state_dict_unet` (OrderedDict, 518 keys): peft names, in peft
    state-dict order (diffusers module order; per module base_layer first, then
    `lora_A`, `lora_B`). `conv_in.base_layer.weight`, `conv_in.base_layer.bias`
    (= tiny UNet conv_in + 0.05*N(0,1), generator seed 20250101), then for every
    target module `M` (conv_in included): `M.lora_A.<X>.weight`,
    `M.lora_B.<X>.weight`, `X` = `default_encoder` (enc list),
    `default_decoder` (dec list) or `default_others` (others list).
  - `state_dict_vae` (OrderedDict, 64 keys): `M.lora_A.default_encoder.weight`,
    `M.lora_B.default_encoder.weight` for each unique VAE target (32), in
    diffusers order (`encoder.*` ..., then `quant_conv`).
  - `proj`: `OrderedDict(weight [32, 64], bias [32])`, the values of
    `../fixtures/pipeline_tiny/proj.safetensors`.
  - LoRA shapes (r = 4): Linear base `[out, in]` -> A `[r, in]`, B `[out, r]`;
    Conv2d base `[out, in, kh, kw]` -> A `[r, in, kh, kw]`, B `[out, r, 1, 1]`.
    A ~ N(0, (1/r)^2) (std 0.25), B ~ N(0, 0.05^2); every element non-zero.
    Generator seeds 20250102 (UNet, in key order, A then B) and 20250103 (VAE).
- `merged_expected.safetensors` (F32, 293 tensors): what the importer should
  produce after merging, with scale = lora_alpha / r = 8 / 4 = 2:
  `W' = W + 2 * (B.flatten(1) @ A.flatten(1)).reshape(W.shape)`.
  Names: `unet.<module>.weight` for the 258 UNet target modules
  (for `conv_in`, `W` is `conv_in.base_layer.weight` from the pkl, not the
  base file), `unet.conv_in.bias` (= `conv_in.base_layer.bias`),
  `vae.<module>.weight` for the 32 unique VAE targets (e.g.
  `vae.encoder.conv_in.weight`, `vae.quant_conv.weight`),
  `projection.weight`, `projection.bias`. Every tensor not listed (biases,
  norms, `time_embedding.*`, `time_emb_proj`, the VAE decoder and
  `post_quant_conv`, ...) must equal the base files unchanged. The merge was
  computed in float64 and rounded to float32; a float32 peft-style merge
  (conv2d path for kxk kernels) differs from it by at most ~6e-8, so compare
  with atol ~1e-6. Every merged weight differs from its base by > 0.1 somewhere.
- `vae_diffusion_pytorch_model.fp16.bin`: `torch.save` (zip) of the tiny VAE
  state dict in float16 (OrderedDict, diffusers names), i.e. a diffusers
  `diffusion_pytorch_model.fp16.bin` mirror. Equals
  `../fixtures/vae_tiny/weights.safetensors` rounded to float16.
- `views_zip.pt`, `views_legacy.pt` + `views_expected.safetensors`: an
  OrderedDict exercising storage views and dtypes. Expected file: contiguous
  copies, same names, same dtypes.

  | name | dtype | shape | stride | storage offset | storage elements |
  |---|---|---|---|---|---|
  | `transposed` | F32 | [5, 3] | (1, 5) | 0 | 15 |
  | `offset_slice` | F32 | [4, 4] | (4, 1) | 12 | 40 |
  | `column` | F32 | [6] | (4,) | 1 | 24 |
  | `shared_a` | F32 | [3, 4] | (4, 1) | 0 | 24 (shared with `shared_b`) |
  | `shared_b` | F32 | [4, 4] | (4, 1) | 8 | 24 (same storage; overlaps `shared_a`) |
  | `half` | F16 | [2, 3] | (3, 1) | 0 | 6 |
  | `bfloat16` | BF16 | [3, 2] | (2, 1) | 0 | 6 |
  | `int64` | I64 | [2, 3] | (3, 1) | 0 | 6 (holds 2^40 and -2^62) |
  | `scalar` | F32 | [] | () | 0 | 1 (value 3.25) |

- `wrapped_zip.pt` + `wrapped_expected.safetensors`:
  `{"state_dict": OrderedDict("module.a": F32 [4, 3], "module.b": F32 [5])}`;
  the expected file uses the inner names unchanged (`module.a`, `module.b`).

### Malicious inputs (must be refused; never load them with a real unpickler)

- `evil_os_system_legacy.pkl`: a bare protocol-2 pickle
  `PROTO 2; GLOBAL 'posix system'; BINUNICODE 'touch /tmp/codiff-import-pwned'; TUPLE1; REDUCE; STOP`.
  The script proves it live once: `pickle.loads` in a throwaway subprocess
  created `/tmp/codiff-import-pwned` (then deleted).
- `evil_eval_zip.pt`: written with torch's own `PyTorchFileWriter` (stored,
  64-byte aligned, exactly torch.save's layout): `evil_eval_zip/data.pkl`,
  `evil_eval_zip/version` (`3\n`). data.pkl is
  `PROTO 2; GLOBAL 'builtins eval'; BINUNICODE "__import__('os').system('touch /tmp/codiff-import-pwned')"; TUPLE1; REDUCE; STOP`.

### Corrupt tensor geometry (must be refused)

Each is `torch.save({"weight": <tensor>})` of a 16-element float32 storage
(`arange(16)`) whose `_rebuild_tensor_v2` arguments are inconsistent:

- `bad_offset_zip.pt`, `bad_offset_legacy.pt`: offset 1,000,000, size (4,), stride (1,).
- `bad_size_zip.pt`: offset 0, size (8, 8), stride (8, 1) (needs 64 elements).

What torch 1.13's own `torch.load` does with them:

@PROBES@

(torch's legacy message is mis-formatted: the two numbers, 64 = bytes in the
file and 4000016 = bytes expected, are glued after the literal `%ld`s. That
case is caught only by accident: `set_` first grows the still resizable
storage to 4,000,016 bytes, then reading the raw storage data fails its size
check. A safe reader must check offset + extent against the storage itself.)

### LoRA error cases (zip format; each must be refused)

Each is `codiff_zip.pkl`'s dict with exactly one defect:

- `lora_bad_base.pkl`: an extra pair
  `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_x.lora_A.default_encoder.weight`
  `[4, 16]` / `...to_x.lora_B.default_encoder.weight` `[16, 4]` (appended at the
  end of `state_dict_unet`), and `...attn1.to_x` appended to
  `unet_lora_encoder_modules`. No such base module exists.
- `lora_bad_adapter.pkl`: the pair of
  `mid_block.attentions.0.transformer_blocks.0.attn1.to_q` (an "others"
  module) is renamed from `default_others` to `default_middle` (both the
  `lora_A` and `lora_B` key; same position, same values).
- To keep them small, the four `lora_*.pkl` files hold only a subset of the
  adapters (conv_in, the first two layers of each UNet list, the mid block's
  `attn1.to_q`, the first VAE layer) with the module lists cut to match; each
  is refused at its own check before the rest would matter.
- `lora_no_rank.pkl`: no `rank_vae` key.
- `lora_wrong_rank.pkl`: `rank_unet` = 8 while the UNet LoRA tensors have rank 4.

## Pickle contents seen from torch.save (torch 1.13)

- Zip format: records `<stem>/data.pkl`, `<stem>/data/<n>` (n = 0, 1, ...,
  decimal, in first-use order), `<stem>/version` (`3\n`), all stored
  (uncompressed); `<stem>` is the file name without extension.
- GLOBALs used by the good files: `collections OrderedDict`,
  `torch._utils _rebuild_tensor_v2`, `torch FloatStorage`,
  `torch LongStorage`, `torch HalfStorage`, `torch BFloat16Storage`.
- Opcodes in the good files (zip data.pkl and legacy pickles together):
  PROTO, STOP, GLOBAL, REDUCE, BINPERSID, MARK, TUPLE, TUPLE1, TUPLE2,
  EMPTY_TUPLE, EMPTY_DICT, EMPTY_LIST, SETITEM (wrapped_zip.pt's one-entry
  outer dict), SETITEMS, APPENDS, BINUNICODE, BININT1, BININT2, LONG1 (legacy
  magic number), NEWTRUE, NEWFALSE, NONE (legacy persistent id), BINPUT,
  LONG_BINPUT, BINGET, LONG_BINGET. `BININT` (4-byte int) appears only in
  `bad_offset_*` here, but the full-size files use it for every count or
  offset >= 65536, so a reader must accept it.
- Zip persistent id: `('storage', <StorageClass>, '<key>', 'cpu', numel)`.
- Legacy format: five consecutive pickles: magic number
  (LONG1 0x1950a86a20f9469cfc6c), protocol version 1001, sys_info dict
  (`protocol_version`, `little_endian`, `type_sizes`), the data pickle
  (persistent id `('storage', <StorageClass>, '<key>', 'cpu', numel, None)`),
  then the list of storage keys; then, for each key in that list's order, an
  int64 little-endian ELEMENT count followed by the raw bytes. The keys are
  decimal object addresses (so they change on every run) and the list is
  sorted as strings, not in first-use order.

## Full-size set (`--full OUTDIR`, not committed)

```
/usr/bin/python3 tests/testdata/import/make_import_fixtures.py --full /tmp/codiff-full
```

writes, with random weights (N(0, 0.02) for weights with ndim >= 2, ones for 1-D
norm/BatchNorm weights and `running_var`, zeros for biases and `running_mean`,
int64 0 for `num_batches_tracked`; one seeded generator per tensor, streamed to
disk tensor by tensor; peak RSS about 0.75 GB):

- `OUTDIR/sd21/unet/{config.json, diffusion_pytorch_model.safetensors}` (3,463,726,552 bytes)
- `OUTDIR/sd21/vae/{config.json, diffusion_pytorch_model.safetensors}` (334,643,188 bytes)
- `OUTDIR/cave.pth` (legacy format, widths 64..512, 299,676,351 bytes)
- `OUTDIR/codiff.pkl` (zip, rank 16, target lists from the real key names,
  proj [1024, 512], 73,177,447 bytes)

About 17-23 s wall time on a 2-core machine.

## Sizes (default set)

| file | bytes |
|---|---|
@SIZES@
"""


def write_readme(outdir, probes):
    rows = []
    for n in sorted(os.listdir(outdir)):
        p = os.path.join(outdir, n)
        if n == "README.md" or n.endswith(".py") or not os.path.isfile(p):
            continue
        rows.append("| `%s` | %d |" % (n, os.path.getsize(p)))
    probe_txt = "\n".join("- `%s`: %s" % (n, msg) for n, (rc, msg) in probes.items())
    txt = (README_TEMPLATE.replace("@TORCH@", torch.__version__)
           .replace("@SIZES@", "\n".join(rows))
           .replace("@PROBES@", probe_txt))
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write(txt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE, help="output folder for the default fixtures (default: this folder)")
    ap.add_argument("--full", metavar="OUTDIR", help="write the full-size released-layout set into OUTDIR instead")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    if a.full:
        if os.path.abspath(a.full).startswith(os.path.abspath(os.path.join(HERE, "..", "..", ".."))):
            raise SystemExit("--full output must be outside the repository")
        make_full(a.full)
        return
    probes = make_default(a.out)
    write_readme(a.out, probes)


if __name__ == "__main__":
    main()
