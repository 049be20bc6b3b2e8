"""A tiny OpenAI-compatible HTTP server (http.server in a thread) that answers from a script, to test how the
openai backend and the runner meet failing or odd servers without a real one."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = 0  # a status that makes the server accept the request and never answer


def reply(text: str, finish_reason: str | None = None) -> tuple[int, bytes]:
    """A 200 reply good for both /completions and /chat/completions, with or without a finish reason."""
    choice = {"index": 0, "text": text, "message": {"role": "assistant", "content": text}}
    if finish_reason:
        choice["finish_reason"] = finish_reason
    body = {"id": "x", "object": "text_completion", "created": 0, "model": "m", "choices": [choice],
            "usage": {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 3}}
    return 200, json.dumps(body).encode()


class FakeServer:
    """`replies`: (status, body) per request in order; the last one repeats. `hits`: arrival time of each."""

    def __init__(self, replies: list[tuple[int, bytes]]) -> None:
        self.replies, self.hits = list(replies), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.hits.append(time.monotonic())
                status, body = server.replies[min(len(server.hits), len(server.replies)) - 1]
                if status == HANG:
                    time.sleep(2)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/v1"

    def __enter__(self) -> "FakeServer":
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()
