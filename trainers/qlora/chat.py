"""Chat data for the generator: validation of seed-004 rows, rendering to text with the spans the loss
is computed on, and parsing tool calls back out of generated text.

Rendering uses the tokenizer's chat template when it has one (e.g. Llama-3.1-Instruct), otherwise this
documented template (the one the tiny test models and any base model without a template use)::

    {bos}<|system|>
    {system content}
    <|user|>
    {user content}
    <|assistant|>
    {assistant content}<tool_call>{"name": "...", "arguments": {...}}</tool_call>{eos}
    <|tool|>
    {tool result JSON}

A generation prompt ends with ``<|assistant|>\\n``. Only assistant turns (content, tool calls and the
closing eos) carry loss. With a chat template, each assistant span is found by rendering the
conversation up to that turn with and without it; a template that re-renders earlier turns
differently (no common prefix) is refused rather than trained with a wrong mask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.errors import ValidationFailed

ROLES = frozenset({"system", "user", "assistant", "tool"})
MARKERS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>", "tool": "<|tool|>"}
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
_BLOCK_RE = re.compile(
    re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|$)", re.DOTALL
)
_NAME_RE = re.compile(r'"name"\s*:\s*"([^"]*)"')


@dataclass(frozen=True)
class RenderedChat:
    text: str
    spans: tuple[tuple[int, int], ...]  # character ranges of assistant turns (the loss)
    template: str  # "chat_template" | "simple"


def validate_conversation(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check one training row against the seed 004 chat format; return its messages."""
    rid = row.get("id", "?")
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed(f"row {rid}: 'messages' must be a non-empty list")
    call_ids: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, Mapping) else None
        if role not in ROLES:
            raise ValidationFailed(f"row {rid} message {i}: unknown role {role!r}")
        if not isinstance(msg.get("content", ""), str):
            raise ValidationFailed(f"row {rid} message {i}: content must be a string")
        for call in msg.get("tool_calls") or []:
            if role != "assistant":
                raise ValidationFailed(f"row {rid} message {i}: only assistant messages carry tool_calls")
            fn = call.get("function") or {}
            if (
                call.get("type") != "function"
                or not fn.get("name")
                or not isinstance(fn.get("arguments"), str)
            ):
                raise ValidationFailed(
                    f"row {rid} message {i}: tool call needs type 'function', a name and "
                    "JSON-string arguments"
                )
            try:
                json.loads(fn["arguments"])
            except json.JSONDecodeError as exc:
                raise ValidationFailed(
                    f"row {rid} message {i}: tool call arguments are not JSON: {exc}"
                ) from exc
            call_ids.add(str(call.get("id")))
        if role == "tool" and str(msg.get("tool_call_id")) not in call_ids:
            raise ValidationFailed(f"row {rid} message {i}: tool result answers no earlier tool call")
    if not any(m["role"] == "assistant" for m in messages):
        raise ValidationFailed(f"row {rid}: no assistant turn to learn from")
    return [dict(m) for m in messages]


def format_tool_call(call: Mapping[str, Any]) -> str:
    """One OpenAI-shaped tool call as the simple template writes it."""
    fn = call.get("function", call)
    args = fn.get("arguments")
    args = json.loads(args) if isinstance(args, str) else args
    return (
        TOOL_CALL_OPEN
        + json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
        + TOOL_CALL_CLOSE
    )


def render_simple(
    messages: Sequence[Mapping[str, Any]],
    *,
    bos: str = "",
    eos: str = "",
    add_generation_prompt: bool = False,
) -> RenderedChat:
    """Render with the documented template (module docstring)."""
    parts: list[str] = [bos]
    spans: list[tuple[int, int]] = []
    pos = len(bos)
    for msg in messages:
        role = msg["role"]
        head = f"{MARKERS[role]}\n"
        if role == "assistant":
            body = (msg.get("content") or "") + "".join(
                format_tool_call(c) for c in msg.get("tool_calls") or []
            )
            body += eos
            spans.append((pos + len(head), pos + len(head) + len(body)))
            chunk = head + body + "\n"
        else:
            chunk = head + (msg.get("content") or "") + "\n"
        parts.append(chunk)
        pos += len(chunk)
    if add_generation_prompt:
        parts.append(f"{MARKERS['assistant']}\n")
    return RenderedChat("".join(parts), tuple(spans), "simple")


