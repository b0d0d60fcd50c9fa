"""The plain-text reply format of offline (e-mail) tasks: both its sides.

The task mail lists the task's form fields; the handler answers with one ``field: value``
line per field (the full-width colon ``：`` works too), anywhere above the quoted mail::

    outcome: resolved
    result: 已为客户退费 50 元
    refund_amount: 50

    客户已电话确认。

A field is named by its id or its label (``退费金额: 50``). Values: ``yes/no``, ``true/
false``, ``是/否``, ``1/0`` for yes-no fields; the id or the name of a choice
(``resolved`` or ``已解决``); numbers as digits; dates as ``YYYY-MM-DD``. A ``comment:``
(``备注:``) line and every line that is not a field become a note on the ticket. A reply
without field lines is a note only and leaves the task open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketflow.definitions.forms import FormField
from ticketflow.views import TaskView, TicketView

_LINE = re.compile(r"^\s*[-*•]?\s*([^\s:：][^:：]{0,60}?)\s*[:：]\s*(.*?)\s*$")
_BILINGUAL = re.compile(r"^([^a-z]*?[^\x00-\x7f][^a-z]*?)\s*([a-z].*)$")
_BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COMMENT_KEYS = ("comment", "comments", "note", "备注", "说明", "意见")
TRUE_WORDS = {"yes", "y", "true", "1", "是", "对", "已", "ok", "√"}
FALSE_WORDS = {"no", "n", "false", "0", "否", "不", "未", "×"}
TYPE_HINTS = {
    "string": "文本 text",
    "long": "整数 whole number",
    "double": "数字 number",
    "boolean": "是/否 yes/no",
    "date": "日期 date YYYY-MM-DD",
    "enum": "选项 choice",
}


@dataclass(frozen=True)
class ReplyContent:
    """A reply read against a task's form."""

    fields: dict[str, str]
    comment: str
    errors: dict[str, str]


def _names(f: FormField) -> set[str]:
    """``refund_amount``, and from the label "退费金额（元）Refund amount (yuan)": the whole
    label, "退费金额（元）", "退费金额", "refund amount (yuan)" and "refund amount"."""
    return _bilingual_names(f.id, f.label)


def read_reply(text: str, form: Sequence[FormField]) -> ReplyContent:
    """Split ``text`` into field values (raw, for the form to check), comment and errors."""
    lookup: dict[str, FormField] = {}
    for f in form:
        for name in _names(f):
            lookup.setdefault(name, f)
    fields: dict[str, str] = {}
    comment: list[str] = []
    unknown: dict[str, str] = {}
    for line in text.split("\n"):
        match = _LINE.match(line)
        if match is None:
            comment.append(line)
            continue
        key, value = match.group(1).strip(), match.group(2)
        found = lookup.get(key.lower())
        if found is not None:
            if value:
                fields[found.id] = value
            continue
        if value.startswith("//"):  # a URL, not a field
            comment.append(line)
            continue
        if key.lower() in COMMENT_KEYS:
            comment.append(value)
        elif _IDENTIFIER.match(key):
            unknown[key] = value
            comment.append(line)
        else:
            comment.append(line)
    errors: dict[str, str] = {}
    if fields:  # the reply completes the task: a misspelt field must not pass unnoticed
        declared = ", ".join(f.id for f in form) or "none"
        for key in unknown:
            errors[key] = f"not a field of this task (fields: {declared})"
    return ReplyContent(fields, "\n".join(comment).strip(), errors)


def to_form_values(fields: dict[str, str], form: Sequence[FormField]) -> dict[str, object]:
    """Reply words turned into what the form's types accept (the form still checks them)."""
    by_id = {f.id: f for f in form}
    values: dict[str, object] = {}
    for name, raw in fields.items():
        f = by_id[name]
        word = raw.strip()
        if f.type == "boolean":
            lowered = word.lower().rstrip("。.!！")
            values[name] = (
                True if lowered in TRUE_WORDS else False if lowered in FALSE_WORDS else word
            )
        elif f.type == "enum":
            values[name] = _choice(f, word)
        elif f.type in ("long", "double"):
            values[name] = word.replace(",", "").replace("，", "")
        else:
            values[name] = word
    return values


def _choice(f: FormField, word: str) -> str:
    """The id of the choice ``word`` names: its id, or its name in either language
    (``resolved``, ``已解决``, ``Resolved``, ``已解决 Resolved``)."""
    lowered = word.lower()
    for choice_id, choice_name in f.choices:
        if lowered in _bilingual_names(choice_id, choice_name):
            return choice_id
    return word


def _bilingual_names(key: str, label: str | None) -> set[str]:
    names = {key.lower()}
    text = (label or "").strip().lower()
    if text:
        names.add(text)
        split = _BILINGUAL.match(text)
        for part in split.groups() if split else ():
            names.add(part.strip())
            names.add(_BRACKETS.sub("", part).strip())
    names.discard("")
    return names


def field_help(f: FormField) -> str:
    """One line describing a field for the task mail."""
    label = f" {f.label}" if f.label and f.label != f.id else ""
    need = "必填 required" if f.required else "可选 optional"
    hint = TYPE_HINTS.get(f.type, f.type)
    if f.type == "enum" and f.choices:
        hint += ": " + " | ".join(
            f"{cid} {name}" if name and name != cid else cid for cid, name in f.choices
        )
    return f"  - {f.id}{label} ({need}; {hint})"


def task_mail(
    ticket: TicketView, task: TaskView, token: str, expires_at: datetime
) -> tuple[str, str]:
    """Subject and body of the mail that hands ``task`` to an offline handler."""
    subject = f"[{token}] 工单 {ticket.number} 待处理: {task.name}"
    lines = [
        f"工单 {ticket.number} 的任务「{task.name}」待您处理。",
        f"Ticket {ticket.number}: the task '{task.name}' ({task.element_id}) is yours.",
        "",
        f"客户 Customer: {ticket.customer_id}"
        + (f" ({ticket.customer_tier})" if ticket.customer_tier else ""),
        f"优先级 Priority: {ticket.priority}",
    ]
    if ticket.region:
        lines.append(f"区域 Region: {ticket.region}")
    if ticket.subject:
        lines.append(f"摘要 Subject: {ticket.subject}")
    if task.due_at:
        lines.append(f"期限 Due: {task.due_at:%Y-%m-%d %H:%M} UTC")
    for key in ("summary", "description", "category_l1", "category_l2", "category_l3"):
        value = ticket.data.get(key)
        if value:
            lines.append(f"{key}: {value}")
    if task.documentation:
        lines += ["", "任务说明 Instructions:", task.documentation]
    lines += [
        "",
        "请直接回复本邮件，在回复正文顶部每行写一个“字段: 值”；其他文字作为备注记入工单，"
        "附件随工单保存。只写文字、不填字段的回复仅作为备注，任务保持待办。",
        "Reply to this e-mail with one 'field: value' line per field at the top of your reply;"
        " other text becomes a note on the ticket and attachments are kept with it. A reply"
        " with text only is a note and leaves the task open.",
        "",
        "字段 Fields:",
        *(field_help(f) for f in task.form),
        "",
        "回复模板 Reply template:",
        "",
        *(f"{f.id}: " for f in task.form),
        "",
        f"回复令牌 Reply token: {token}",
        f"有效期至 Valid until: {expires_at:%Y-%m-%d %H:%M} UTC"
        " (完成任务仅可使用一次 completes the task once)",
    ]
    return subject, "\n".join(lines)
