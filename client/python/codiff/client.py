"""The synchronous client."""
import time
from typing import Optional

import grpc
from google.protobuf import json_format

from codiff import _common
from codiff._common import CodiffError, ImageInput, QfEstimate, RestoreResult
from codiff.v1 import codiff_pb2 as pb

__all__ = ["Client", "CodiffError", "QfEstimate", "RestoreResult"]


class Client(_common.ClientBase):
    """A connection to codiff-server's gRPC port.

    target: "host:port". token: a bearer token (the server's auth.token_file).
    tls / root_certificates (PEM bytes or a path) / private_key +
    certificate_chain (mTLS). timeout: seconds per call (default: 120 s plus
    6 s per encoded megapixel for restores, 30 s otherwise). retries: extra
    attempts on UNAVAILABLE and RESOURCE_EXHAUSTED, after a jittered
    exponential backoff starting at `backoff` seconds, capped at
    `max_backoff`, never past the call's deadline.
    """

    def __init__(self, target: str = "localhost:50051", *, token: Optional[str] = None,
                 tls: bool = False, root_certificates=None, private_key=None,
                 certificate_chain=None, timeout: Optional[float] = None, retries: int = 3,
                 backoff: float = 0.25, max_backoff: float = 8.0,
                 max_message_bytes: int = _common.DEFAULT_MAX_MESSAGE_BYTES, seed=None):
        super().__init__(grpc, target, token=token, tls=tls,
                         root_certificates=root_certificates, private_key=private_key,
                         certificate_chain=certificate_chain, timeout=timeout, retries=retries,
                         backoff=backoff, max_backoff=max_backoff,
                         max_message_bytes=max_message_bytes, seed=seed)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._channel.close()

    def _call(self, method, request, timeout: float):
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            try:
                return method(request, timeout=max(left, 0.001), metadata=self._metadata)
            except grpc.RpcError as e:
                pause = self._policy.pause_before_retry(e.code(), attempt, deadline)
                if pause is None:
                    raise CodiffError(e.code(), e.details() or "") from None
                time.sleep(pause)
                attempt += 1

    def restore(self, image: ImageInput, *, timeout: Optional[float] = None,
                **options) -> RestoreResult:
        """Restores one image (bytes or a path). Options are RestoreOptions'
        fields: mode="perceptual"|"fidelity", output_format="png"|"jpeg"|"webp",
        output_quality, color_fix, seed, tile_size, skip_jpeg_consistency,
        restore_high_quality_jpeg, metadata="strip"|"keep",
        output_color="keep_profile"|"srgb", and id."""
        request = _common.restore_request(image, **options)
        t = timeout or self._timeout or _common.default_timeout(len(request.image))
        return _common.restore_result(self._call(self._stub.Restore, request, t))

    def estimate_qf(self, image: ImageInput, *, timeout: Optional[float] = None) -> QfEstimate:
        request = pb.EstimateQFRequest(image=_common.read_image(image))
        response = self._call(self._stub.EstimateQF, request, timeout or self._timeout or 30.0)
        return _common.qf_estimate(response)

    def model_info(self, *, timeout: Optional[float] = None) -> dict:
        """GetModelInfoResponse as a dict with the proto's field names."""
        response = self._call(self._stub.GetModelInfo, pb.GetModelInfoRequest(),
                              timeout or self._timeout or 30.0)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def health(self, service: str = _common.READINESS_SERVICE, *,
               timeout: float = 5.0) -> str:
        """"SERVING", "NOT_SERVING", ... for `service` ("" = the process)."""
        try:
            response = self._health(_common.health_request(service), timeout=timeout,
                                    metadata=self._metadata)
        except grpc.RpcError as e:
            raise CodiffError(e.code(), e.details() or "") from None
        return _common.health_status(response)
