"""TEST FIXTURE, NOT OpenAI: a loopback imitation of OpenAI's Batch API, for offline tests.

It imitates the documented shapes (https://platform.openai.com/docs/api-reference/batch and .../files):
the file object, the batch object (status, request_counts, output_file_id, error_file_id, errors) and the
output lines `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`. It is written
from the documentation, not recorded from OpenAI: where the real service differs, these tests cannot tell.

- `POST /v1/files` (multipart, purpose=batch), `GET /v1/files/{id}/content`;
- `POST /v1/batches` checks the input file as OpenAI documents it (JSON lines, unique custom_id, method
  POST, the batch's url) and fails the batch otherwise; `GET /v1/batches/{id}` moves it on one step per
  poll: validating -> in_progress -> `final_status`;
- each request line is answered with a canned tool call for the tool it asks for (bench/fake_openai.py's
  `answer_for`: sentence numbers the request allows, names from bench/article.txt); `http_500_if` /
  `invalid_if` pick lines that get an HTTP 500 (in the error file) or a schema-invalid answer. An "expired"
  batch answers nothing: every line goes to the error file as `batch_expired`. `flaky_polls` makes the next
  polls answer HTTP 503, `reject_with` fails the batch in validation (as OpenAI does over a token limit);
- `POST /v1/chat/completions` answers like bench/fake_openai.py and records the body, so a test can compare
  what the ordinary path sends with a batch line's body.

Binds to 127.0.0.1, on a free port.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.fake_openai import answer_for, in_thread

Body = dict[str, Any]
CREATED = 1_700_000_000
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
USAGE = {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960}


def tool_name(body: Body) -> str:
    """The tool a chat-completions request body forces (TOOLS mode)."""
    return str(body["tool_choice"]["function"]["name"])


def mentions(body: Body, text: str) -> bool:
    return text in json.dumps(body["messages"], ensure_ascii=False)


def completion(body: Body, arguments: Body, n: int) -> Body:
    name = tool_name(body)
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": CREATED,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    }


@dataclass
class FakeBatchAPI:
    final_status: str = "completed"  # or "expired", "failed", "cancelled"
    http_500_if: Callable[[Body], bool] = lambda body: False
    invalid_if: Callable[[Body], bool] = lambda body: False
    flaky_polls: int = 0  # the next this many batch retrievals answer HTTP 503
    reject_with: str | None = None  # fail every batch in validation with this token_limit_exceeded error
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, Body] = field(default_factory=dict)
    uploads: list[bytes] = field(default_factory=list)  # the input files, as uploaded
    chat_bodies: list[Body] = field(default_factory=list)  # what /chat/completions received
    log: list[str] = field(default_factory=list)  # "METHOD path" of every request
    base_url: str = ""
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    # --- files ---------------------------------------------------------------------------------------

    async def upload(self, request: Request) -> JSONResponse:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        parts = {
            p.get_param("name", header="content-disposition"): p
            for p in BytesParser(policy=policy.HTTP).parsebytes(head + raw).iter_parts()
        }
        data = bytes(parts["file"].get_payload(decode=True))
        purpose = bytes(parts["purpose"].get_payload(decode=True)).decode()
        file_id = self._id("file")
        self.files[file_id] = data
        if purpose == "batch":
            self.uploads.append(data)
        return JSONResponse(self._file(file_id, parts["file"].get_filename() or "upload", purpose))

    def _file(self, file_id: str, filename: str, purpose: str) -> Body:
        size = len(self.files[file_id])
        return {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": CREATED,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }

    async def content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return JSONResponse({"error": {"message": f"No such File object: {file_id}"}}, status_code=404)
        return Response(self.files[file_id], media_type="application/octet-stream")

    # --- batches -------------------------------------------------------------------------------------

    async def create(self, request: Request) -> JSONResponse:
        params = await request.json()
        if params.get("completion_window") != "24h" or params.get("endpoint") != "/v1/chat/completions":
            return JSONResponse(
                {"error": {"message": "invalid completion_window or endpoint"}}, status_code=400
            )
        if params.get("input_file_id") not in self.files:
            return JSONResponse({"error": {"message": "No such File object"}}, status_code=404)
        batch_id = self._id("batch")
        lines, errors = self._check(self.files[params["input_file_id"]], params["endpoint"])
        if self.reject_with:
            errors.append(
                {"code": "token_limit_exceeded", "message": self.reject_with, "param": None, "line": None}
            )
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": params["endpoint"],
            "errors": None,
            "input_file_id": params["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": CREATED,
            "in_progress_at": None,
            "expires_at": CREATED + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": params.get("metadata"),
            "_lines": lines,
            "_errors": errors,
        }
        return JSONResponse(self._public(batch_id))

    def _check(self, data: bytes, url: str) -> tuple[list[Body], list[Body]]:
        lines: list[Body] = []
        errors: list[Body] = []
        seen: set[str] = set()
        for number, text in enumerate(data.decode("utf-8").splitlines(), 1):
            try:
                line = json.loads(text)
                ok = line["method"] == "POST" and line["url"] == url and isinstance(line["body"], dict)
                ok = ok and isinstance(line["custom_id"], str) and line["custom_id"] not in seen
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                errors.append(
                    {
                        "code": "invalid_request",
                        "message": f"line {number} is not a valid request",
                        "param": None,
                        "line": number,
                    }
                )
                continue
            seen.add(line["custom_id"])
            lines.append(line)
        return lines, errors

    async def retrieve(self, request: Request) -> JSONResponse:
        batch_id = request.path_params["batch_id"]
        if batch_id not in self.batches:
            return JSONResponse(
                {"error": {"message": f"No batch found with id '{batch_id}'."}}, status_code=404
            )
        if self.flaky_polls > 0:
            self.flaky_polls -= 1
            return JSONResponse({"error": {"message": "Service unavailable (fixture)"}}, status_code=503)
        batch = self.batches[batch_id]
        if batch["_errors"]:
            batch.update(
                status="failed", failed_at=CREATED + 1, errors={"object": "list", "data": batch["_errors"]}
            )
        elif batch["status"] == "validating":
            batch.update(status="in_progress", in_progress_at=CREATED + 1)
        elif batch["status"] == "in_progress":
            self._finish(batch)
        return JSONResponse(self._public(batch_id))

    def _finish(self, batch: Body) -> None:
        out: list[Body] = []
        err: list[Body] = []
        for line in batch["_lines"]:
            body, n = line["body"], next(self._ids)
            record: Body = {"id": f"batch_req_fake{n}", "custom_id": line["custom_id"], "error": None}
            if self.final_status != "completed":
                err.append(
                    {
                        **record,
                        "response": None,
                        "error": {
                            "code": f"batch_{self.final_status}",
                            "message": EXPIRED_MESSAGE,
                        },
                    }
                )
            elif self.http_500_if(body):
                err.append(
                    {
                        **record,
                        "response": {
                            "status_code": 500,
                            "request_id": f"req_{n}",
                            "body": {
                                "error": {
                                    "message": "The server had an error processing your request.",
                                    "type": "server_error",
                                    "param": None,
                                    "code": None,
                                }
                            },
                        },
                    }
                )
            else:
                answer = (
                    {"oops": "not the schema"}
                    if self.invalid_if(body)
                    else answer_for(tool_name(body), None, body)
                )
                out.append(
                    {
                        **record,
                        "response": {
                            "status_code": 200,
                            "request_id": f"req_{n}",
                            "body": completion(body, answer, n),
                        },
                    }
                )
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(out), "failed": len(err)}
        for key, records in (("output_file_id", out), ("error_file_id", err)):
            if records:
                file_id = self._id("file")
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in records).encode()
                batch[key] = file_id
        batch["status"] = self.final_status
        batch[f"{self.final_status}_at"] = CREATED + 2

    def _public(self, batch_id: str) -> Body:
        return {k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")}

    # --- the ordinary path ---------------------------------------------------------------------------

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.chat_bodies.append(body)
        return JSONResponse(completion(body, answer_for(tool_name(body), None, body), len(self.chat_bodies)))

    def app(self) -> Callable[..., Any]:
        routes = Starlette(
            routes=[
                Route("/v1/files", self.upload, methods=["POST"]),
                Route("/v1/files/{file_id}/content", self.content, methods=["GET"]),
                Route("/v1/batches", self.create, methods=["POST"]),
                Route("/v1/batches/{batch_id}", self.retrieve, methods=["GET"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
            ]
        )

        async def app(scope: Body, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.log.append(f"{scope['method']} {scope['path']}")
            await routes(scope, receive, send)

        return app


@contextmanager
def serve(api: FakeBatchAPI) -> Iterator[FakeBatchAPI]:
    """Run the fixture in a thread on a free loopback port; sets and yields `api` with its base_url."""
    with in_thread(api.app()) as port:
        api.base_url = f"http://127.0.0.1:{port}/v1"
        yield api