def _template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Templates (Llama 3.1 and most others) expect tool-call arguments as objects, not JSON strings."""
    out = []
    for msg in messages:
        m = dict(msg)
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": json.loads(c["function"]["arguments"])
                        if isinstance(c["function"]["arguments"], str)
                        else c["function"]["arguments"],
                    },
                }
                for c in m["tool_calls"]
            ]
        out.append(m)
    return out


def render_with_template(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = False,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> RenderedChat:
    """Render with the tokenizer's chat template; find assistant spans by prefix differences."""
    msgs = _template_messages(messages)

    def text(upto: int, gen: bool) -> str:
        return tokenizer.apply_chat_template(
            msgs[:upto], tools=tools, tokenize=False, add_generation_prompt=gen
        )

    full = text(len(msgs), add_generation_prompt)
    spans = []
    for i, msg in enumerate(msgs):
        if msg["role"] != "assistant":
            continue
        before, through = text(i, True), text(i + 1, False)
        if not (through.startswith(before) and full.startswith(through)):
            raise ValidationFailed(
                "the chat template does not render conversations prefix-stably; "
                "assistant tokens cannot be located for the loss mask"
            )
        spans.append((len(before), len(through)))
    return RenderedChat(full, tuple(spans), "chat_template")


def render(
    tokenizer: Any, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = False
) -> RenderedChat:
    """Chat template when the tokenizer has one, else the simple template with its bos/eos."""
    if getattr(tokenizer, "chat_template", None):
        return render_with_template(tokenizer, messages, add_generation_prompt=add_generation_prompt)
    return render_simple(
        messages,
        bos=tokenizer.bos_token or "",
        eos=tokenizer.eos_token or "",
        add_generation_prompt=add_generation_prompt,
    )


def encode(tokenizer: Any, rendered: RenderedChat) -> tuple[list[int], list[int]]:
    """Token ids and a 0/1 mask of tokens that start inside an assistant span."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("a fast tokenizer is needed (offsets locate the assistant tokens)")
    enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(a <= start < b for a, b in rendered.spans)) for start, _ in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def _call_from_json(obj: Any, raw: str) -> dict[str, Any]:
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        args = obj.get("arguments", obj.get("parameters", {}))
        return {
            "name": obj["name"],
            "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
        }
    found = _NAME_RE.search(raw)
    return {"name": found.group(1) if found else "", "arguments": raw}


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split generated text into (answer text, tool calls ``{"name", "arguments": "<json string>"}``).

    ``<tool_call>`` blocks (an unclosed last block too) are calls; a reply that is a bare JSON object
    with ``name`` and ``arguments``/``parameters`` (Llama 3.1's style) is one call. A block that is not
    valid JSON is kept as a call with its raw text as arguments, so validity metrics see it fail.
    """
    calls = []
    for m in _BLOCK_RE.finditer(text):
        raw = m.group(1).strip()
        try:
            calls.append(_call_from_json(json.loads(raw), raw))
        except json.JSONDecodeError:
            calls.append(_call_from_json(None, raw))
    answer = _BLOCK_RE.sub("", text).strip()
    if not calls:
        bare = answer.removeprefix("<|python_tag|>").strip()
        if bare.startswith("{") and bare.endswith("}"):
            try:
                obj = json.loads(bare)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and "name" in obj and ("arguments" in obj or "parameters" in obj):
                return "", [_call_from_json(obj, bare)]
    return answer, calls
