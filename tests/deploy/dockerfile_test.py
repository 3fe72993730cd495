#!/usr/bin/env python3
"""Checks the Dockerfile without building it (there is no hadolint in Debian,
and our machines cannot pull NVIDIA's images):

- it parses: instructions known, line continuations closed, every FROM stage
  resolvable from the ARG defaults, every COPY --from naming a stage;
- VARIANT=cpu: the final image's stage chain (runtime -> runtime-cpu -> its
  base image) sets no NVIDIA_* variable (ENV or ARG) and is not an
  nvidia/cuda image (those set NVIDIA_VISIBLE_DEVICES themselves);
- VARIANT=cuda: the builder's base image is an NVIDIA CUDA image that ships
  cuDNN development files (nvidia/cuda:*-cudnn*-devel-*), the CUDA builder
  installs no Debian/Ubuntu LibTorch, and the CUDA runtime installs none;
- README.md names that builder image and the pinned LibTorch version.

usage: dockerfile_test.py Dockerfile README.md
"""
import re
import sys

KNOWN = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "STOPSIGNAL",
         "HEALTHCHECK", "ENTRYPOINT", "CMD", "SHELL", "LABEL", "VOLUME", "ONBUILD"}


def instructions(text):
    """(keyword, argument) pairs; continuation lines and heredocs joined."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        full = line
        while full.endswith("\\"):
            if i >= len(lines):
                raise SystemExit("FAIL Dockerfile ends inside a line continuation")
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#"):
                continue
            full = full[:-1] + " " + nxt.strip()
        m = re.match(r"\s*([A-Za-z]+)\s*(.*)$", full)
        keyword, arg = m.group(1).upper(), m.group(2)
        heredoc = re.search(r"<<-?'?\"?([A-Z]+)'?\"?", arg)
        if heredoc and keyword in ("RUN", "COPY"):
            end = heredoc.group(1)
            body = []
            while i < len(lines) and lines[i].strip() != end:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise SystemExit(f"FAIL heredoc {end} never closed")
            i += 1
            arg += "\n" + "\n".join(body)
        out.append((keyword, arg))
    return out


def main(dockerfile, readme):
    text = open(dockerfile).read()
    failed = []

    def check(what, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else f" ({detail})"))
        if not ok:
            failed.append(what)

    ins = instructions(text)
    unknown = [k for k, _ in ins if k not in KNOWN]
    check("every instruction is a Dockerfile instruction", not unknown, unknown)

    global_args = {}
    stages = {}  # name -> {"base": str, "env": {}, "args": set(), "runs": [], "copies": []}
    order = []
    cur = None
    for keyword, arg in ins:
        if keyword == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", arg, re.I)
            check(f"FROM {arg} parses", bool(m))
            name = m.group(2) or f"stage{len(order)}"
            cur = {"base": m.group(1), "env": {}, "args": set(), "runs": [], "copies": []}
            stages[name] = cur
            order.append(name)
        elif keyword == "ARG":
            name, _, default = arg.partition("=")
            if cur is None:
                global_args[name.strip()] = default.strip()
            else:
                cur["args"].add(name.strip())
        elif cur is None:
            check(f"{keyword} before the first FROM", False)
        elif keyword == "ENV":
            for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S*)", arg):
                cur["env"][m.group(1)] = m.group(2)
        elif keyword == "RUN":
            cur["runs"].append(arg)
        elif keyword == "COPY":
            m = re.search(r"--from=(\S+)", arg)
            if m:
                cur["copies"].append(m.group(1))

    def resolve(ref, variant):
        values = dict(global_args, VARIANT=variant)
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), "<unset>"), ref)

    def chain(name, variant):
        """Stage names from `name` down to an external base image."""
        seen = []
        while name in stages:
            seen.append(name)
            name = resolve(stages[name]["base"], variant)
            if name in seen:
                raise SystemExit(f"FAIL stage loop at {name}")
        return seen, name

    for variant in ("cpu", "cuda"):
        for name in order:
            base = resolve(stages[name]["base"], variant)
            check(f"{variant}: stage {name} base {base} resolves", "<unset>" not in base)
            for src in stages[name]["copies"]:
                src = resolve(src, variant)
                check(f"{variant}: COPY --from={src} in {name} names a stage", src in stages)

    final = order[-1]
    # CPU image: no NVIDIA variables anywhere in the final image's chain.
    cpu_chain, cpu_base = chain(final, "cpu")
    check(f"cpu: final image chain {' -> '.join(cpu_chain)} -> {cpu_base}", "runtime-cpu" in cpu_chain)
    nvidia = [f"{s}: {v}" for s in cpu_chain for v in list(stages[s]["env"]) + sorted(stages[s]["args"])
              if v.startswith("NVIDIA_")]
    nvidia += [f"global ARG {a}" for a in global_args if a.startswith("NVIDIA_")]
    check("cpu: the runtime sets no NVIDIA_* variable", not nvidia, nvidia)
    check("cpu: the runtime base is not an NVIDIA CUDA image", not cpu_base.startswith("nvidia/"), cpu_base)

    # CUDA image: the builder's base provides cuDNN headers.
    cuda_chain, cuda_base = chain(final, "cuda")
    check(f"cuda: final image chain {' -> '.join(cuda_chain)} -> {cuda_base}", "runtime-cuda" in cuda_chain)
    builders = [resolve(c, "cuda") for s in cuda_chain for c in stages[s]["copies"]]
    builders = [b for b in builders if b in stages and b != "libtorch"]
    builder_chain, builder_base = chain(builders[0], "cuda") if builders else ([], "")
    check(f"cuda: builder chain {' -> '.join(builder_chain)} -> {builder_base}", "builder-cuda" in builder_chain)
    check("cuda: the builder's base image provides cuDNN (nvidia/cuda:*-cudnn*-devel-*)",
          re.fullmatch(r"nvidia/cuda:[0-9.]+-cudnn[0-9]*-devel-[a-z0-9.]+", builder_base) is not None,
          builder_base)
    distro_torch = re.compile(r"\blibtorch(-dev|[0-9.]+)\b|python3-torch|install-deps\.sh")
    for s in builder_chain + cuda_chain:
        bad = [r for r in stages[s]["runs"] if distro_torch.search(r)]
        check(f"cuda: stage {s} installs no distribution LibTorch", not bad, bad[:1])
    check("cuda: the builder takes LibTorch from the libtorch build context",
          "libtorch" in stages.get("builder-cuda", {}).get("copies", []))

    # README names the image and the LibTorch version.
    readme_text = open(readme).read()
    torch = global_args.get("LIBTORCH_VERSION", "")
    check("Dockerfile pins LIBTORCH_VERSION", re.fullmatch(r"[0-9.]+\+cu[0-9]+", torch) is not None, torch)
    check(f"README names the CUDA builder image {builder_base}", builder_base and builder_base in readme_text)
    check(f"README names LibTorch {torch}", torch and torch in readme_text)
    check("README says the CUDA image is untested", re.search(r"untested", readme_text, re.I) is not None)

    print(f"dockerfile_test: {'FAILED' if failed else 'PASSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: dockerfile_test.py Dockerfile README.md")
    sys.exit(main(sys.argv[1], sys.argv[2]))
