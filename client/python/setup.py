"""The codiff Python client. The gRPC stubs are generated from the
repository's proto/ at build time, with Debian's protoc and its
grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc), or else with
grpc_tools.protoc.

    python3 -m venv --system-site-packages venv
    venv/bin/pip install --no-build-isolation ./client/python
"""
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")
PROTO = "codiff/v1/codiff.proto"


def generate_stubs(out_dir):
    """Writes codiff/v1/codiff_pb2.py and codiff_pb2_grpc.py under out_dir."""
    if not os.path.exists(os.path.join(PROTO_ROOT, PROTO)):
        raise SystemExit(f"codiff: {PROTO} not found under {PROTO_ROOT}; build from the repository")
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        command = [protoc, f"--plugin=protoc-gen-grpc_python={plugin}"]
    else:
        command = [sys.executable, "-m", "grpc_tools.protoc"]
    command += [f"-I{PROTO_ROOT}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", PROTO]
    subprocess.run(command, check=True)


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate_stubs(self.build_lib)


setup(
    name="codiff",
    version="0.1.0",
    description="Client for the codiff JPEG restoration service (gRPC)",
    packages=["codiff", "codiff.v1"],
    python_requires=">=3.9",
    install_requires=["grpcio", "protobuf"],
    cmdclass={"build_py": BuildWithStubs},
)
