"""codiff's Python client against the real server."""
import asyncio
import socket
import time

import grpc
import pytest

from codiff import Client, CodiffError
from codiff.aio import AsyncClient


def test_restore_returns_the_image_and_its_facts(server, jpeg_path):
    with Client(server.address) as client:
        result = client.restore(jpeg_path, mode="fidelity", id="py-1")
        assert result.image.startswith(b"\x89PNG\r\n\x1a\n")
        assert result.format == "png"
        assert result.mode_run == "fidelity"
        assert result.width > 0 and result.height > 0
        assert result.tile_count >= 1
        assert result.predicted_qf is not None
        assert result.id == "py-1"
        assert result.total_seconds >= result.compute_seconds >= 0
        # Bytes work as well as paths, and options by any enum spelling.
        with open(jpeg_path, "rb") as f:
            data = f.read()
        again = client.restore(data, mode="RESTORE_MODE_FIDELITY", output_format="jpeg")
        assert again.image.startswith(b"\xff\xd8")
        assert again.format == "jpeg"


def test_same_bytes_as_the_http_front_end(server, jpeg_path):
    with open(jpeg_path, "rb") as f:
        data = f.read()
    with Client(server.address) as client:
        grpc_png = client.restore(data, mode="fidelity").image
    with socket.create_connection(("127.0.0.1", server.http_port)) as s:
        s.sendall(b"POST /v1/restore?mode=fidelity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert body == grpc_png


def test_estimate_qf_model_info_and_health(server, jpeg_path):
    with Client(server.address) as client:
        qf = client.estimate_qf(jpeg_path)
        assert qf.format == "JPEG"
        assert qf.has_header_qf
        assert 1 <= qf.header_qf <= 100
        info = client.model_info()
        assert info["model"]["preset"] == "tiny"
        assert "server_version" in info
        assert client.health() == "SERVING"
        assert client.health("") == "SERVING"


def test_bad_input_raises_with_the_servers_reason(server):
    with Client(server.address, retries=0) as client:
        with pytest.raises(CodiffError) as e:
            client.restore(b"not an image")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert not e.value.retriable
        with pytest.raises(ValueError):
            client.restore(b"x", mode="sharp")


def test_token(token_server, jpeg_path):
    with Client(token_server.address, retries=0) as client:
        with pytest.raises(CodiffError) as e:
            client.estimate_qf(jpeg_path)
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with Client(token_server.address, token="py-token") as client:
        assert client.estimate_qf(jpeg_path).format == "JPEG"


def test_unavailable_is_retried_with_backoff_then_raised():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    client = Client(dead, retries=3, backoff=0.1, max_backoff=0.2, seed=1, timeout=20)
    t0 = time.monotonic()
    with pytest.raises(CodiffError) as e:
        client.model_info()
    took = time.monotonic() - t0
    client.close()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert e.value.retriable
    # Three pauses of up to 0.1, 0.2, 0.2 s: more than none, far below the deadline.
    assert 0.0 < took < 10.0


def test_asyncio_client(server, jpeg_path):
    async def run():
        async with AsyncClient(server.address) as client:
            results = await asyncio.gather(*[client.restore(jpeg_path, mode="fidelity")
                                             for _ in range(3)])
            qf = await client.estimate_qf(jpeg_path)
            info = await client.model_info()
            health = await client.health()
            return results, qf, info, health

    results, qf, info, health = asyncio.run(run())
    assert len({r.image for r in results}) == 1  # fidelity is deterministic
    assert results[0].image.startswith(b"\x89PNG")
    assert qf.has_header_qf
    assert info["model"]["preset"] == "tiny"
    assert health == "SERVING"
