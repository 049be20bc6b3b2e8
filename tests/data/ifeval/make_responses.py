"""Writes the responses behind responses.jsonl (without verdicts): the embedded model's answers to official
IFEval prompts (each instruction type at least 3 times), variants of those answers that meet some instructions,
and hand-written edge cases. The `strict` / `loose` columns of responses.jsonl were then added by the official
implementation (see README.md).

    PYTHONPATH=. python tests/data/ifeval/make_responses.py ../shared/data/ifeval/input_data.jsonl OUT.jsonl
"""
import json
import sys

from datagen.backends import SamplingParams, build_backend

S = "length_constraints:number_sentences"
CASES = [
    ('keywords:existence',
     {'keywords': ['cat', 'dog']},
     ['A concatenated dogma.', 'The Cat and the DOG.', 'Only a cat here.', 'cats\ndogs']),
    ('keywords:existence', {'keywords': ['c.t']}, ['I saw a cut.', 'No match here.']),
    ('keywords:frequency',
     {'keyword': 'the', 'frequency': 3, 'relation': 'at least'},
     ['There the other.', 'The end.', 'THE the The']),
    ('keywords:frequency',
     {'keyword': ' rain ', 'frequency': 2, 'relation': 'less than'},
     ['Rain, rain, go away.', 'Sunny day.', 'rain']),
    ('keywords:forbidden_words',
     {'forbidden_words': ['cat', 'big']},
     ['A concatenated bigger story.', 'The Cat sat.', 'so BIG!', "cat's toy"]),
    ('keywords:letter_frequency',
     {'letter': 'a', 'let_frequency': 3, 'let_relation': 'at least'},
     ['Aa a', 'banana', 'bob']),
    ('keywords:letter_frequency',
     {'letter': 'Z', 'let_frequency': 2, 'let_relation': 'less than'},
     ['zZ', 'z only', 'none']),
    ('language:response_language',
     {'language': 'es'},
     ['Hola, ¿cómo estás? Estoy muy bien, gracias por preguntar.',
      'Hello, how are you today? I am fine.',
      '12345 !!!']),
    ('language:response_language', {'language': 'hi'}, ['नमस्ते, आप कैसे हैं? मैं ठीक हूँ।', 'Namaste, how are you?']),
    (S,
     {'num_sentences': 2, 'relation': 'less than'},
     ['Dr. Smith went home.',
      'Dr. Smith went home. He was tired.',
      'It costs $3.50 today.',
      'See e.g. the U.S. map here.']),
    (S,
     {'num_sentences': 3, 'relation': 'at least'},
     ['One. Two! Three?',
      'Wait... what? Really.',
      'Mr. and Mrs. Jones left. They came back. Then slept.',
      'Line one\nLine two\nLine three',
      'He said "Stop." Then he left. Fine.']),
    (S,
     {'num_sentences': 4, 'relation': 'at least'},
     ['1. First item.\n2. Second item.\n3. Third item.',
      'Prof. X arrived at 5 p.m. on Jan. 5. It rained. We stayed. Done.']),
    ('length_constraints:number_paragraphs',
     {'num_paragraphs': 2},
     ['a\n***\nb', '***\na\n***\nb\n***', 'a\n***\n\n***\nb', 'a ***b', 'a\n\nb', 'a\n* * *\nb']),
    ('length_constraints:number_words',
     {'num_words': 5, 'relation': 'less than'},
     ['one two three four', "don't stop-me now ok", 'one, two, three, four, five']),
    ('length_constraints:number_words',
     {'num_words': 3, 'relation': 'at least'},
     ['naïve café déjà', 'a b', "it's 3.5"]),
    ('length_constraints:nth_paragraph_first_word',
     {'num_paragraphs': 2, 'nth_paragraph': 2, 'first_word': 'World'},
     ['Hello\n\nworld, again',
      'Hello\n\n"World" it is',
      'Hello\n\nWorldly things',
      'Hello\n\n\n\nworld',
      '\n\nHello\n\nworld',
      'Hello\n\nworld\n\nagain']),
    ('length_constraints:nth_paragraph_first_word',
     {'num_paragraphs': 1, 'nth_paragraph': 1, 'first_word': "it's"},
     ["It's fine.", 'It fine.']),
    ('detectable_content:number_placeholders',
     {'num_placeholders': 2},
     ['[name] lives at [address].', '[a][b]', '[only one]', '[unclosed and [x]']),
    ('detectable_content:postscript',
     {'postscript_marker': 'P.S.'},
     ['Hi.\np.s. thanks', 'Hi.\nP. S. later', 'Hi.\nPS later', 'Hi. P.S. inline']),
    ('detectable_content:postscript',
     {'postscript_marker': 'P.P.S'},
     ['Hi.\nP.P.S more', 'Hi.\nP.S. more', 'Hi.\np. p. s more']),
    ('detectable_content:postscript', {'postscript_marker': 'Note:'}, ['Hi.\nnote: later', 'Hi.\nNote later']),
    ('detectable_format:number_bullet_lists',
     {'num_bullets': 2},
     ['* a\n* b',
      '- a\n- b',
      '** bold\n* a\n* b',
      '*italic* line\n* b',
      '* a\n- b\n* c',
      '  * a\n\t- b',
      '1. a\n2. b']),
    ('detectable_format:constrained_response',
     {},
     ['My answer is yes.', 'I think... My answer is maybe. Probably.', 'My answer is Yes.', 'my answer is no.']),
    ('detectable_format:number_highlighted_sections',
     {'num_highlights': 2},
     ['*a* and *b*', '**a** only', '**a** **b**', '* * and ** **', '*a\nb*', '*one* **two**']),
    ('detectable_format:multiple_sections',
     {'section_spliter': 'Section', 'num_sections': 2},
     ['Section 1\nx\nSection 2\ny', 'SECTION 1\nx\nSECTION 2\ny', 'Section1 x Section2 y', 'Section 1 only']),
    ('detectable_format:multiple_sections',
     {'section_spliter': 'PARAGRAPH', 'num_sections': 2},
     ['PARAGRAPH 1\nx\nPARAGRAPH 2\ny', 'Paragraph 1\nx\nParagraph 2']),
    ('detectable_format:json_format',
     {},
     ['```json\n{"a": 1}\n```', '```\n[1, 2]\n```', "{'a': 1}", 'Here: {}', '```JSON\n"x"\n```', '  42  ']),
    ('detectable_format:title', {}, ['<<My Title>>\nText', '<< >>\nText', '<<a\nb>>', 'No title']),
    ('combination:two_responses',
     {},
     ['A\n******\nB', 'A ****** A', 'A******\n******B', '******A******B******', 'A\n******\nB\n******\nC']),
    ('combination:repeat_prompt',
     {'prompt_to_repeat': 'Write a poem about cats.'},
     ['write a poem about cats. Cats purr.', '  Write a poem about cats.\nMeow', 'Sure! Write a poem about cats.']),
    ('startend:end_checker',
     {'end_phrase': 'Is there anything else I can help with?'},
     ['Done. Is there anything else I can help with?"',
      'Done. is there anything else i can help with?  ',
      'Is there anything else I can help with? Bye.']),
    ('startend:quotation', {}, ['"hi"', '"', ' "wrapped" \n', "'single'"]),
    ('change_case:capital_word_frequency',
     {'capital_frequency': 3, 'capital_relation': 'at least'},
     ["I AM HERE. DON'T GO.", 'U.S.A. is BIG', 'OK-DOKEY then', 'NASA and ESA.', 'A B']),
    ('change_case:capital_word_frequency',
     {'capital_frequency': 2, 'capital_relation': 'less than'},
     ['Only ONE here.', 'TWO WORDS', 'I think so.']),
    ('change_case:english_capital',
     {},
     ['HELLO WORLD, THIS IS A TEST OF THE SYSTEM.',
      "BONJOUR TOUT LE MONDE, COMMENT ALLEZ-VOUS AUJOURD'HUI?",
      'Hello World',
      '123 !!!']),
    ('change_case:english_lowercase',
     {},
     ['hello world, this is a simple test of the system.',
      'hola amigos, ¿cómo están ustedes hoy?',
      'Hello world',
      'sure!\nall lowercase now please.']),
    ('punctuation:no_comma', {}, ['No commas here.', 'a，b fullwidth', 'Yes, commas.']),
]
# loose mode: a preamble line, markdown, a closing line
LOOSE = [
    (['change_case:english_lowercase', 'startend:end_checker'],
     [{}, {'end_phrase': 'sweet dreams.'}],
     ['Sure! Here it is:\ngood night, sleep well and sweet dreams.',
      '**good night and sweet dreams.**',
      'Intro\nNot Lower\nEnd']),
    (['startend:quotation', 'punctuation:no_comma'],
     [{}, {}],
     ['Here you go:\n"no commas here"\nHope it helps, friend.', '"**bold**"']),
    (['detectable_format:json_format', 'detectable_format:title'],
     [{}, {}],
     ['Here is the JSON:\n{"k": [1, 2]}\nDone.', '<<T>>\n{"a": 1}']),
]
VARIANTS = {
    "upper": str.upper, "lower": str.lower, "quoted": lambda r: f'"{r.strip()}"',
    "no_commas": lambda r: r.replace(",", ""),
    "postscript": lambda r: r.rstrip() + "\n\nP.S. Thank you for reading.",
    "preamble": lambda r: "Sure, here you go:\n" + r.lower(),
    "end_phrase": lambda r: r.rstrip() + " Is there anything else I can help with?",
    "paragraphs": lambda r: "\n***\n".join(p for p in r.split("\n\n") if p.strip()),
}


