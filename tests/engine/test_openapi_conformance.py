"""Every response of the local engine matches OpenAI's published OpenAPI document.

A real engine process on loopback is driven through every route it serves (successes and errors, a job through
pause, resume and success, a streamed chat completion), and each JSON body is validated against the schema the
document names for that operation's 200 response (errors against ``ErrorResponse``). The document is the trimmed
copy in ``tests/data`` (see its SOURCE note); the schema of each route comes from its ``paths``, never from here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from server_harness import TINY, EngineProcess, wait_finished, wait_for

from ftui.dataset.fixes import sample_files

DOCUMENT_PATH = Path(__file__).parent.parent / "data" / "openai-openapi.yaml"
DOCUMENT_URI = "urn:openai-openapi"
API_PREFIX = "/v1"
NOT_OPENAI = {("GET", "/health")}  # the engine's own liveness probe
# The document's own pause example returns "paused", which its status enum lacks; "pausing" is the engine's (and
# Azure's) state between a pause request and the saved checkpoint. See tests/data/openai-openapi.SOURCE.md.
EXTRA_JOB_STATUSES = ("pausing", "paused")


# --- the document -------------------------------------------------------------------------------------------------


def _normalise(node: Any) -> Any:
    """OpenAPI 3.0 leftovers as JSON Schema 2020-12: ``nullable`` and boolean ``exclusiveMinimum``."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _normalise(value) for key, value in node.items()}
    if node.get("exclusiveMinimum") is True:
        node["exclusiveMinimum"] = node.pop("minimum", 0)
    elif node.get("exclusiveMinimum") is False:
        del node["exclusiveMinimum"]
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    normalised: dict[str, Any] = _normalise(document)
    status = normalised["components"]["schemas"]["FineTuningJob"]["properties"]["status"]
    status["enum"] = [*status["enum"], *EXTRA_JOB_STATUSES]
    return normalised


@dataclass
class OpenAPI:
    document: dict[str, Any]
    registry: Registry = field(init=False)

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    def operation(self, method: str, engine_path: str) -> tuple[str, dict[str, Any]]:
        """(document path, operation) for an engine route such as ``GET /v1/files/{file_id}``."""
        wanted = _segments(engine_path.removeprefix(API_PREFIX))
        for path, item in self.document["paths"].items():
            if _segments(path) == wanted and method.lower() in item:
                return path, item[method.lower()]
        raise LookupError(f"{method} {engine_path} is not in the OpenAPI document")

    def response_schema(self, method: str, engine_path: str, media_type: str = "application/json") -> dict[str, Any]:
        _, operation = self.operation(method, engine_path)
        return dict(operation["responses"]["200"]["content"][media_type]["schema"])

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(_anchor({"allOf": [schema]}), registry=self.registry)

    def errors(self, schema: dict[str, Any], body: Any) -> list[str]:
        found = sorted(self.validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in found]


