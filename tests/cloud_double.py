"""A stand-in for OpenAI and Azure OpenAI on loopback: a real HTTP server answering with Azure's published examples.

The bodies come from ``tests/data/azure-examples`` (Azure's own request/response examples, see SOURCE.md there), so
the client is tested against the shapes the service documents, over real HTTP, through the real ``openai`` SDK.
A wrong key gets the provider's 401 error body. Requests are recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

EXAMPLES = Path(__file__).parent / "data" / "azure-examples"
API_PREFIXES = ("/openai/v1", "/openai", "/v1")

Flavor = Literal["openai", "azure"]
Reply = tuple[int, Any]


def example(name: str) -> Reply:
    """(status, body) of the example's documented response."""
    responses = json.loads((EXAMPLES / f"{name}.json").read_text())["responses"]
    status, response = next(iter(responses.items()))
    return int(status), response["body"]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CloudDouble:
    """``CloudDouble(flavor, key)``: serves under /openai/v1 and /openai (Azure) and /v1 (OpenAI)."""

    flavor: Flavor
    key: str
    requests: list[Recorded] = field(default_factory=list)
    file_statuses: list[tuple[str, str | None]] = field(default_factory=lambda: [("processed", None)])
    fail_next: Reply | None = None
    delay_seconds: float = 0.0
    chat_pieces: tuple[str, ...] = ("Hello", " there", "!")
    parts: list[int] = field(default_factory=list)
    completed: dict[str, Any] | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CloudDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> CloudDouble:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def last(self, path_end: str, method: str | None = None) -> Recorded:
        for request in reversed(self.requests):
            if request.path.endswith(path_end) and (method is None or request.method == method):
                return request
        raise AssertionError(f"no request to {path_end}: {[r.path for r in self.requests]}")

    # -- answering ----------------------------------------------------------------------------------------------

    def answer(self, request: Recorded) -> Reply:
        self.requests.append(request)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if not self._authorized(request.headers):
            return self._unauthorized(request.headers)
        if self.fail_next is not None:
            reply, self.fail_next = self.fail_next, None
            return reply
        path = _strip_prefix(request.path)
        for method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                return handler(self, request, *match.groups())
        return 404, {"error": {"code": "404", "message": "Resource not found"}}

    def _authorized(self, headers: dict[str, str]) -> bool:
        presented = {headers.get("authorization", ""), f"Bearer {headers.get('api-key', '')}"}
        return f"Bearer {self.key}" in presented

    def _unauthorized(self, headers: dict[str, str]) -> Reply:
        if self.flavor == "azure":
            message = (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
                "key for an active subscription and use a correct regional API endpoint for your resource."
            )
            return 401, {"error": {"code": "401", "message": message}}
        sent = headers.get("authorization", "").removeprefix("Bearer ")
        masked = f"{sent[:3]}{'*' * 10}{sent[-4:]}"
        message = (
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return 401, {
            "error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
        }

    def _file(self, _: Recorded, file_id: str) -> Reply:
        status, body = example("get_file")
        state, details = self.file_statuses.pop(0) if len(self.file_statuses) > 1 else self.file_statuses[0]
        return status, body | {"id": file_id, "status": state, "status_details": details}

    def _upload_start(self, request: Recorded) -> Reply:
        data = request.json()
        return 200, _upload_object(data["bytes"], data["filename"], "pending")

    def _upload_part(self, request: Recorded, upload_id: str) -> Reply:
        self.parts.append(len(multipart_payload(request)))
        return 200, {"id": f"part_{len(self.parts)}", "object": "upload.part", "created_at": 0, "upload_id": upload_id}

    def _upload_complete(self, request: Recorded, upload_id: str) -> Reply:
        self.completed = request.json()
        _, file_body = example("get_file")
        return 200, _upload_object(sum(self.parts), "big.jsonl", "completed") | {"id": upload_id, "file": file_body}

    def _upload_cancel(self, _: Recorded, upload_id: str) -> Reply:
        return 200, _upload_object(sum(self.parts), "big.jsonl", "cancelled") | {"id": upload_id}

    def _chat(self, request: Recorded) -> Reply:
        model = request.json()["model"]
        chunks = [_chat_chunk(model, {"role": "assistant", "content": ""})]
        chunks += [_chat_chunk(model, {"content": piece}) for piece in self.chat_pieces]
        chunks.append(_chat_chunk(model, {}, "stop"))
        stream = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
        return 200, SSE(stream)


@dataclass
class SSE:
    text: str


def _strip_prefix(path: str) -> str:
    for prefix in API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path.removeprefix(prefix)
    return path


def _upload_object(size: int, filename: str, status: str) -> dict[str, Any]:
    return {
        "id": "upload_abc",
        "object": "upload",
        "bytes": size,
        "created_at": 1719184911,
        "filename": filename,
        "purpose": "fine-tune",
        "status": status,
        "expires_at": 1719188511,
    }


def _chat_chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def multipart_payload(request: Recorded) -> bytes:
    """The bytes of the single file field of a multipart/form-data body."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    for part in request.body.split(b"--" + boundary):
        head, _, payload = part.partition(b"\r\n\r\n")
        if b'name="file"' in head or b'name="data"' in head:
            return payload.removesuffix(b"\r\n")
    raise AssertionError("no file field in the multipart body")


def _fixed(name: str) -> Callable[..., Reply]:
    return lambda double, request, *ids: example(name)


ROUTES: list[tuple[str, str, Callable[..., Reply]]] = [
    ("GET", r"/models", _fixed("get_models")),
    ("GET", r"/files", _fixed("get_files")),
    ("POST", r"/files", _fixed("upload_file")),
    ("GET", r"/files/([^/]+)", CloudDouble._file),
    ("POST", r"/uploads", CloudDouble._upload_start),
    ("POST", r"/uploads/([^/]+)/parts", CloudDouble._upload_part),
    ("POST", r"/uploads/([^/]+)/complete", CloudDouble._upload_complete),
    ("POST", r"/uploads/([^/]+)/cancel", CloudDouble._upload_cancel),
    ("GET", r"/fine_tuning/jobs", _fixed("get_finetuning_jobs")),
    ("POST", r"/fine_tuning/jobs", _fixed("post_finetuning_job")),
    ("GET", r"/fine_tuning/jobs/([^/]+)", _fixed("get_finetuning_job")),
    ("GET", r"/fine_tuning/jobs/([^/]+)/events", _fixed("get_finetuning_job_events")),
    ("GET", r"/fine_tuning/jobs/([^/]+)/checkpoints", _fixed("get_finetuning_job_checkpoints")),
    ("POST", r"/fine_tuning/jobs/([^/]+)/cancel", _fixed("cancel_finetuning_job")),
    ("POST", r"/fine_tuning/jobs/([^/]+)/pause", _fixed("pause_finetuning_job")),
    ("POST", r"/fine_tuning/jobs/([^/]+)/resume", _fixed("resume_finetuning_job")),
    ("POST", r"/chat/completions", CloudDouble._chat),
]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a cancelled upload) is expected, not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    owner: CloudDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def do_DELETE(self) -> None:
        self._respond()

    def _respond(self) -> None:
        url = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=url.path,
            query={key: values[-1] for key, values in parse_qs(url.query).items()},
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self._body(),
        )
        status, body = self.owner.answer(request)
        is_stream = isinstance(body, SSE)
        payload = body.text.encode() if is_stream else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/event-stream" if is_stream else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked_body(self) -> bytes:
        body = b""
        while size := int(self.rfile.readline().strip() or b"0", 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body
