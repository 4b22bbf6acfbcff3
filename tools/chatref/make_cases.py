#!/usr/bin/env python3
"""Writes pkg/chat/testdata/cases.json, the chat-template test cases that
render.py turns into golden renders. Deterministic: rerunning it gives the
same file.

    python3 tools/chatref/make_cases.py > pkg/chat/testdata/cases.json
"""

import json
import sys

CONTENTS = [
    "Hello!",
    "What is 2+2?",
    "  leading and trailing spaces  ",
    "\n\nnewlines around\n\n",
    "multi\nline\ncontent\n",
    "unicode: héllo wörld — 日本語 — Ελληνικά — مرحبا",
    "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧 sequence",
    "jinja-like {{ messages }} and {% if x %}y{% endif %} and {# c #} {%- raw %}",
    "special tokens <|im_start|>user <|im_end|> <start_of_turn> <end_of_turn> <|eot_id|> <s> </s> [INST] <bos>",
    "",
    "tabs\tand\x0bvertical\x0cfeed\x1cfs\x1f end",
    "quotes ' \" \\ backslash \\n not a newline",
    "<think>\nreasoning here\n</think>\n\nthe answer",
    "<think>only reasoning</think>",
    "a</think>b</think>c",
    "\u00a0nbsp around\u00a0",
    "\u2028line separator and ideographic space\u3000",
    "   ",
    "<tool_response>\nresult\n</tool_response>",
    "Is this a question?",
    "x" * 300,
    "line one\r\nline two\r\n",
]

SYSTEMS = [
    "You are a helpful assistant.",
    "  Be terse.\n",
    "Système: réponds en français 🇫🇷",
    "",
]


def conv(shape, c, k):
    """Builds a conversation of a given shape around content c."""
    other = CONTENTS[(k * 7 + 3) % len(CONTENTS)]
    sys_msg = SYSTEMS[k % len(SYSTEMS)]
    u = lambda s: {"role": "user", "content": s}
    a = lambda s: {"role": "assistant", "content": s}
    s = lambda t: {"role": "system", "content": t}
    return {
        "user": [u(c)],
        "sys_user": [s(sys_msg), u(c)],
        "user_asst": [u(other), a(c)],
        "sys_user_asst": [s(sys_msg), u(c), a(other)],
        "multi": [u(c), a(other), u(other), a(c)],
        "sys_multi_user": [s(sys_msg), u(other), a(c), u(c)],
        "asst_first": [a(c), u(other)],
        "user_user": [u(c), u(other)],
    }[shape]


SHAPES = ["user", "sys_user", "user_asst", "sys_user_asst", "multi", "sys_multi_user"]


def cases_for(template, extra_fn=None):
    out = []
    k = 0
    for i, c in enumerate(CONTENTS):
        for j, shape in enumerate(SHAPES):
            if (i + j) % 3 != 0:
                continue
            k += 1
            gen = (i + j) % 2 == 0
            # DPO chosen/rejected renders end with an assistant turn and no
            # generation prompt.
            if shape.endswith("asst") or shape == "multi":
                gen = False
            case = {
                "name": f"{template}/{shape}/c{i}/gen={str(gen).lower()}",
                "template": template,
                "messages": conv(shape, c, k),
                "add_generation_prompt": gen,
            }
            if extra_fn:
                extra_fn(case, k)
            out.append(case)
    # Errors and odd shapes.
    for shape in ["asst_first", "user_user"]:
        for gen in [False, True]:
            out.append({
                "name": f"{template}/{shape}/gen={str(gen).lower()}",
                "template": template,
                "messages": conv(shape, "Hi", 1),
                "add_generation_prompt": gen,
            })
    out.append({
        "name": f"{template}/system_only",
        "template": template,
        "messages": [{"role": "system", "content": "Only a system prompt."}],
        "add_generation_prompt": True,
    })
    out.append({
        "name": f"{template}/unknown_role",
        "template": template,
        "messages": [{"role": "user", "content": "q"}, {"role": "critic", "content": "c"}],
        "add_generation_prompt": False,
    })
    if extra_fn:
        for i, case in enumerate(out[-6:]):
            extra_fn(case, 100 + i)
    return out


def qwen_extra(case, k):
    if k % 3 == 1:
        case["extra"] = {"enable_thinking": False}
        case["name"] += "/think=false"
    elif k % 3 == 2:
        case["extra"] = {"enable_thinking": True}
        case["name"] += "/think=true"


def features_extra(case, k):
    values = [
        {"a": 1, "b": [1.5, None, True, "x"], "nested": {"z": "ü", "y": 1e-7}},
        [1, 2.0, "three", None],
        None,
        3.25,
        "plain string",
        True,
        100000000000000000000.0,
    ]
    case["extra"] = {"extra_value": values[k % len(values)]}
    if k % 4 == 0:
        case["extra"]["enable_thinking"] = k % 8 == 0


def main():
    cases = []
    cases += cases_for("qwen3", qwen_extra)
    # Qwen3 specifics: reasoning in earlier turns, tool turns, thinking flags.
    think = "<think>\nstep 1\nstep 2\n</think>\n\nfinal"
    cases += [
        {"name": "qwen3/think_earlier_turn", "template": "qwen3", "add_generation_prompt": True,
         "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": think},
                      {"role": "user", "content": "q2"}]},
        {"name": "qwen3/think_last_turn", "template": "qwen3", "add_generation_prompt": False,
         "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": think}]},
        {"name": "qwen3/no_think_last_turn", "template": "qwen3", "add_generation_prompt": False,
         "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "plain answer"}]},
        {"name": "qwen3/tool_turns", "template": "qwen3", "add_generation_prompt": True,
         "messages": [{"role": "user", "content": "weather?"},
                      {"role": "assistant", "content": think},
                      {"role": "tool", "content": "sunny"},
                      {"role": "tool", "content": "22C"},
                      {"role": "assistant", "content": "It is sunny."},
                      {"role": "user", "content": "<tool_response>\nx\n</tool_response>"}]},
        {"name": "qwen3/gen_think_false", "template": "qwen3", "add_generation_prompt": True,
         "extra": {"enable_thinking": False}, "messages": [{"role": "user", "content": "hi"}]},
        {"name": "qwen3/gen_think_zero", "template": "qwen3", "add_generation_prompt": True,
         "extra": {"enable_thinking": 0}, "messages": [{"role": "user", "content": "hi"}]},
    ]
    cases += cases_for("llama3")
    cases += cases_for("gemma3")
    cases += cases_for("own/mistral_like")
    cases += cases_for("own/features", features_extra)
    # Inline snippets: jinja2 semantics (whitespace control, scoping,
    # filters, tests, str methods) one template at a time.
    with open("pkg/chat/testdata/snippets.txt", encoding="utf-8") as f:
        snippets = f.read().split("\n-----\n")
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": " Hi there\n"},
            {"role": "assistant", "content": "Yo"}]
    for i, src in enumerate(snippets):
        cases.append({"name": f"inline/{i:03d}", "template": "inline", "source": src,
                      "tokens": {"bos_token": "<s>"}, "messages": msgs, "add_generation_prompt": False})
    names = set()
    for c in cases:
        assert c["name"] not in names, c["name"]
        names.add(c["name"])
    json.dump({"cases": cases}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