def model_rows(path: str) -> list[dict]:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    need: dict[str, int] = {}
    picked = []
    for r in rows:
        if any(need.get(i, 0) < 3 for i in r["instruction_id_list"]):
            picked.append(r)
            for i in r["instruction_id_list"]:
                need[i] = need.get(i, 0) + 1
    backend = build_backend({"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 1})
    params = SamplingParams(max_tokens=256, temperature=0.0, seed=0)
    out = []
    for r in picked:
        [choices] = backend.chat([[{"role": "user", "content": r["prompt"]}]], params)
        out.append({**r, "response": choices[0].text, "source": "model"})
    backend.close()
    return out


def main(prompts: str, dest: str) -> None:
    rows = []
    for r in model_rows(prompts):
        rows.append(r)
        rows += [{**r, "key": f"{r['key']}-{name}", "response": fn(r["response"]), "source": f"model, {name}"}
                 for name, fn in VARIANTS.items()]
    for n, (iid, kwargs, responses) in enumerate(CASES):
        rows += [{"key": f"edge-{n}-{m}", "prompt": f"edge case {n}", "instruction_id_list": [iid], "kwargs": [kwargs],
                  "response": resp, "source": "edge"} for m, resp in enumerate(responses)]
    for n, (ids, kwargs, responses) in enumerate(LOOSE):
        rows += [{"key": f"loose-{n}-{m}", "prompt": f"loose case {n}", "instruction_id_list": ids, "kwargs": kwargs,
                  "response": resp, "source": "edge"} for m, resp in enumerate(responses)]
    with open(dest, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


if __name__ == "__main__":
    main(*sys.argv[1:3])
