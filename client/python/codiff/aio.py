"""The asyncio client: codiff.Client's methods as coroutines."""
import asyncio
import time
from typing import Optional

import grpc
from google.protobuf import json_format

from codiff import _common
from codiff._common import CodiffError, ImageInput, QfEstimate, RestoreResult
from codiff.v1 import codiff_pb2 as pb

__all__ = ["AsyncClient", "CodiffError", "QfEstimate", "RestoreResult"]


class AsyncClient(_common.ClientBase):
    """See codiff.Client; create it inside a running event loop."""

    def __init__(self, target: str = "localhost:50051", *, token: Optional[str] = None,
                 tls: bool = False, root_certificates=None, private_key=None,
                 certificate_chain=None, timeout: Optional[float] = None, retries: int = 3,
                 backoff: float = 0.25, max_backoff: float = 8.0,
                 max_message_bytes: int = _common.DEFAULT_MAX_MESSAGE_BYTES, seed=None):
        super().__init__(grpc.aio, target, token=token, tls=tls,
                         root_certificates=root_certificates, private_key=private_key,
                         certificate_chain=certificate_chain, timeout=timeout, retries=retries,
                         backoff=backoff, max_backoff=max_backoff,
                         max_message_bytes=max_message_bytes, seed=seed)

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
                pause = self._policy.pause_before_retry(e.code(), attempt, deadline)
                if pause is None:
                    raise CodiffError(e.code(), e.details() or "") from None
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