def _anchor(node: Any) -> Any:
    """``#/components/...`` references point into the document resource."""
    if isinstance(node, dict):
        return {
            key: (DOCUMENT_URI + value if key == "$ref" and value.startswith("#/") else _anchor(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_anchor(item) for item in node]
    return node


def _segments(path: str) -> list[str]:
    """Path segments with every ``{parameter}`` (also ``{name:path}``) as one wildcard."""
    return [re.sub(r"^\{[^}]+\}$", "{}", part) for part in path.strip("/").split("/")]


ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI(load_document())


# --- driving the engine -------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    route: str  # the engine's route template, e.g. /v1/files/{file_id}
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def __str__(self) -> str:
        return f"{self.method} {self.route} -> {self.status}"


class Driver:
    """Calls the engine and records each exchange with the route template it went to."""

    def __init__(self, engine: EngineProcess) -> None:
        self.http = httpx.Client(
            base_url=engine.base_url.removesuffix(API_PREFIX),
            headers={"Authorization": f"Bearer {engine.token}"},
            timeout=120,
        )
        self.exchanges: list[Exchange] = []

    def call(self, method: str, route: str, *, expect: int = 200, **kwargs: Any) -> Exchange:
        params = kwargs.pop("path_params", {})
        url = re.sub(r"\{(\w+)(?::path)?\}", lambda m: str(params[m.group(1)]), route)
        response = self.http.request(method, url, **kwargs)
        exchange = Exchange(
            method, route, response.status_code, response.headers.get("content-type", ""), response.content
        )
        self.exchanges.append(exchange)
        assert response.status_code == expect, f"{exchange}: {response.text[:500]}"
        return exchange

    def json(self, method: str, route: str, **kwargs: Any) -> Any:
        return self.call(method, route, **kwargs).json()


def _upload(driver: Driver, name: str, lines: int, path: Path) -> str:
    head = b"".join(path.read_bytes().splitlines(keepends=True)[:lines])
    created = driver.json("POST", "/v1/files", files={"file": (name, head)}, data={"purpose": "fine-tune"})
    return str(created["id"])


def _job_body(training: str, validation: str | None, **hyperparameters: Any) -> dict[str, Any]:
    return {
        "model": TINY,
        "training_file": training,
        "validation_file": validation,
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"batch_size": 4, "learning_rate_multiplier": 2.0, **hyperparameters},
            },
        },
        "seed": 7,
        "suffix": "conformance",
        "metadata": {"case": "conformance"},
    }


