"""Render chat templates with Python jinja2 the way transformers' apply_chat_template does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, tojson with
ensure_ascii=False, raise_exception), and write crates/lineage/tests/fixtures/text/chat_template_refs.json.

Usage: make_template_refs.py SMOLLM2_VOCAB_JSON LLAMA_CPP_SRC_DIR
Templates other than SmolLM2's come from llama.cpp's models/templates/ (copies of the HF ones).
"""
import json, os, sys
from datetime import datetime, timezone
import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

OUT = os.path.join(os.path.dirname(__file__), "../../crates/lineage/tests/fixtures/text/chat_template_refs.json")


class TemplateError(Exception):
    pass


# strftime_now reports this fixed time (2025-06-28 12:34:56 UTC); the Rust tests use set_now(FIXED_NOW).
FIXED_NOW = 1751114096


def render(template, messages, add_generation_prompt, bos, eos, tools=None):
    def raise_exception(msg):
        raise TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.fromtimestamp(FIXED_NOW, timezone.utc).strftime(fmt)
    try:
        return {"expected": env.from_string(template).render(
            messages=messages, tools=tools, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos)}
    except TemplateError as e:
        return {"expected_error": str(e)}


TWO_TURNS = [
    {"role": "user", "content": "Hi there! What's the capital of France?"},
    {"role": "assistant", "content": "  The capital of France is Paris.  "},
    {"role": "user", "content": "And of Japan?\n"},
]
WITH_SYSTEM = [{"role": "system", "content": "You are terse."}] + TWO_TURNS


def main(smollm_vocab, llama_src):
    tdir = os.path.join(llama_src, "models", "templates")
    read = lambda n: open(os.path.join(tdir, n), encoding="utf-8").read()
    smol = json.load(open(smollm_vocab, encoding="utf-8"))["chat_template"]
    templates = [
        ("smollm2", smol, "<|im_start|>", "<|im_end|>"),
        ("llama3.2", read("meta-llama-Llama-3.2-3B-Instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>"),
        ("gemma2", read("google-gemma-2-2b-it.jinja"), "<bos>", "<eos>"),
        ("qwen2.5", read("Qwen-Qwen2.5-7B-Instruct.jinja"), "", "<|im_end|>"),
    ]
    cases = []
    for name, tmpl, bos, eos in templates:
        for conv_name, conv in (("two_turns", TWO_TURNS), ("with_system", WITH_SYSTEM)):
            for agp in (True, False):
                case = {"name": f"{name}/{conv_name}/gen={agp}", "template": tmpl, "messages": conv,
                        "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos}
                case.update(render(tmpl, conv, agp, bos, eos))
                cases.append(case)
    harmony = []
    for conv_name, conv in (("two_turns", TWO_TURNS), ("with_system", WITH_SYSTEM)):
        for agp in (True, False):
            r = render(read("openai-gpt-oss-120b.jinja"), conv, agp, "<|startoftext|>", "<|return|>")
            harmony.append({"name": f"gpt-oss/{conv_name}/gen={agp}", "messages": conv, "add_generation_prompt": agp,
                            "current_date": "2025-06-28", **r})
    json.dump({"source": f"jinja2 {jinja2.__version__} as transformers apply_chat_template",
               "strftime_now_unix_secs": FIXED_NOW, "cases": cases,
               "harmony": harmony}, open(OUT, "w", encoding="utf-8"), ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
