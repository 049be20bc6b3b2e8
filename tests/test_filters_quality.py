import pytest

from datagen.filters.base import FilterContext
from datagen.filters.quality import Quality
from datagen.filters.repetition import duplicate_ngram_share, repetition_problem, top_ngram_share
from datagen.records import Provenance, make_record

PROV = Provenance(generator="test")
GOOD = ("Sunlight is made of many colours. Air molecules scatter short blue waves far more than long red ones, so "
        "blue light reaches our eyes from every direction of the sky.")


def check(instruction, response, metadata=None, **params):
    f = Quality(Quality.Params(**params), FilterContext("quality", seed=0))
    return f.check(make_record(instruction, response, PROV, metadata=metadata or {}))


def test_good_record_passes():
    assert check("Explain why the sky is blue in two sentences.", GOOD, {"finish_reason": "stop"}) is None


@pytest.mark.parametrize("instruction,response,metadata,expected", [
    ("Hi", GOOD, None, "user turn shorter than 3 words"),
    ("Explain why the sky is blue.", GOOD, {"finish_reason": "length"}, "truncated answer (hit max_tokens)"),
    ("Explain why the sky is blue.", "Because air scatters the blue part of sunlight and", None,
     "truncated answer (ends mid-sentence)"),
    ("Translate the following sentence into French:", "Bien sûr, voici la traduction.", None,
     "instruction ends with ':' (its input is missing)"),
    ("Tell me a joke about cats.", "As an AI language model, I do not tell jokes.", None,
     "refusal or self-reference: 'as an ai language model'"),
    ("Tell me a joke about cats.", "I’m sorry, but I can’t help with jokes.", None,
     "refusal or self-reference: \"i'm sorry, but i can't\""),
    ("Should I support my team?", "I'm sorry for your loss, but as a chatbot designed to assist with sports and "
     "games, I don't have the capability to provide support.", None,
     "refusal or self-reference: 'as a chatbot designed to'"),
    ("Describe the ocean briefly.", "El océano es vasto, profundo y lleno de vida marina que fascina a todos.", None,
     "language es not in en"),
    ("Write a poem about rain.", "\n".join(["The rain falls down."] * 5), None,
     "repetitive answer: duplicate line fraction above 0.3"),
])
def test_each_check_fires(instruction, response, metadata, expected):
    assert check(instruction, response, metadata) == expected


def test_checks_can_be_switched_off():
    assert check("Translate the following sentence into French:", "As an AI language model I translate and",
                 {"finish_reason": "length"}, truncation=False, colon_instruction=False, refusals=False) is None


def test_topic_words_are_not_refusals():
    text = "Refusing a job offer politely is fine. Say you cannot accept it now and thank them for their time."
    assert check("How do I decline a job offer politely?", text) is None


def test_gopher_measures():
    words = ("the cat sat on the mat " * 20).split()
    assert top_ngram_share(words, 2) > 0.2 and duplicate_ngram_share(words, 5) > 0.9
    prose = GOOD.lower().replace(".", "").replace(",", "").split() * 1
    assert top_ngram_share(prose, 2) == 0.0 and duplicate_ngram_share(prose, 5) == 0.0
    assert repetition_problem(" ".join(["the rain is falling on the roof"] * 10) + ".") == \
        "top 2-gram share above 0.2"


@pytest.mark.parametrize("response", [
    "🌞 🏖️ 🍉",  # emoji with a variation selector
    "☀️ 😊 ❤️",
    "صباح الخير يا صديقي",  # Arabic stops on a letter: not a Latin-script sentence
    "البحر واسع وعميق ويحمل أسرار الحياة",
    "おはよう ございます",
])
def test_emoji_and_other_scripts_do_not_end_mid_sentence(response):
    assert check("Reply in your own style, please.", response, {"finish_reason": "stop"}, languages=None) is None


@pytest.mark.parametrize("finish_reason", [None, "unknown"])
def test_unknown_finish_reason_is_judged_by_the_text(finish_reason):
    metadata = {"finish_reason": finish_reason}
    assert check("Explain why the sky is blue.", GOOD, metadata) is None
    assert check("Explain why the sky is blue.", "Because air scatters the blue part of sunlight and", metadata) == \
        "truncated answer (ends mid-sentence)"


def test_quality_score_orders_records():
    f = Quality(Quality.Params(), FilterContext("quality", seed=0))
    records = [make_record("Explain why the sky is blue.", text, PROV, metadata={"finish_reason": reason})
               for text, reason in [(GOOD, "stop"), (GOOD, "length"), ("Blue light scatters more.", "stop"),
                                    ("As an AI language model, I cannot explain the sky to you today, sorry.", "stop")]]
    scores = [r.scores["quality"] for r in f.apply(records)]
    assert scores[0] == 1.0 and scores[1] == 0.0 and 0 < scores[2] < 1 and scores[3] == 0.0


def test_self_instruct_input_that_repeats_the_instruction():
    task = "What is the main goal of a person who has to make a career change?"
    echo = {"instruction": task, "input": task, "finish_reason": "stop"}
    assert check(f"{task}\n\n{task}", "To find work they enjoy.", echo) == "input repeats the instruction"
    own = {"instruction": task, "input": "A nurse who wants to teach.", "finish_reason": "stop"}
    assert check(f"{task}\n\nA nurse who wants to teach.", "To find work they enjoy.", own) is None


@pytest.mark.parametrize("response", ["negative", "Science and technology", "the first Saturday of October"])
def test_short_labels_and_spans_are_not_truncated(response):
    assert check("Classify the sentiment of this review, please.", response, {}, min_response_words=1) is None
    assert check("Classify the sentiment of this review, please.", response, {"finish_reason": "length"},
                 min_response_words=1) == "truncated answer (hit max_tokens)"


@pytest.mark.parametrize("response,refused", [
    ("I'm sorry, but as a SmolLM-supported service provider, I don't have the ability to provide assistance.", True),
    ("As a virtual travel assistant designed for bookings, I am unable to check live prices.", True),
    ("As a teacher, I do not give homework on Fridays, and my students like that.", False),
    ("I am Datagen-Assistant, an AI assistant. I can't browse the web, but I can explain things.", False),
])
def test_self_disclaimers_in_any_wording(response, refused):
    assert (check("Can you help me plan my trip, please?", response) or "").startswith("refusal") is refused


def test_a_cue_after_the_input_is_not_a_missing_input():
    prompt = "Context: The choir sings every December.\nQ: When does the choir sing?\nA (short span from the context):"
    assert check(prompt, "every December", {}, min_response_words=1) is None


def test_code_fences_are_not_duplicate_lines():
    answer = "```python\ndef biggest(xs):\n    return max(xs)\n```\n\nUse it:\n\n```python\nprint(biggest([1, 2]))\n```"
    assert check("Write a Python function that returns the largest number.", answer) is None


def test_stock_apology_opener_is_a_disclaimer():
    text = ("I'm sorry for your loss, but as a gamer and a gun owner yourself, I don't have the luxury of personal "
            "preferences. However, I can certainly assist you in finding something worth saving up for.")
    assert check("Do you have anything cheap for a four-golf shot, please?", text).startswith("refusal")
