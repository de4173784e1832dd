"""The engine's HTTP API: the part of OpenAI's that ftui uses, in OpenAI's shapes. Routes stay thin."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ftui import __version__
from ftui.engine import paths
from ftui.engine.schemas import ChatCompletionRequest, CreateJobRequest, error_body, openai_list
from ftui.engine.service import MAX_UPLOAD_BYTES, EngineError, EngineService, new_id
from ftui.engine.store import CheckpointRecord, EventRecord, FileRecord, JobRecord, ModelRecord

if TYPE_CHECKING:  # the inference module is imported on the first chat request
    from ftui.engine.inference import ChatModel, Sampling

MAX_JSON_BYTES = 4 * 1024 * 1024
ORGANIZATION = "org-ftui-local"


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def file_object(record: FileRecord) -> dict[str, Any]:
    """OpenAI's file object. Engine files never expire, so ``expires_at`` (an integer when sent) is left out, as is
    ``status_details`` (a string when sent) while there is nothing to say."""
    body: dict[str, Any] = {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
    }
    if record.status_details is not None:
        body["status_details"] = record.status_details
    return body


def file_list(records: list[FileRecord]) -> dict[str, Any]:
    """The files list; OpenAI's schema requires ``first_id`` and ``last_id`` as strings, so an empty list has ''."""
    body = openai_list([file_object(r) for r in records])
    body.setdefault("first_id", "")
    body.setdefault("last_id", "")
    return body


def job_object(record: JobRecord) -> dict[str, Any]:
    hyperparameters = record.method.get("supervised", {}).get("hyperparameters", {})
    return {
        "object": "fine_tuning.job",
        "id": record.id,
        "model": record.model,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "fine_tuned_model": record.fine_tuned_model,
        "organization_id": ORGANIZATION,
        "result_files": record.result_files,
        "status": record.status,
        "validation_file": record.validation_file,
        "training_file": record.training_file,
        "hyperparameters": hyperparameters,
        "trained_tokens": record.trained_tokens,
        "error": record.error,
        "seed": record.seed,
        "estimated_finish": record.estimated_finish if record.status == "running" else None,
        "integrations": [],
        "metadata": record.metadata,
        "method": record.method,
        "user_provided_suffix": record.suffix,
    }


def event_object(record: EventRecord) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": record.id,
        "created_at": record.created_at,
        "level": record.level,
        "message": record.message,
        "type": record.type,
        "data": record.data or {},
    }


def checkpoint_object(record: CheckpointRecord) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": record.id,
        "created_at": record.created_at,
        "fine_tuned_model_checkpoint": record.model_name,
        "fine_tuning_job_id": record.job_id,
        "step_number": record.step_number,
        "metrics": record.metrics,
    }


def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def _error(
    status: int, message: str, *, type: str, code: str | None = None, param: str | None = None
) -> ORJSONResponse:
    return ORJSONResponse(error_body(message, type=type, code=code, param=param), status_code=status)


