"""Python client for codiff-server.

    from codiff import Client
    with Client("localhost:50051") as client:
        result = client.restore("photo.jpg", mode="fidelity")
        open("photo.png", "wb").write(result.image)

`codiff.aio.AsyncClient` is the asyncio variant with the same methods.
"""
from codiff.client import Client, CodiffError, QfEstimate, RestoreResult

__all__ = ["Client", "CodiffError", "QfEstimate", "RestoreResult"]
