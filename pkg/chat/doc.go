// Package chat renders Hugging Face chat templates: the Jinja templates
// stored as "chat_template" in a model's tokenizer_config.json (or in a
// chat_template.jinja file beside it) that turn a list of messages into the
// prompt string a model was trained on.
//
// Rendering is meant to be byte-identical to transformers'
// apply_chat_template(..., tokenize=False), which uses Python jinja2 with
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
// extensions=[loopcontrols]), a tojson filter wrapping json.dumps with
// ensure_ascii=False, and the globals raise_exception and strftime_now. The
// render variables are messages, tools (None), documents (None),
// add_generation_prompt, the special tokens that are set (bos_token,
// eos_token, pad_token, unk_token) and any extra keyword arguments.
//
// The engine is github.com/ardanlabs/jinja. Where its semantics differ from
// Python jinja2 in ways real templates reach, Compile rewrites the template
// source so that the affected filters and string methods call this package's
// Python-compatible implementations instead (see rewrite.go and python.go):
// the tojson, trim and string filters, the str methods strip, lstrip, rstrip,
// split, rsplit, startswith, endswith, find and rfind, and the printing of
// {{ ... }} values (None, floats, lists and dicts print as Python's str()).
//
// Templates run sandboxed (limits.go): range() is capped as in jinja2's
// sandbox, macro recursion and source nesting are bounded, the output is
// capped per render (renderCap), and so is every value a template builds
// through the operators "*", "+" and "~" (Compile wraps their operands in
// size guards, guard.go), the join, replace and indent filters, the str
// methods replace, format, split and rsplit, the list filter, the list
// methods append and insert, the dict method update, and the arguments of
// macro calls. The results of all other calls, filters and subscripts in
// expressions are counted after they are built. The values built in all
// may total allocFactor times the output cap. A
// runaway template fails with an error naming the limit.
//
// The golden tests in this package compare renders of the Qwen3, Llama 3 and
// Gemma 3 templates, and of templates under testdata/templates, against
// tools/chatref/render.py, which runs the real Python jinja2.
package chat
