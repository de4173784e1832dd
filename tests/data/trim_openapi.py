"""Cut OpenAI's OpenAPI document down to what the local engine serves: ``openai-openapi.yaml`` here.

Usage: ``python tests/data/trim_openapi.py FULL_openapi.yaml > tests/data/openai-openapi.yaml``

Kept: the engine's paths with their operations' ``operationId``, ``summary``, ``parameters`` and 200 response;
``components.schemas`` reachable from those responses, plus ``ErrorResponse``. Dropped: request bodies, other
responses, examples (``x-oaiMeta``), every other path and component. Schemas are copied unchanged, so a trimmed schema is byte for
byte what the full document says; any normalisation happens in the test that reads it.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

PATHS = {
    "/models": ("get",),
    "/models/{model}": ("get", "delete"),
    "/files": ("get", "post"),
    "/files/{file_id}": ("get", "delete"),
    "/files/{file_id}/content": ("get",),
    "/fine_tuning/jobs": ("get", "post"),
    "/fine_tuning/jobs/{fine_tuning_job_id}": ("get",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/cancel": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/pause": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/resume": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/events": ("get",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints": ("get",),
    "/chat/completions": ("post",),
}
EXTRA_SCHEMAS = ("ErrorResponse",)
KEPT_OPERATION_KEYS = ("operationId", "summary", "parameters", "responses")
PREFIX = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        found = {ref.removeprefix(PREFIX)} if isinstance(ref, str) and ref.startswith(PREFIX) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _without_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_examples(value) for key, value in node.items() if key != "x-oaiMeta"}
    if isinstance(node, list):
        return [_without_examples(value) for value in node]
    return node


def trim(document: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in PATHS.items():
        item = document["paths"][path]
        paths[path] = {
            method: {key: item[method][key] for key in KEPT_OPERATION_KEYS if key in item[method]}
            | {"responses": {"200": item[method]["responses"]["200"]}}
            for method in methods
        }
    schemas = document["components"]["schemas"]
    wanted = _refs(paths) | set(EXTRA_SCHEMAS)
    kept: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in kept:
            continue
        kept[name] = _without_examples(schemas[name])
        wanted |= _refs(kept[name]) - kept.keys()
    info = {key: document["info"][key] for key in ("title", "version", "license") if key in document["info"]}
    return {
        "openapi": document["openapi"],
        "info": info,
        "paths": paths,
        "components": {"schemas": dict(sorted(kept.items()))},
    }


def main(source: str) -> None:
    with open(source, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    yaml.safe_dump(trim(document), sys.stdout, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    main(sys.argv[1])