def _drive(driver: Driver, engine: EngineProcess) -> None:
    """Every route, in the states a client sees: empty lists, a job through pause/resume/success, errors."""
    job_route = "/v1/fine_tuning/jobs/{job_id}"
    driver.call("GET", "/v1/files")  # empty
    driver.call("GET", "/v1/fine_tuning/jobs")  # empty
    driver.call("GET", "/v1/models")
    driver.call("GET", "/v1/models/{model_id:path}", path_params={"model_id": TINY})

    training_path, validation_path = sample_files()
    training = _upload(driver, "train.jsonl", 16, training_path)
    validation = _upload(driver, "valid.jsonl", 6, validation_path)
    bad = driver.json(
        "POST", "/v1/files", files={"file": ("bad.jsonl", b'{"messages": []}\n')}, data={"purpose": "fine-tune"}
    )
    assert bad["status"] == "error"
    driver.call("GET", "/v1/files")
    driver.call("GET", "/v1/files", params={"purpose": "fine-tune"})
    driver.call("GET", "/v1/files/{file_id}", path_params={"file_id": training})
    driver.call("GET", "/v1/files/{file_id}/content", path_params={"file_id": training})

    job = driver.json("POST", "/v1/fine_tuning/jobs", json=_job_body(training, validation, n_epochs=4))
    client = engine.client()
    wait_for(client, job["id"], lambda j: j.status == "running" and (j.trained_tokens or 0) > 0)
    ids = {"job_id": job["id"]}
    driver.call("GET", job_route, path_params=ids)  # running, with an estimated finish
    queued = driver.json("POST", "/v1/fine_tuning/jobs", json=_job_body(training, None, n_epochs="auto"))
    driver.call("POST", job_route + "/cancel", path_params={"job_id": queued["id"]})
    driver.call("POST", job_route + "/pause", path_params=ids)
    wait_for(client, job["id"], lambda j: j.status == "paused", timeout=120)
    driver.call("GET", job_route, path_params=ids)
    driver.call("POST", job_route + "/resume", path_params=ids)
    finished = wait_finished(client, job["id"])
    assert finished.status == "succeeded", finished.error
    driver.call("GET", job_route, path_params=ids)
    driver.call("GET", "/v1/fine_tuning/jobs", params={"limit": 1})
    driver.call("GET", "/v1/fine_tuning/jobs", params={"limit": 1, "after": job["id"]})
    driver.call("GET", job_route + "/events", path_params=ids, params={"limit": 1000})
    driver.call("GET", job_route + "/events", path_params={"job_id": queued["id"]}, params={"limit": 5})
    driver.call("GET", job_route + "/checkpoints", path_params=ids)
    driver.call("GET", job_route + "/checkpoints", path_params={"job_id": queued["id"]})  # none

    model = str(finished.fine_tuned_model)
    result_file = finished.result_files[0]
    driver.call("GET", "/v1/files/{file_id}", path_params={"file_id": result_file})
    driver.call("GET", "/v1/files/{file_id}/content", path_params={"file_id": result_file})
    driver.call("GET", "/v1/models")
    driver.call("GET", "/v1/models/{model_id:path}", path_params={"model_id": model})
    chat = {"model": model, "messages": [{"role": "user", "content": "Where is my parcel?"}], "max_tokens": 8}
    driver.call("POST", "/v1/chat/completions", json=chat | {"temperature": 0})
    driver.call("POST", "/v1/chat/completions", json=chat | {"model": TINY, "stop": ["\n"], "seed": 3})
    driver.call("POST", "/v1/chat/completions", json=chat | {"stream": True, "temperature": 0})
    driver.call("DELETE", "/v1/models/{model_id:path}", path_params={"model_id": model})
    driver.call("DELETE", "/v1/files/{file_id}", path_params={"file_id": bad["id"]})

    # Errors: every one in OpenAI's error shape.
    missing = {"file_id": "file-nope", "job_id": "ftjob-nope", "model_id": "ft:nope"}
    driver.call("GET", "/v1/files/{file_id}", path_params=missing, expect=404)
    driver.call("GET", "/v1/files/{file_id}/content", path_params=missing, expect=404)
    driver.call("DELETE", "/v1/files/{file_id}", path_params=missing, expect=404)
    driver.call("GET", job_route, path_params=missing, expect=404)
    driver.call("GET", job_route + "/events", path_params=missing, expect=404)
    driver.call("GET", job_route + "/checkpoints", path_params=missing, expect=404)
    driver.call("POST", job_route + "/cancel", path_params=missing, expect=404)
    driver.call("POST", job_route + "/cancel", path_params=ids, expect=400)  # already succeeded
    driver.call("POST", job_route + "/pause", path_params=ids, expect=400)
    driver.call("POST", job_route + "/resume", path_params=ids, expect=400)
    driver.call("GET", "/v1/models/{model_id:path}", path_params=missing, expect=404)
    driver.call("DELETE", "/v1/models/{model_id:path}", path_params={"model_id": TINY}, expect=404)
    driver.call("POST", "/v1/chat/completions", json=chat, expect=404)  # the model was deleted
    driver.call("POST", "/v1/chat/completions", json={"model": TINY, "messages": []}, expect=400)
    driver.call("POST", "/v1/fine_tuning/jobs", json=_job_body(bad["id"], None), expect=400)
    driver.call("POST", "/v1/fine_tuning/jobs", json=_job_body(training, None, batch_size=0), expect=400)
    driver.call("POST", "/v1/fine_tuning/jobs", json={"model": TINY}, expect=400)
    driver.call("POST", "/v1/fine_tuning/jobs", content=b"{not json", expect=400)
    driver.call("POST", "/v1/files", files={"file": ("../x.jsonl", b"{}\n")}, data={"purpose": "fine-tune"}, expect=400)
    driver.call("POST", "/v1/files", files={"file": ("x.jsonl", b"{}\n")}, data={"purpose": "nope"}, expect=400)
    driver.call("GET", "/v1/no/such/route", expect=404)
    driver.call("PUT", "/v1/files", expect=405)
    driver.call("GET", "/v1/fine_tuning/jobs", params={"limit": 0}, expect=400)
    driver.call("GET", "/v1/models", headers={"Authorization": "Bearer wrong"}, expect=401)
    driver.call("DELETE", "/v1/files/{file_id}", path_params={"file_id": validation})


@pytest.fixture(scope="module")
def exchanges(tmp_path_factory: pytest.TempPathFactory, models_cache: Path) -> Iterator[list[Exchange]]:
    engine = EngineProcess(tmp_path_factory.mktemp("conformance"), models_cache).start()
    driver = Driver(engine)
    try:
        _drive(driver, engine)
        yield driver.exchanges
    finally:
        driver.http.close()
        engine.stop()


