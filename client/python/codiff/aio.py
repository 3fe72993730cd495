"""The asyncio client: codiff.Client's methods as coroutines."""
import asyncio
import random
import time
from typing import Optional

import grpc
from google.protobuf import json_format

from codiff import _common
from codiff._common import CodiffError, ImageInput, QfEstimate, RestoreResult
from codiff.v1 import codiff_pb2 as pb
from codiff.v1 import codiff_pb2_grpc as pb_grpc

__all__ = ["AsyncClient", "CodiffError", "QfEstimate", "RestoreResult"]


class AsyncClient:
    """See codiff.Client; create it inside a running event loop."""

    def __init__(self, target: str = "localhost:50051", *, token: Optional[str] = None,
                 tls: bool = False, root_certificates=None, private_key=None,
                 certificate_chain=None, timeout: Optional[float] = None, retries: int = 3,
                 backoff: float = 0.25, max_backoff: float = 8.0,
                 max_message_bytes: int = _common.DEFAULT_MAX_MESSAGE_BYTES, seed=None):
        options = _common.channel_arguments(max_message_bytes)
        creds = _common.credentials(tls, root_certificates, private_key, certificate_chain)
        self._channel = (grpc.aio.secure_channel(target, creds, options) if creds else
                         grpc.aio.insecure_channel(target, options))
        self._stub = pb_grpc.RestorationStub(self._channel)
        self._health = self._channel.unary_unary(_common.HEALTH_CHECK)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._retries = max(0, int(retries))
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._rng = random.Random(seed)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        await self._channel.close()

    async def _call(self, method, request, timeout: float):
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            try:
                return await method(request, timeout=max(left, 0.001), metadata=self._metadata)
            except grpc.aio.AioRpcError as e:
                code = e.code()
                if code not in _common.RETRIABLE or attempt >= self._retries:
                    raise CodiffError(code, e.details() or "") from None
                pause = _common.backoff_seconds(attempt, self._backoff, self._max_backoff,
                                                self._rng)
                if time.monotonic() + pause >= deadline:
                    raise CodiffError(code, e.details() or "") from None
                await asyncio.sleep(pause)
                attempt += 1

    async def restore(self, image: ImageInput, *, timeout: Optional[float] = None,
                      **options) -> RestoreResult:
        request = _common.restore_request(image, **options)
        t = timeout or self._timeout or _common.default_timeout(len(request.image))
        return _common.restore_result(await self._call(self._stub.Restore, request, t))

    async def estimate_qf(self, image: ImageInput, *,
                          timeout: Optional[float] = None) -> QfEstimate:
        request = pb.EstimateQFRequest(image=_common.read_image(image))
        response = await self._call(self._stub.EstimateQF, request,
                                    timeout or self._timeout or 30.0)
        return _common.qf_estimate(response)

    async def model_info(self, *, timeout: Optional[float] = None) -> dict:
        response = await self._call(self._stub.GetModelInfo, pb.GetModelInfoRequest(),
                                    timeout or self._timeout or 30.0)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    async def health(self, service: str = _common.READINESS_SERVICE, *,
                     timeout: float = 5.0) -> str:
        try:
            response = await self._health(_common.health_request(service), timeout=timeout,
                                          metadata=self._metadata)
        except grpc.aio.AioRpcError as e:
            raise CodiffError(e.code(), e.details() or "") from None
        return _common.health_status(response)
