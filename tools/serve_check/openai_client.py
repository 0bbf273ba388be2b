#!/usr/bin/env python3
"""The official `openai` client (PyPI) against a running `lineage serve`, unchanged:
chat, completion, streaming, n=2, stop strings, seed reproducibility and structured output
(response_format json_schema from a pydantic model). Exits non-zero
with the failing check's message. Usage: openai_client.py BASE_URL (e.g. http://127.0.0.1:8080/v1)
"""
import sys

import pydantic

from openai import OpenAI


def check(ok, what):
    if not ok:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main(base):
    c = OpenAI(base_url=base, api_key="unused")
    models = c.models.list()
    model = models.data[0].id
    check(len(models.data) == 1, f"models.list names the model ({model})")

    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    r = c.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0)
    text = r.choices[0].message.content
    check(r.object == "chat.completion" and "Paris" in text, f"chat: {text!r}")
    check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "chat usage adds up")

    pieces, usage, finish = [], None, None
    stream = c.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0,
                                       stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.content:
                pieces.append(ch.delta.content)
            finish = ch.finish_reason or finish
    check("".join(pieces) == text, "streamed chat equals the whole answer")
    check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream usage chunk")
    check(finish in ("stop", "length"), f"stream finish reason {finish}")

    r = c.completions.create(model=model, prompt="The capital of France is", max_tokens=12,
                             temperature=0, stop=["."])
    t = r.choices[0].text
    check(r.object == "text_completion" and "." not in t and r.choices[0].finish_reason == "stop",
          f"completion with a stop string: {t!r}")

    kw = dict(model=model, messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=16,
              temperature=1.0, seed=42, n=2)
    a, b = c.chat.completions.create(**kw), c.chat.completions.create(**kw)
    texts = [ch.message.content for ch in a.choices]
    check(len(a.choices) == 2 and texts[0] != texts[1], "n=2 gives two different draws")
    check(texts == [ch.message.content for ch in b.choices], "the same seed gives the same tokens")

    # Structured output the way the client's users write it: a pydantic model sent as a
    # strict json_schema, the reply parsed and validated by the client.
    class City(pydantic.BaseModel):
        name: str
        country: str
        population: int
        coastal: bool

    for seed in (1, 2):
        r = c.chat.completions.parse(model=model, response_format=City, max_tokens=120,
                                     temperature=1.0, seed=seed,
                                     messages=[{"role": "user", "content": "Describe a city."}])
        city = r.choices[0].message.parsed
        check(isinstance(city, City) and r.choices[0].finish_reason == "stop",
              f"response_format json_schema (seed {seed}): {r.choices[0].message.content!r}")

    try:
        c.chat.completions.create(model=model, messages=[], max_tokens=4)
        check(False, "empty messages are refused")
    except Exception as e:  # openai.BadRequestError
        check(getattr(e, "status_code", None) == 400, f"empty messages: 400 ({type(e).__name__})")
    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
