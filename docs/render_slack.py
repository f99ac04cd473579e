"""Draws docs/img/slack-check.svg: the demo's check result as driftbot posts it in Slack, and its thread.

    python3 docs/render_slack.py [--database-url SUPERUSER_URL]

The messages are the real payloads: the demo's production is built (bot/cli/demo.py), checked, and
its Block Kit comes from bot/slack/views.py (check_message, thread_note, request_message). Only the
drawing is this file's: a plain approximation of Slack's look (fonts, wrapping), no screenshot.
Without --database-url an embedded PostgreSQL is started (the demo extra).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "img" / "slack-check.svg"
PEOPLE = {"U0ANA": "ana", "U0BEN": "ben", "U0CEM": "cem"}
EMOJI = {":red_circle:": ("●", "#e01e5a"), ":large_green_circle:": ("●", "#2eb67d"),
         ":large_yellow_circle:": ("●", "#ecb22e"), ":warning:": ("⚠", "#ecb22e"),
         ":white_check_mark:": ("✔", "#2eb67d"), ":x:": ("✖", "#e01e5a")}
SANS, MONO = "Helvetica, Arial, sans-serif", "Menlo, Consolas, monospace"
SIZE, LINE = 14, 20


def _plain(text: str) -> str:
    """Slack's escapes and links as people see them."""
    text = re.sub(r"<@(\w+)>", lambda m: "@" + PEOPLE.get(m.group(1), m.group(1).lower()), text)
    text = re.sub(r"<!subteam\^\w+(?:\|([^>]+))?>", lambda m: m.group(1) or "@dbas", text)
    text = re.sub(r"<!date\^[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _runs(line: str) -> list[tuple[str, str]]:
    """(text, style) runs of one mrkdwn line: bold, italic, code, emoji, mention, plain."""
    runs: list[tuple[str, str]] = []
    # Code first; bold and italic only at word boundaries, as Slack reads them (not inside a_b_c).
    pattern = r"(`[^`]+`|(?<!\w)\*[^*\n]+\*(?!\w)|(?<!\w)_[^_\n]+_(?!\w)|:[a-z_]+:|@\w+)"
    for part in re.split(pattern, _plain(line)):
        if not part:
            continue
        if part in EMOJI:
            runs.append((EMOJI[part][0], "emoji:" + EMOJI[part][1]))
        elif part.startswith("`") and part.endswith("`") and len(part) > 2:
            runs.append((part[1:-1], "code"))
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            runs.append((part[1:-1], "bold"))
        elif part.startswith("_") and part.endswith("_") and len(part) > 2:
            runs += [(t, "italic" if s == "plain" else s) for t, s in _runs(part[1:-1])]
        elif part.startswith("@") and part[1:] in PEOPLE.values():
            runs.append((part, "mention"))
        else:
            runs.append((part, "plain"))
    return runs


def _width(text: str, style: str, size: int = SIZE) -> float:
    return len(text) * size * (0.62 if style == "code" else 0.56 if style == "bold" else 0.52)


def _wrap(runs: list[tuple[str, str]], width: float) -> list[list[tuple[str, str]]]:
    lines: list[list[tuple[str, str]]] = [[]]
    used = 0.0
    for text, style in runs:
        for word in re.split(r"(?<= )", text):
            w = _width(word, style)
            if used + w > width and used > 0:
                lines.append([])
                used = 0.0
                word = word.lstrip()
                w = _width(word, style)
            lines[-1].append((word, style))
            used += w
    return lines


class Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text_line(self, x: float, y: float, runs, size: int = SIZE, color: str = "#1d1c1d") -> None:
        spans = []
        for text, style in runs:
            attrs = {"bold": 'font-weight="bold"', "italic": 'font-style="italic"',
                     "code": f'font-family="{MONO}" fill="#e01e5a" font-size="{size - 1}"',
                     "mention": 'fill="#1264a3" font-weight="bold"'}.get(style, "")
            if style.startswith("emoji:"):
                attrs = f'fill="{style[6:]}"'
            spans.append(f"<tspan {attrs}>{html.escape(text)}</tspan>" if attrs else html.escape(text))
        self.parts.append(f'<text x="{x}" y="{y}" font-family="{SANS}" font-size="{size}" fill="{color}" '
                          f'xml:space="preserve">{"".join(spans)}</text>')

    def rect(self, x, y, w, h, fill="#fff", stroke="none", rx=4) -> None:
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" stroke="{stroke}"/>')

    def mrkdwn(self, x: float, y: float, width: float, text: str, size: int = SIZE, color: str = "#1d1c1d",
               max_code_lines: int = 14) -> float:
        """Draw mrkdwn text; returns the y below it."""
        chunks = re.split(r"```\n?(.*?)\n?```", text, flags=re.S)
        for i, chunk in enumerate(chunks):
            if i % 2:  # a code block
                rows = chunk.split("\n")
                if len(rows) > max_code_lines:
                    rows = rows[:max_code_lines] + ["…"]
                fits = int((width - 16) / 7.3)
                rows = [row if len(row) <= fits else row[:fits - 1] + "…" for row in rows]
                y += 6
                h = len(rows) * 17 + 12
                self.rect(x, y - 4, width, h, fill="#f8f8f8", stroke="#dddddd")
                for n, row in enumerate(rows):
                    self.parts.append(f'<text x="{x + 8}" y="{y + 12 + n * 17}" font-family="{MONO}" font-size="12" '
                                      f'fill="#1d1c1d" xml:space="preserve">{html.escape(_plain(row))}</text>')
                y += h + 6
                continue
            for line in chunk.strip("\n").split("\n") if chunk.strip("\n") else []:
                for wrapped in _wrap(_runs(line), width):
                    y += LINE if size == SIZE else size + 5
                    self.text_line(x, y - 5, wrapped, size, color)
        return y

    def buttons(self, x: float, y: float, width: float, elements) -> float:
        cx = x
        for el in elements:
            label = el["text"]["text"]
            w = len(label) * 13 * 0.64 + 28
            if cx + w > x + width and cx > x:
                cx, y = x, y + 38
            style = el.get("style")
            fill, stroke, color = {"primary": ("#007a5a", "#007a5a", "#fff"),
                                   "danger": ("#fff", "#e01e5a", "#e01e5a")}.get(style, ("#fff", "#bbbbbb", "#1d1c1d"))
            self.rect(cx, y + 6, w, 30, fill=fill, stroke=stroke)
            self.parts.append(f'<text x="{cx + w / 2}" y="{y + 26}" text-anchor="middle" font-family="{SANS}" '
                              f'font-size="13" font-weight="bold" fill="{color}">{html.escape(label)}</text>')
            cx += w + 8
        return y + 44

    def message(self, x: float, y: float, width: float, author: str, when: str, blocks) -> float:
        self.rect(x, y + 4, 36, 36, fill="#1d3557", rx=6)
        self.parts.append(f'<text x="{x + 18}" y="{y + 28}" text-anchor="middle" font-family="{SANS}" font-size="15" '
                          f'font-weight="bold" fill="#fff">{html.escape(author[0].upper())}</text>')
        tx, tw = x + 48, width - 48
        app = ' <tspan font-size="10" fill="#616061">APP</tspan>' if author == "driftbot" else ""
        self.parts.append(f'<text x="{tx}" y="{y + 16}" font-family="{SANS}" font-size="15" font-weight="bold" '
                          f'fill="#1d1c1d">{html.escape(author)}{app} <tspan font-weight="normal" font-size="12" '
                          f'fill="#616061">{when}</tspan></text>')
        y += 22
        for block in blocks:
            kind = block["type"]
            if kind == "section":
                y = self.mrkdwn(tx, y, tw, block["text"]["text"]) + 4
            elif kind == "context":
                for el in block["elements"]:
                    y = self.mrkdwn(tx, y, tw, el.get("text", ""), size=12, color="#616061")
                y += 4
            elif kind == "actions":
                y = self.buttons(tx, y, tw, block["elements"])
            elif kind == "divider":
                self.parts.append(f'<line x1="{tx}" x2="{tx + tw}" y1="{y + 8}" y2="{y + 8}" stroke="#dddddd"/>')
                y += 16
            elif kind == "header":
                y = self.mrkdwn(tx, y, tw, "*" + block["text"]["text"] + "*") + 4
        return y + 14

    def snippet(self, x: float, y: float, width: float, name: str, content: str, shown: int = 9) -> float:
        rows = content.strip("\n").split("\n")
        rows = rows[:shown] + (["…"] if len(rows) > shown else [])
        fits = int((width - 72) / 7)
        rows = [row if len(row) <= fits else row[:fits - 1] + "…" for row in rows]
        h = 36 + len(rows) * 16 + 10
        self.rect(x + 48, y, width - 48, h, fill="#fff", stroke="#dddddd", rx=8)
        self.parts.append(f'<text x="{x + 60}" y="{y + 22}" font-family="{SANS}" font-size="13" font-weight="bold" '
                          f'fill="#1d1c1d">{html.escape(name)} <tspan font-weight="normal" fill="#616061">'
                          f'SQL snippet</tspan></text>')
        for n, row in enumerate(rows):
            self.parts.append(f'<text x="{x + 60}" y="{y + 44 + n * 16}" font-family="{MONO}" font-size="11.5" '
                              f'fill="#1d1c1d" xml:space="preserve">{html.escape(row)}</text>')
        return y + h + 14


def payloads(database_url: str | None) -> dict:
    """The real messages of the demo's check: the result, its thread's note and snippet, a request."""
    from driftbot import embedded
    from driftbot.cli.demo import build_production
    from driftbot.engine.check import run_check
    from driftbot.requests.plans import make_plan
    from driftbot.settings import Settings
    from driftbot.slack.views import check_message, request_message, thread_note

    work = Path(tempfile.mkdtemp(prefix="driftbot-render-"))
    try:
        server = database_url or embedded.postgres_server(work).url
        prod, project = build_production(server, work)
        settings = Settings(environments={"prod": {
            "database_url": prod, "shadow_url": server, "channel": "C0DBOPS",
            "migrations": str(project / "prisma" / "migrations"), "schema": str(project / "prisma" / "schema.prisma"),
        }}, cache_dir=work / "cache")
        result = run_check(settings, settings.environment("prod"))
    finally:
        embedded.release_all()
    _, check_blocks, _ = check_message(result, 1, "U0ANA")
    note, _ = thread_note(result)
    catch_up = next(f.action for f in result.findings if f.action.kind == "catch_up_migration")
    rolled_back = next(f.action for f in result.findings if f.action.kind == "resolve_rolled_back")
    migration = rolled_back.arguments["migration"]
    plan = make_plan("prod", "resolve_rolled_back", {"migration": migration}, result.fingerprint)
    request = SimpleNamespace(  # the fields request_message reads, as the state database holds them
        id=1, requester="U0ANA", environment="prod", status="requested", approvals_required=2, note=None,
        sql=plan.sql, expires_at=datetime(2026, 12, 8, 9, 30, tzinfo=timezone.utc), plan_hash=plan.hash,
        args=plan.arguments, decided_by=None)
    _, request_blocks = request_message(request, ["U0BEN"])
    return {"check": check_blocks, "note": note, "catch_up": (catch_up.arguments["migration"], catch_up.sql),
            "request": request_blocks}


def draw(found: dict) -> str:
    c = Canvas()
    left_w, right_w, gap = 640, 560, 24
    c.parts.append(f'<text x="20" y="30" font-family="{SANS}" font-size="16" font-weight="bold" fill="#1d1c1d"># db-ops</text>')
    y = c.message(20, 44, left_w - 20, "ana", "9:02 AM", [{"type": "section", "text": {"type": "mrkdwn",
                                                                                   "text": "`/drift status prod`"}}])
    left_end = c.message(20, y, left_w - 20, "driftbot", "9:02 AM", found["check"])
    rx = left_w + gap
    c.rect(rx - 12, 10, right_w + 12, 10, fill="none")
    c.parts.append(f'<text x="{rx}" y="30" font-family="{SANS}" font-size="16" font-weight="bold" fill="#1d1c1d">'
                   f'Thread <tspan font-weight="normal" font-size="13" fill="#616061"># db-ops</tspan></text>')
    note = "\n".join(found["note"].split("\n")[:3]) + "\n…"
    y = c.message(rx, 44, right_w, "driftbot", "9:02 AM", [{"type": "section", "text": {"type": "mrkdwn", "text": note}}])
    name, sql = found["catch_up"]
    y = c.snippet(rx, y - 6, right_w, f"{name}.sql", sql)
    y = c.message(rx, y, right_w, "driftbot", "9:04 AM", found["request"])
    height = max(left_end, y) + 10
    width = left_w + gap + right_w + 20
    body = "\n".join(c.parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">\n'
            f'<rect width="100%" height="100%" fill="#ffffff"/>\n'
            f'<line x1="{left_w + gap / 2 - 6}" x2="{left_w + gap / 2 - 6}" y1="10" y2="{height - 10}" stroke="#dddddd"/>\n'
            f"{body}\n</svg>\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL superuser URL (else an embedded server)")
    args = parser.parse_args(argv)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(draw(payloads(args.database_url)))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
