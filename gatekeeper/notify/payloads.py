"""Webhook bodies (pure): PagerDuty Events API v2 and Slack incoming-webhook messages."""

from __future__ import annotations

from typing import Any

PD_SEVERITY = {"SEV-1": "critical", "SEV-2": "error", "SEV-3": "warning", "SEV-4": "info"}


def pagerduty_event(
    *,
    routing_key: str,
    summary: str,
    dedup_key: str,
    sev: str,
    source: str,
    component: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """A PagerDuty Events v2 ``trigger`` event; dedup_key makes retries and repeats one incident."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary[:1024],
            "source": source,
            "severity": PD_SEVERITY.get(sev, "warning"),
            "component": component,
            "group": "gatekeeper",
            "class": details.get("rule", "gatekeeper"),
            "custom_details": {"sev": sev, **details},
        },
    }


def slack_message(*, title: str, sev: str, lines: list[str], link: str | None = None) -> dict[str, Any]:
    """An incoming-webhook message: a plain ``text`` fallback plus blocks for people."""
    body = "\n".join(f"• {line}" for line in lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{sev} {title}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900] or " "}},
    ]
    if link:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|open in Gatekeeper>"}]}
        )
    return {"text": f"{sev} {title}\n{body}"[:3000], "blocks": blocks}