def create_app(service: EngineService, token: str) -> FastAPI:
    app = FastAPI(title="ftui local engine", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    expected = f"Bearer {token}".encode()

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path == "/health":
            return await call_next(request)
        presented = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            return _error(
                401,
                "Missing or wrong API key. Use the engine's token: 'ftui engine env' prints it.",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        length = request.headers.get("content-length")
        limit = MAX_UPLOAD_BYTES + (1 << 20) if request.url.path == "/v1/files" else MAX_JSON_BYTES
        if length is not None and length.isdigit() and int(length) > limit:
            return _error(
                413,
                f"The request is larger than the engine accepts ({limit // (1 << 20)} MB).",
                type="invalid_request_error",
                code="request_too_large",
            )
        return await call_next(request)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, exc: EngineError) -> ORJSONResponse:
        return _error(exc.status, exc.message, type=exc.type, code=exc.code, param=exc.param)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> ORJSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
        message = f"{first.get('msg', 'Invalid request')}" + (f" (at {where})" if where else "")
        return _error(400, message, type="invalid_request_error", code="invalid_request", param=where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
        message = (
            "Unknown URL. The engine serves /v1/files, /v1/fine_tuning/jobs, /v1/models and /v1/chat/completions."
            if exc.status_code == 404
            else str(exc.detail)
        )
        return _error(exc.status_code, message, type="invalid_request_error", code=code)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    _file_routes(app, service)
    _job_routes(app, service)
    _model_routes(app, service)
    _chat_routes(app, service)
    return app


def _file_routes(app: FastAPI, service: EngineService) -> None:
    @app.post("/v1/files")
    def create_file(file: Annotated[UploadFile, File()], purpose: Annotated[str, Form()]) -> ORJSONResponse:
        return ORJSONResponse(file_object(service.create_file(file.filename, purpose, file.file)))

    @app.get("/v1/files")
    def list_files(purpose: str | None = None) -> ORJSONResponse:
        return ORJSONResponse(file_list(service.store.list_files(purpose)))

    @app.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str) -> ORJSONResponse:
        return ORJSONResponse(file_object(service.get_file(file_id)))

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> FileResponse:
        record = service.get_file(file_id)
        return FileResponse(Path(record.path), media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> ORJSONResponse:
        service.delete_file(file_id)
        return ORJSONResponse({"id": file_id, "object": "file", "deleted": True})


def _job_routes(app: FastAPI, service: EngineService) -> None:
    @app.post("/v1/fine_tuning/jobs")
    def create_job(body: CreateJobRequest) -> ORJSONResponse:
        return ORJSONResponse(job_object(service.create_job(body)))

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = Query(20, ge=1, le=100)) -> ORJSONResponse:
        jobs, more = service.store.list_jobs(after=after, limit=limit)
        return ORJSONResponse(openai_list([job_object(j) for j in jobs], more))

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> ORJSONResponse:
        return ORJSONResponse(job_object(service.get_job(job_id)))

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> ORJSONResponse:
        return ORJSONResponse(job_object(service.cancel_job(job_id)))

    @app.post("/v1/fine_tuning/jobs/{job_id}/pause")
    def pause_job(job_id: str) -> ORJSONResponse:
        return ORJSONResponse(job_object(service.pause_job(job_id)))

    @app.post("/v1/fine_tuning/jobs/{job_id}/resume")
    def resume_job(job_id: str) -> ORJSONResponse:
        return ORJSONResponse(job_object(service.resume_job(job_id)))

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, after: str | None = None, limit: int = Query(20, ge=1, le=1000)) -> ORJSONResponse:
        service.get_job(job_id)
        events, more = service.store.list_events(job_id, after=after, limit=limit)
        return ORJSONResponse(openai_list([event_object(e) for e in events], more))

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, after: str | None = None, limit: int = Query(10, ge=1, le=100)) -> ORJSONResponse:
        service.get_job(job_id)
        checkpoints, more = service.store.list_checkpoints(job_id, after=after, limit=limit)
        return ORJSONResponse(openai_list([checkpoint_object(c) for c in checkpoints], more))


def _model_routes(app: FastAPI, service: EngineService) -> None:
    from ftui.engine import models

    def fine_tuned(record: ModelRecord) -> dict[str, Any]:
        return model_object(record.id, record.created_at, ORGANIZATION)

    @app.get("/v1/models")
    def list_models() -> ORJSONResponse:
        bases = [model_object(info.id, 0, "ftui") for info in models.available_base_models()]
        return ORJSONResponse(openai_list(bases + [fine_tuned(r) for r in service.store.list_models()]))

    @app.get("/v1/models/{model_id:path}")
    def retrieve_model(model_id: str) -> ORJSONResponse:
        base, record = service.resolve_model(model_id)
        return ORJSONResponse(fine_tuned(record) if record is not None else model_object(base, 0, "ftui"))

    @app.delete("/v1/models/{model_id:path}")
    def delete_model(model_id: str) -> ORJSONResponse:
        service.delete_model(model_id)
        return ORJSONResponse({"id": model_id, "object": "model", "deleted": True})


def _chat_routes(app: FastAPI, service: EngineService) -> None:
    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatCompletionRequest) -> Response:
        from ftui.engine import inference, models

        base, record = service.resolve_model(body.model)
        chat_model = inference.get_chat_model(
            models.resolve_base_model(base), Path(record.adapter_path) if record else None
        )
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        options: Sampling = {
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "max_tokens": body.token_limit,
            "stop": body.stop_list or None,
            "seed": body.seed,
        }
        completion_id = new_id("chatcmpl")
        created = int(time.time())
        if body.stream:
            return StreamingResponse(
                _stream_chunks(chat_model, messages, options, completion_id, created, body.model),
                media_type="text/event-stream",
            )
        result = chat_model.complete(messages, **options)
        return ORJSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": result.text, "refusal": None},
                        "finish_reason": result.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "total_tokens": result.prompt_tokens + result.completion_tokens,
                },
            }
        )


def _stream_chunks(
    chat_model: ChatModel,
    messages: list[dict[str, Any]],
    options: Sampling,
    completion_id: str,
    created: int,
    model: str,
) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    stream = chat_model.stream(messages, **options)
    for piece in stream:
        yield chunk({"content": piece})
    yield chunk({}, stream.finish_reason)
    yield b"data: [DONE]\n\n"


def make_app() -> FastAPI:
    """The app for the current FTUI_HOME (used by the server)."""
    from ftui.engine.store import Store

    service = EngineService(Store(paths.database_path()))
    return create_app(service, paths.ensure_token())
