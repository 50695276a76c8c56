#!/usr/bin/env python3
"""Writes ../docs_page.c from docs.html: the page as one C string literal
plus kumo__docs_page, which fills in {{TITLE}} (HTML-escaped) and
{{CONFIG}} (a JSON object, '<' and '/' escaped so it cannot close the
script element). Run it after editing docs.html: python3 embed.py"""
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


def main():
    with open(os.path.join(HERE, "docs.html"), encoding="utf-8") as f:
        html = f.read()
    lines = html.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "\n".join(c_literal(l) for l in lines)
    with open(os.path.join(HERE, "docs_page.c.in"), encoding="utf-8") as f:
        template = f.read()
    with open(os.path.join(HERE, "..", "docs_page.c"), "w", encoding="utf-8") as f:
        f.write(template.replace("@PAGE@", body))


if __name__ == "__main__":
    main()
