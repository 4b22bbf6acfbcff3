"""For each template expression on stdin (one JSON list of strings), render
'{{ EXPR }}' in jinja2's ImmutableSandboxedEnvironment (as transformers
does) and print a JSON list of {"ok": bool, "out": str, "error": str}.
Used by pkg/chat's TestRangeMatchesSandbox to compare range() limits."""
import json
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
res = []
for expr in json.load(sys.stdin):
    try:
        out = env.from_string("{{ " + expr + " }}").render()
        res.append({"ok": True, "out": out, "error": ""})
    except Exception as e:  # noqa: BLE001 - we report every failure
        res.append({"ok": False, "out": "", "error": type(e).__name__ + ": " + str(e)})
json.dump(res, sys.stdout)
