"""What the sync and asyncio clients share: request building, results,
errors, the retry policy and the channel's credentials."""
import dataclasses
import os
import random
import time
from typing import List, Optional, Union

import grpc

from codiff.v1 import codiff_pb2 as pb

ImageInput = Union[bytes, bytearray, memoryview, str, os.PathLike]

RETRIABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
READINESS_SERVICE = "codiff.v1.Restoration"


class CodiffError(Exception):
    """A call that failed: `code` is the grpc.StatusCode, `message` the
    server's explanation (it says what to change or when to retry)."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE


@dataclasses.dataclass
class RestoreResult:
    image: bytes
    format: str  # "png", "jpeg", "webp"
    width: int
    height: int
    predicted_qf: Optional[float]  # None when returned unchanged
    tile_count: int
    mode_run: str  # "perceptual" or "fidelity"
    mode_note: str
    unchanged_reason: str
    color_profile: str
    notes: List[str]
    queue_seconds: float
    compute_seconds: float
    total_seconds: float
    id: str


@dataclasses.dataclass
class QfEstimate:
    predicted_qf: float
    has_header_qf: bool
    header_qf: int
    header_qf_exact: bool
    header_qf_distance: float
    subsampling: str
    progressive: bool
    width: int
    height: int
    format: str
    color_profile: str


def read_image(image: ImageInput) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    with open(image, "rb") as f:
        return f.read()


def _enum(enum_type, field: str, value) -> int:
    """`value` by short name ("fidelity"), full name or number."""
    if isinstance(value, int):
        return value
    prefix = enum_type.DESCRIPTOR.values[0].name[: -len("UNSPECIFIED")]
    name = str(value).upper()
    for candidate in (name, prefix + name):
        if candidate in enum_type.DESCRIPTOR.values_by_name:
            return enum_type.DESCRIPTOR.values_by_name[candidate].number
    short = [v.name[len(prefix):].lower() for v in enum_type.DESCRIPTOR.values[1:]]
    raise ValueError(f"{field}={value!r} is not one of {', '.join(short)}")


def restore_request(image: ImageInput, *, mode=None, output_format=None, output_quality=None,
                    color_fix=None, seed=None, tile_size=None, skip_jpeg_consistency=None,
                    restore_high_quality_jpeg=None, metadata=None, output_color=None,
                    id=None) -> pb.RestoreRequest:
    request = pb.RestoreRequest(image=read_image(image))
    o = request.options
    if mode is not None:
        o.mode = _enum(pb.RestoreMode, "mode", mode)
    if output_format is not None:
        o.output_format = _enum(pb.ImageFormat, "output_format", output_format)
    if output_quality is not None:
        o.output_quality = int(output_quality)
    if color_fix is not None:
        o.color_fix = _enum(pb.ColorFix, "color_fix", color_fix)
    if seed is not None:
        o.seed = int(seed)
    if tile_size is not None:
        o.tile_size = int(tile_size)
    if skip_jpeg_consistency is not None:
        o.skip_jpeg_consistency = bool(skip_jpeg_consistency)
    if restore_high_quality_jpeg is not None:
        o.restore_high_quality_jpeg = bool(restore_high_quality_jpeg)
    if metadata is not None:
        o.metadata = _enum(pb.MetadataPolicy, "metadata", metadata)
    if output_color is not None:
        o.output_color = _enum(pb.OutputColor, "output_color", output_color)
    if id is not None:
        request.id = str(id)
    return request


def _short(enum_type, number: int) -> str:
    name = enum_type.Name(number)
    prefix = enum_type.DESCRIPTOR.values[0].name[: -len("UNSPECIFIED")]
    return name[len(prefix):].lower()


def restore_result(r: pb.RestoreResponse) -> RestoreResult:
    return RestoreResult(
        image=r.image,
        format=_short(pb.ImageFormat, r.format) if r.format else "png",
        width=r.width,
        height=r.height,
        predicted_qf=None if r.unchanged_reason else r.predicted_qf,
        tile_count=r.tile_count,
        mode_run=_short(pb.RestoreMode, r.mode_run) if r.mode_run else "",
        mode_note=r.mode_note,
        unchanged_reason=r.unchanged_reason,
        color_profile=r.color_profile,
        notes=list(r.notes),
        queue_seconds=r.timings.queue_seconds,
        compute_seconds=r.timings.compute_seconds,
        total_seconds=r.timings.total_seconds,
        id=r.id,
    )


def qf_estimate(r: pb.EstimateQFResponse) -> QfEstimate:
    # QfEstimate's fields are the response's, one for one.
    return QfEstimate(**{f.name: getattr(r, f.name) for f in dataclasses.fields(QfEstimate)})


def default_timeout(image_bytes: int) -> float:
    """What `codiff restore` allows: 120 s plus 6 s per megapixel, taking an
    encoded JPEG's megapixel as about 150 KB (a bound, not an estimate)."""
    return 120.0 + 6.0 * image_bytes / 150e3


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^attempt)], so clients
    refused together do not come back together."""
    return rng.uniform(0.0, min(cap, base * (2.0**attempt)))


def health_request(service: str) -> bytes:
    # grpc.health.v1.HealthCheckRequest {string service = 1;}, by hand: one
    # length-delimited field (no stubs needed for the standard service).
    data = service.encode()
    if len(data) > 127:
        raise ValueError("service name too long")
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def health_status(response: bytes) -> str:
    # HealthCheckResponse {ServingStatus status = 1;}: one varint field.
    names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
    if len(response) >= 2 and response[0] == 0x08:
        return names.get(response[1], "UNKNOWN")
    return "UNKNOWN"


def _read(path_or_bytes):
    if path_or_bytes is None or isinstance(path_or_bytes, bytes):
        return path_or_bytes
    with open(path_or_bytes, "rb") as f:
        return f.read()


def open_channel(channels, target: str, tls: bool, root_certificates, private_key,
                 certificate_chain, max_message_bytes: int):
    """`channels` is grpc or grpc.aio: plaintext, or SSL credentials (mTLS
    with a key and chain) when tls or root certificates are given."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    if not tls and root_certificates is None:
        return channels.insecure_channel(target, options)
    creds = grpc.ssl_channel_credentials(root_certificates=_read(root_certificates),
                                         private_key=_read(private_key),
                                         certificate_chain=_read(certificate_chain))
    return channels.secure_channel(target, creds, options)


