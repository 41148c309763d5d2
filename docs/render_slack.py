#!/usr/bin/env python3
"""Lays out a Slack Block Kit payload as Slack shows it, as one HTML page.

Input: an insta snapshot of the payload (tests/snapshots/slack__slack_json.snap,
made by the code under review) or a bare JSON file. Output: HTML on stdout,
for docs/render_examples.sh to screenshot. Only what the monitor sends is
laid out: header, section (mrkdwn), context and divider blocks; mrkdwn
*bold*, _italic_, ~strike~, `code`, line breaks and :emoji: names.

Slack mrkdwn arrives with &, < and > escaped (&amp; &lt; &gt;), which is
what HTML wants too, so the text is placed as it is and only the
formatting marks are turned into tags.
"""

import html
import json
import re
import sys

EMOJI = {"warning": "\u26a0\ufe0f", "rotating_light": "\U0001f6a8", "white_check_mark": "\u2705"}


def payload(path):
    text = open(path, encoding="utf-8").read()
    if text.startswith("---\n"):
        # insta: a YAML header between two `---` lines, then the value.
        text = text.split("\n---\n", 1)[1]
    return json.loads(text)


def mrkdwn(text):
    text = re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    text = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"<s>\1</s>", text)
    return text.replace("\n", "<br>")


def plain(element):
    if element.get("type") == "mrkdwn":
        return mrkdwn(element["text"])
    return html.escape(element["text"])


def block(b):
    kind = b["type"]
    if kind == "header":
        return f'<div class="header">{plain(b["text"])}</div>'
    if kind == "section":
        return f'<div class="section">{plain(b["text"])}</div>'
    if kind == "context":
        items = "".join(f"<span>{plain(e)}</span>" for e in b["elements"])
        return f'<div class="context">{items}</div>'
    if kind == "divider":
        return "<hr>"
    return f'<div class="section"><i>({html.escape(kind)} block)</i></div>'


STYLE = """
body { margin: 0; background: #fff; font: 15px/1.47 Lato, "Liberation Sans", "DejaVu Sans", sans-serif; color: #1d1c1d; }
.channel { padding: 10px 20px; border-bottom: 1px solid #e8e8e8; font-weight: 900; font-size: 18px; }
.message { display: flex; padding: 12px 20px 16px; max-width: 900px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #b03030; color: #fff; flex: none;
          display: flex; align-items: center; justify-content: center; font-weight: 900; font-size: 13px; margin-right: 8px; }
.who b { font-weight: 900; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 1px 3px; border-radius: 2px; margin: 0 4px; }
.time { color: #616061; font-size: 12px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0 6px; }
.section { margin: 6px 0; }
.context { color: #616061; font-size: 13px; margin: 6px 0; }
.context span + span { margin-left: 8px; }
code { font: 12px Monaco, Menlo, "DejaVu Sans Mono", monospace; color: #e01e5a; background: #f6f6f6;
       border: 1px solid #e1e1e1; border-radius: 3px; padding: 1px 3px; }
hr { border: none; border-top: 1px solid #e8e8e8; margin: 10px 0; }
"""


def page(p):
    blocks = "\n".join(block(b) for b in p.get("blocks", []))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>
<div class="channel"># security-alerts</div>
<div class="message">
<div class="avatar">MFA</div>
<div>
<div class="who"><b>mfa-monitor</b><span class="app">APP</span><span class="time">09:00</span></div>
{blocks}
</div></div>
</body></html>
"""


if __name__ == "__main__":
    sys.stdout.write(page(payload(sys.argv[1])))
