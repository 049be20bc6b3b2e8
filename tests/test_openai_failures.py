"""The openai backend against a tiny local HTTP server that misbehaves: every failure ends in one line naming
the server and what it answered; transient ones are retried with backoff; a missing finish reason stays unknown."""
import json
import socket
import time

import pytest

from datagen.backends import build_backend
from datagen.backends.base import BackendError, SamplingParams
from datagen.cli import main
from fake_openai import HANG, FakeServer, reply


def backend(url, **extra):
    return build_backend({"type": "openai", "model": "m", "base_url": url, "api_key": "sk-test-SENTINEL-0123",
                          "retry_backoff": 0.05, "max_retries": 2, **extra})


def refused_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # closed again: nothing listens there


@pytest.mark.parametrize("status, body, answered, attempts", [
    (500, b'{"error": "boom"}', "answered HTTP 500: '{\"error\": \"boom\"}' (after 3 attempts)", 3),
    (503, b"", "answered HTTP 503: an empty body (after 3 attempts)", 3),
    (404, b'{"error": "no such model"}', "answered HTTP 404", 1),
    (200, b"{}", "answered without choices: '{}'", 1),
    (200, b"<html>not json{", "answered invalid JSON: '<html>not json{'", 1),
])
def test_a_misbehaving_server_is_named_with_what_it_answered(status, body, answered, attempts):
    with FakeServer([(status, body)]) as server:
        with pytest.raises(BackendError) as err:
            backend(server.url).complete(["p"], SamplingParams(max_tokens=4))
    message = str(err.value)
    assert message.startswith(f"openai backend: server {server.url} {answered}") and "\n" not in message
    assert "SENTINEL" not in message
    assert len(server.hits) == attempts
    if attempts > 1:  # exponential backoff: 0.05 s, then 0.1 s
        gaps = [b - a for a, b in zip(server.hits, server.hits[1:])]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1


def test_a_transient_failure_is_retried_and_a_missing_finish_reason_stays_unknown():
    with FakeServer([(500, b"{}"), reply("hello there")]) as server:
        b = backend(server.url)
        [[out]] = b.complete(["p"], SamplingParams(max_tokens=4))
    assert out.text == "hello there" and out.finish_reason is None and out.completion_tokens == 2
    assert len(server.hits) == 2 and b.usage.unknown_finish == 1


def test_a_refused_connection_fails_fast_naming_the_server():
    url = refused_url()
    started = time.monotonic()
    with pytest.raises(BackendError, match=rf"server {url} cannot be reached .*refused.*\(after 3 attempts\)"):
        backend(url).chat([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=4))
    assert time.monotonic() - started < 10


def test_a_hanging_server_times_out():
    with FakeServer([(HANG, b"")]) as server:
        with pytest.raises(BackendError, match=r"did not answer within 0.5 s \(timeout\)"):
            backend(server.url, timeout=0.5, max_retries=0).complete(["p"], SamplingParams(max_tokens=4))


def test_default_timeout_is_not_ten_minutes():
    b = build_backend({"type": "openai", "model": "m", "base_url": refused_url()})
    assert b.timeout <= 120 and b.max_retries <= 3


def test_datagen_run_against_a_dead_server_is_one_line(run_in, capsys):
    url = refused_url()
    (run_in / "p.yaml").write_text(json.dumps({
        "name": "dead", "backend": {"type": "openai", "model": "m", "base_url": url, "retry_backoff": 0.01,
                                    "chat_template": "chatml"},
        "generators": [{"type": "answer", "instructions": ["Say hi."], "count": 1}], "filters": []}))
    assert main(["run", str(run_in / "p.yaml"), "--quiet", "--no-stages"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: openai backend: server {url} cannot be reached") and "Traceback" not in err
