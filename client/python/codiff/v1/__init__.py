"""The generated codiff.v1 protobuf and gRPC modules (made at build time)."""
