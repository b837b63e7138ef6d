"""Reminder texts: the Templates sheet's subject and body per rule, $placeholders filled in.

A rule without a row uses the text shipped in the template (schema.DEFAULT_TEMPLATES). A placeholder the
message does not know is a problem naming its cell, never a message sent with `$typo` in it. Every
message ends with the studio's name and currency; the HTML body is the same text, escaped, in paragraphs.
"""

from __future__ import annotations

import html
import string
from dataclasses import dataclass

from xl_ledger.book import schema

PLACEHOLDERS = ("student", "family", "remaining", "unit", "expiry_date", "studio", "currency", "value", "product",
                "package", "session_date", "period", "closing", "from", "to")


@dataclass(frozen=True)
class Template:
    rule: str
    subject: str
    body: str
    where: str  # e.g. "studio.xlsm!Templates!C3", or "built-in" for a shipped default


@dataclass(frozen=True)
class Text:
    subject: str
    plain: str
    html: str


class TemplateError(Exception):
    def __init__(self, where: str, value: str, what: str, todo: str):
        super().__init__(f"{where}: {value!r}\n  {what}\n  {todo}")
        self.where = where


def defaults() -> dict[str, Template]:
    return {rule: Template(rule, subject, body, "built-in") for rule, subject, body in schema.DEFAULT_TEMPLATES}


def from_sheet(records, book: str) -> dict[str, Template]:
    """(excel_row, {rule, subject, body}) rows → templates, defaults for the rules left out."""
    out = defaults()
    sheet = schema.TEMPLATES
    for row, rec in records:
        rule = str(rec.get("rule") or "").strip()
        if not rule:
            continue
        if rule not in schema.LISTS["reminder_rule"]:
            raise TemplateError(f"{book}!Templates!{sheet.letter('rule')}{row}", rule, "is not a reminder rule.",
                                "Use one of: " + ", ".join(schema.LISTS["reminder_rule"]) + ".")
        subject, body = (str(rec.get(c) or "") for c in ("subject", "body"))
        for column, text in (("subject", subject), ("body", body)):
            where = f"{book}!Templates!{sheet.letter(column)}{row}"
            if not text.strip():
                raise TemplateError(where, text, f"is empty: a {rule} reminder needs a {column}.",
                                    "Type one, or delete the row to use the built-in text.")
            check(text, where)
        out[rule] = Template(rule, subject, body, f"{book}!Templates!{sheet.letter('body')}{row}")
    return out


def check(text: str, where: str) -> None:
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            raise TemplateError(where, text, "has a $ that is not a placeholder.", "Write $$ for a dollar sign.")
        if name and name not in PLACEHOLDERS:
            raise TemplateError(where, text, f"has an unknown placeholder ${name}.",
                                "Use: " + ", ".join(f"${p}" for p in PLACEHOLDERS) + ".")


def render(t: Template, values: dict) -> Text:
    fill = {p: "" for p in PLACEHOLDERS} | {k: str(v) for k, v in values.items()}
    subject = string.Template(t.subject).substitute(fill).replace("\n", " ").strip()
    body = string.Template(t.body.replace("\\n", "\n")).substitute(fill).strip()
    footer = f"{fill['studio']} · amounts in {fill['currency']}"
    plain = f"{body}\n\n-- \n{footer}\n"
    return Text(subject, plain, html_of(plain))


def html_of(plain: str) -> str:
    """The HTML part: the plain text escaped, in paragraphs; the signature below the '-- ' line greyed."""
    body, _, footer = plain.partition("\n-- \n")
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in body.strip().split("\n\n"))
    return (f"<!DOCTYPE html><html><body style=\"font-family: sans-serif\">{paragraphs}"
            f"<p style=\"color:#666;font-size:small\">{html.escape(footer.strip())}</p></body></html>")
