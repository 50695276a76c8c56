#!/usr/bin/env python3
"""Writes ../docs_page.c from docs.html: the page as one C string literal
plus kumo__docs_page, which fills in {{TITLE}} (HTML-escaped) and
{{CONFIG}} (a JSON object, '<' and '/' escaped so it cannot close the
script element); and ../dashboard_page.c from dashboard.html (the page as
is). Run it after editing either page: python3 embed.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def c_literal(line):
    out = []
    for ch in line:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "?":
            out.append("\\?")  # no trigraphs, whatever the compiler's mode
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return '    "' + "".join(out) + '\\n"'


def embed(page, template, out):
    with open(os.path.join(HERE, page), encoding="utf-8") as f:
        html = f.read()
    lines = html.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\n".join(c_literal(l) for l in lines)
    with open(os.path.join(HERE, template), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(HERE, "..", out), "w", encoding="utf-8") as f:
        f.write(text.replace("@PAGE@", body))


def main():
    embed("docs.html", "docs_page.c.in", "docs_page.c")
    embed("dashboard.html", "dashboard_page.c.in", "dashboard_page.c")


if __name__ == "__main__":
    main()
