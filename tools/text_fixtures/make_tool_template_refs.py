"""Render chat templates WITH tools and tool-call turns through Python jinja2 the way
transformers' apply_chat_template does (tools passed as the `tools` variable, tool-call
arguments as dicts, as HF and vLLM pass them), and write
crates/lineage/tests/fixtures/text/tool_template_refs.json.

The messages are stored in OpenAI's wire form (arguments as a JSON string), which is what
lineage receives; the oracle is rendered from the same messages with the arguments parsed.

Usage: make_tool_template_refs.py   (reads the Qwen2.5 and Llama 3.2 templates from
chat_template_refs.json and the gpt-oss template from gpt_oss_chat_template.jinja, which
make_template_refs.py took from llama.cpp's models/templates/, copies of the HF ones).
"""
import copy, json, os
from make_template_refs import render, FIXED_NOW

HERE = os.path.join(os.path.dirname(__file__), "../../crates/lineage/tests/fixtures/text")
OUT = os.path.join(HERE, "tool_template_refs.json")

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "integer", "description": "Days of forecast"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "detailed": {"type": "boolean", "default": False},
        }, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The current UTC time.",
        "parameters": {"type": "object", "properties": {}}}},
]

# Schema shapes the gpt-oss template renders as TypeScript: nested objects, arrays of
# objects, type lists, a oneOf, a parameter with no schema, a tool without properties.
NESTED_TOOLS = [
    {"type": "function", "function": {
        "name": "locate", "description": "Find a place.",
        "parameters": {"type": "object", "properties": {
            "loc": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                    "required": ["lat"]},
            "xs": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "n": {"type": ["string", "null"]},
            "mode": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "name": {"type": "string", "nullable": True},
            "ids": {"type": "array", "items": {"type": "integer"}, "nullable": True},
            "any": {},
        }, "required": ["loc"]}}},
    {"type": "function", "function": {"name": "ping", "description": "Check the server.", "parameters": {"type": "object"}}},
]


def call(i, name, args):
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}


ASK = [{"role": "system", "content": "You are terse."},
       {"role": "user", "content": "Weather in Paris?"}]
ONE_CALL = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [call(1, "get_weather", {"city": "Paris", "unit": "celsius"})]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
]
TWO_CALLS = [
    {"role": "user", "content": "Weather in Paris, and the time?"},
    {"role": "assistant", "content": "Checking both.", "tool_calls": [
        call(1, "get_weather", {"city": "Paris"}), call(2, "get_time", {})]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
    {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
]
CALL_THEN_ANSWER = ONE_CALL + [
    {"role": "assistant", "content": "It is 21 degrees."},
    {"role": "user", "content": "Thanks!"},
]
THOUGHT_CALL = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "I should look it up.", "tool_calls": [call(1, "get_weather", {"city": "Paris"})]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def hf_form(messages):
    """Arguments parsed into dicts, as transformers' callers and vLLM pass them."""
    out = copy.deepcopy(messages)
    for m in out:
        for c in m.get("tool_calls", []):
            c["function"]["arguments"] = json.loads(c["function"]["arguments"])
    return out


def main():
    refs = json.load(open(os.path.join(HERE, "chat_template_refs.json"), encoding="utf-8"))
    tmpl = {c["name"].split("/")[0]: c for c in refs["cases"]}
    gpt_oss = open(os.path.join(HERE, "gpt_oss_chat_template.jinja"), encoding="utf-8").read()
    plan = [
        ("qwen2.5", [("ask", ASK), ("one_call", ONE_CALL), ("two_calls", TWO_CALLS)]),
        ("llama3.2", [("ask", ASK), ("one_call", ONE_CALL), ("call_then_answer", CALL_THEN_ANSWER)]),
        ("gpt-oss", [("ask", ASK), ("one_call", ONE_CALL), ("call_then_answer", CALL_THEN_ANSWER),
                     ("thought_call", THOUGHT_CALL), ("nested_schema", ASK)]),
    ]
    cases = []
    for name, convs in plan:
        if name == "gpt-oss":
            src, bos, eos = gpt_oss, "<|startoftext|>", "<|return|>"
        else:
            src, bos, eos = tmpl[name]["template"], tmpl[name]["bos_token"], tmpl[name]["eos_token"]
        for conv_name, conv in convs:
            tools = NESTED_TOOLS if conv_name == "nested_schema" else TOOLS
            case = {"name": f"{name}/{conv_name}", "template": name, "tools": tools, "messages": conv,
                    "add_generation_prompt": True, "bos_token": bos, "eos_token": eos}
            case.update(render(src, hf_form(conv), True, bos, eos, tools))
            cases.append(case)
    json.dump({"source": "jinja2 as transformers apply_chat_template, tools=TOOLS",
               "strftime_now_unix_secs": FIXED_NOW, "current_date": "2025-06-28",
               "cases": cases}, open(OUT, "w", encoding="utf-8"), ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