class CallPolicy:
    """Token, default timeout and retry policy, shared by both clients."""

    def __init__(self, token, timeout, retries, backoff, max_backoff, seed):
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.rng = random.Random(seed)

    def pause_before_retry(self, code, attempt: int, deadline: float):
        """Seconds to wait before trying again after `code`, or None to give
        up (not retriable, out of attempts, or past the deadline)."""
        if code not in RETRIABLE or attempt >= self.retries:
            return None
        pause = backoff_seconds(attempt, self.backoff, self.max_backoff, self.rng)
        return None if time.monotonic() + pause >= deadline else pause


class ClientBase:
    """The connection both clients hold: `channels` is grpc or grpc.aio."""

    def __init__(self, channels, target, *, token, tls, root_certificates, private_key,
                 certificate_chain, timeout, retries, backoff, max_backoff, max_message_bytes,
                 seed):
        from codiff.v1 import codiff_pb2_grpc as pb_grpc
        self._channel = open_channel(channels, target, tls, root_certificates, private_key,
                                     certificate_chain, max_message_bytes)
        self._stub = pb_grpc.RestorationStub(self._channel)
        self._health = self._channel.unary_unary(HEALTH_CHECK)
        self._policy = CallPolicy(token, timeout, retries, backoff, max_backoff, seed)
        self._metadata = self._policy.metadata
        self._timeout = timeout