def _engine_routes() -> set[tuple[str, str]]:
    from ftui.engine.api import create_app
    from ftui.engine.service import EngineService
    from ftui.engine.store import Store

    app = create_app(EngineService(Store(Path(":memory:"))), "token")
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", None) or ()
        if method not in ("HEAD", "OPTIONS")
    } - NOT_OPENAI


def _stream_events(body: bytes) -> list[Any]:
    events = [line.removeprefix(b"data: ") for line in body.split(b"\n\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]", events[-1:]
    return [orjson.loads(event) for event in events[:-1]]


# --- the tests ----------------------------------------------------------------------------------------------------


def test_every_engine_route_is_in_the_document_and_exercised(openapi: OpenAPI, exchanges: list[Exchange]) -> None:
    routes = _engine_routes()
    assert routes, "no routes found on the app"
    for method, route in sorted(routes):
        openapi.operation(method, route)  # raises when the document has no such operation
    succeeded = {(e.method, e.route) for e in exchanges if e.status == 200}
    assert routes - succeeded == set(), "routes never called successfully"


def test_every_success_matches_the_documented_response_schema(openapi: OpenAPI, exchanges: list[Exchange]) -> None:
    problems: list[str] = []
    checked = 0
    for exchange in exchanges:
        if exchange.status != 200:
            continue
        if "text/event-stream" in exchange.content_type:
            schema = openapi.response_schema(exchange.method, exchange.route, "text/event-stream")
            bodies = _stream_events(exchange.body)
        else:
            schema = openapi.response_schema(exchange.method, exchange.route)
            body = exchange.json() if "json" in exchange.content_type else exchange.body.decode()
            bodies = [body]
        for body in bodies:
            checked += 1
            problems += [f"{exchange}: {problem}" for problem in openapi.errors(schema, body)]
    assert checked >= 40
    assert not problems, "\n".join(problems)


def test_every_error_matches_the_error_response_schema(openapi: OpenAPI, exchanges: list[Exchange]) -> None:
    errors = [e for e in exchanges if e.status >= 400]
    assert {e.status for e in errors} >= {400, 401, 404, 405}
    problems = [f"{e}: {p}" for e in errors for p in openapi.errors(ERROR_SCHEMA, e.json())]
    assert all("json" in e.content_type for e in errors)
    assert not problems, "\n".join(problems)


def test_streamed_chunks_carry_role_content_and_finish(exchanges: list[Exchange]) -> None:
    (stream,) = [e for e in exchanges if "text/event-stream" in e.content_type]
    chunks = _stream_events(stream.body)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert len({c["id"] for c in chunks}) == 1


# --- the check itself catches deviations (no engine needed) -------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "complaint"),
    [
        (
            ("GET", "/v1/files/{file_id}"),
            {
                "id": "file-1",
                "object": "file",
                "bytes": 1,
                "created_at": 1,
                "filename": "a.jsonl",
                "purpose": "fine-tune",
                "status": "processed",
                "expires_at": None,
            },
            "expires_at: None is not of type 'integer'",
        ),
        (
            ("POST", "/v1/chat/completions"),
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "hi"},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
            },
            "'refusal' is a required property",
        ),
        (
            ("GET", "/v1/fine_tuning/jobs/{job_id}"),
            {"object": "fine_tuning.job", "id": "ftjob-1", "status": "done"},
            "'done' is not one of",
        ),
    ],
)
def test_the_check_rejects_known_deviations(
    openapi: OpenAPI, route: tuple[str, str], body: dict[str, Any], complaint: str
) -> None:
    problems = openapi.errors(openapi.response_schema(*route), body)
    assert any(complaint in problem for problem in problems), problems


def test_normalisation_turns_openapi_30_keywords_into_json_schema() -> None:
    schema = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "nullable": True}
    normalised = _normalise(copy.deepcopy(schema))
    validator = Draft202012Validator(normalised)
    assert validator.is_valid(None) and validator.is_valid(0.1) and not validator.is_valid(0)
