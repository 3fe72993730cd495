#!/usr/bin/python3
"""A second client for codiff.v1 written with Debian's python3-grpcio.

Generates stubs from proto/ with grpc_tools.protoc into a temporary folder,
then calls Restore on a JPEG and the standard health service. Exit 0 on
success; prints the failure otherwise.

usage: python_client.py --port N --proto_dir DIR --health_proto_dir DIR --image FILE
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

# Debian's grpc_tools (1.14) ships an old protoc whose generated code the
# C++-backed protobuf runtime refuses; the pure-Python runtime accepts it.
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")


def generate(out_dir, include_dir, proto):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + include_dir,
                    "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, proto],
                   check=True, cwd=include_dir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proto_dir", required=True)
    parser.add_argument("--health_proto_dir", required=True)
    parser.add_argument("--image", required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        generate(out, args.proto_dir, "codiff/v1/codiff.proto")
        # The Python module path follows the file path; a "grpc/" folder
        # would shadow the grpc library, so health.proto moves (its proto
        # package, and so the wire names, stay grpc.health.v1).
        src = os.path.join(out, "src")
        os.makedirs(os.path.join(src, "health_stubs"))
        with open(os.path.join(args.health_proto_dir, "grpc/health/v1/health.proto")) as f:
            health_proto = f.read()
        with open(os.path.join(src, "health_stubs", "health.proto"), "w") as f:
            f.write(health_proto)
        generate(out, src, "health_stubs/health.proto")
        for d in ("codiff", "codiff/v1", "health_stubs"):
            open(os.path.join(out, d, "__init__.py"), "a").close()
        sys.path.insert(0, out)
        import grpc
        from codiff.v1 import codiff_pb2, codiff_pb2_grpc
        from health_stubs import health_pb2, health_pb2_grpc

    limit = 64 << 20
    channel = grpc.insecure_channel(
        "127.0.0.1:%d" % args.port,
        options=[("grpc.max_receive_message_length", limit),
                 ("grpc.max_send_message_length", limit)])
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "codiff.v1.Restoration"):
        status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            print("health %r: %s" % (name, status))
            return 1

    with open(args.image, "rb") as f:
        jpeg = f.read()
    stub = codiff_pb2_grpc.RestorationStub(channel)
    response = stub.Restore(codiff_pb2.RestoreRequest(image=jpeg, id="py-1"), timeout=60)
    if response.id != "py-1" or not response.image.startswith(b"\x89PNG"):
        print("unexpected response: id %r, %d bytes" % (response.id, len(response.image)))
        return 1
    width, height = struct.unpack(">II", response.image[16:24])
    if (width, height) != (response.width, response.height):
        print("PNG is %dx%d, response says %dx%d" % (width, height, response.width,
                                                     response.height))
        return 1
    print("python client ok: %dx%d, predicted QF %.1f" % (width, height, response.predicted_qf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
