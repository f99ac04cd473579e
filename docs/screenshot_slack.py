"""Screenshots of what driftbot posts: the status message, its thread and the App Home, as PNGs.

    python3 docs/screenshot_slack.py [--database-url SUPERUSER_URL] [--chromium PATH]

The payloads are the real ones: the demo's production is built and checked (``payloads`` of
docs/render_slack.py), the App Home is ``driftbot.digest.board.render`` of a board holding that result. This
file draws their Block Kit as HTML (a plain approximation of Slack's look) and has a headless Chromium
(Debian's ``chromium`` package) take the pictures: docs/img/slack-status.png, slack-thread.png,
slack-home.png.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs"))

IMG = ROOT / "docs" / "img"
PEOPLE = {"U0ANA": "ana", "U0BEN": "ben", "U0CEM": "cem", "UANA": "ana"}
DOT = '<span style="color:{}">&#9679;</span>'  # the machine has no colour emoji font: Slack's circles as dots
EMOJI = {"red_circle": DOT.format("#e01e5a"), "large_green_circle": DOT.format("#2eb67d"),
         "large_yellow_circle": DOT.format("#ecb22e"), "large_blue_circle": DOT.format("#1264a3"),
         "white_circle": DOT.format("#bbbbbb"), "warning": "&#9888;", "white_check_mark": "&#10004;", "x": "&#10006;",
         "hourglass": "&#8987;", "twisted_rightwards_arrows": "&#8644;"}
CSS = """
body { font-family: Lato, 'Helvetica Neue', Helvetica, Arial, sans-serif; font-size: 15px; color: #1d1c1d;
       margin: 0; background: #fff; width: 760px; }
.pane { padding: 12px 20px; } .title { font-weight: 700; font-size: 17px; padding: 10px 20px;
       border-bottom: 1px solid #ddd; }
.msg { display: flex; gap: 10px; padding: 8px 0; } .avatar { width: 36px; height: 36px; border-radius: 6px;
       background: #1d3557; color: #fff; font-weight: 700; text-align: center; line-height: 36px; flex: none; }
.avatar.person { background: #8a6bbd; } .who { font-weight: 900; } .when { color: #616061; font-size: 12px; }
.block { margin: 4px 0; white-space: pre-wrap; line-height: 1.45; } .context { color: #616061; font-size: 13px; }
.header { font-weight: 900; font-size: 18px; margin: 10px 0 4px; }
code { font-family: Menlo, Consolas, monospace; font-size: 12px; color: #e01e5a; background: #f8f8f8;
       border: 1px solid #e2e2e2; border-radius: 3px; padding: 0 3px; }
pre { font-family: Menlo, Consolas, monospace; font-size: 12px; background: #f8f8f8; border: 1px solid #e2e2e2;
      border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; }
.buttons { display: flex; flex-wrap: wrap; gap: 8px; margin: 6px 0; }
.button { border: 1px solid #bbb; border-radius: 4px; padding: 4px 12px; font-weight: 700; font-size: 13px; }
.primary { background: #007a5a; color: #fff; border-color: #007a5a; } .danger { color: #e01e5a; border-color: #e01e5a; }
.snippet { border: 1px solid #ddd; border-radius: 8px; padding: 8px 12px; margin: 6px 0; }
.snippet b { font-size: 13px; } a { color: #1264a3; text-decoration: none; } .mention { color: #1264a3;
       background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
"""


def mrkdwn(text: str) -> str:
    """Slack's mrkdwn as HTML: code blocks, code, bold, italic, links, mentions, dates, emoji."""
    out = []
    for i, part in enumerate(re.split(r"```\n?(.*?)\n?```", text, flags=re.S)):
        out.append(f"<pre>{part}</pre>" if i % 2 else _inline(part))
    return "".join(out)


def _inline(text: str) -> str:
    codes: list[str] = []
    text = re.sub(r"`([^`]+)`", lambda m: codes.append(m.group(1)) or f"\x00{len(codes) - 1}\x00", text)
    text = re.sub(r"<@(\w+)>", lambda m: f'<span class="mention">@{PEOPLE.get(m.group(1), m.group(1).lower())}</span>', text)
    text = re.sub(r"<!subteam\^\w+(?:\|([^>]+))?>", lambda m: f'<span class="mention">{m.group(1) or "@db-admins"}</span>', text)
    text = re.sub(r"<!date\^[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r'<a href="\1">\2</a>', text)
    text = re.sub(r"(?<!\w)\*([^*\n]+)\*(?!\w)", r"<b>\1</b>", text)
    text = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"<i>\1</i>", text)
    text = re.sub(r":([a-z_]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return re.sub("\x00(\\d+)\x00", lambda m: f"<code>{codes[int(m.group(1))]}</code>", text)


def blocks_html(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        kind = b["type"]
        if kind == "section":
            out.append(f'<div class="block">{mrkdwn(b["text"]["text"])}</div>')
        elif kind == "header":
            out.append(f'<div class="header">{html.escape(b["text"]["text"])}</div>')
        elif kind == "context":
            out.append('<div class="block context">' + " ".join(mrkdwn(e["text"]) for e in b["elements"]) + "</div>")
        elif kind == "actions":
            out.append('<div class="buttons">' + "".join(
                f'<span class="button {e.get("style", "")}">{html.escape(e["text"]["text"])}</span>'
                for e in b["elements"]) + "</div>")
        elif kind == "divider":
            out.append("<hr>")
    return "".join(out)


def message(who: str, when: str, body: str, person: bool = False) -> str:
    return (f'<div class="msg"><div class="avatar{" person" if person else ""}">{who[0].upper()}</div><div>'
            f'<span class="who">{who}</span> <span class="when">{when}</span>{body}</div></div>')


def snippet(name: str, content: str, shown: int = 8) -> str:
    rows = content.strip("\n").split("\n")
    rows = rows[:shown] + (["…"] if len(rows) > shown else [])
    return f'<div class="snippet"><b>{html.escape(name)}</b><pre>{html.escape(chr(10).join(rows))}</pre></div>'


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style></head><body>'
            f'<div class="title">{title}</div><div class="pane">{body}</div></body></html>')


def home_view(found: dict) -> dict:
    """The App Home of an approver, from the demo's real check result and request."""
    from driftbot.digest import board
    from driftbot.digest.content import EnvStatus, OpenRequest

    now = datetime(2026, 12, 7, 9, 14, tzinfo=timezone.utc)
    result = found["result"]
    lines = (board.BoardLine(EnvStatus("prod", "failed" if result.state == "failed" else "drifted",
                                       f"{len(result.findings)} findings", now - timedelta(days=17)), now - timedelta(minutes=12)),
             board.BoardLine(EnvStatus("analytics", "unreachable", "connection refused", now - timedelta(days=1)),
                             now - timedelta(minutes=12)),
             board.BoardLine(EnvStatus("staging", "in_sync"), now - timedelta(minutes=12)),
             board.BoardLine(EnvStatus("qa", "in_sync"), now - timedelta(minutes=12)))
    waiting = (board.Waiting(OpenRequest(1, "prod", now - timedelta(hours=3), "requested", "C0DBOPS", "1765098000.000100"),
                             "resolve_rolled_back", f"resolve --rolled-back {found['migration']}", "U0ANA"),)
    return board.render(board.Board("U0CEM", now, lines, waiting, checkpoint="981:3f9c2be0"))


def shoot(chromium: str, html_text: str, out: Path, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="driftbot-shot-") as tmp:
        page_file = Path(tmp) / "page.html"
        page_file.write_text(html_text, encoding="utf-8")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-extensions", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={tmp}/profile", f"--window-size=760,{height}",
                        f"--screenshot={out}", page_file.as_uri()],
                       check=True, capture_output=True, timeout=120)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL superuser URL (else an embedded server)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    found = payloads(args.database_url)
    IMG.mkdir(parents=True, exist_ok=True)
    status = (message("ana", "9:02 AM", '<div class="block"><code>/drift status prod</code></div>', person=True)
              + message("driftbot", "9:02 AM", blocks_html(found["check"])))
    shoot(args.chromium, page("# db-ops", status), IMG / "slack-status.png", 560)
    thread = (message("driftbot", "9:02 AM", f'<div class="block">{mrkdwn(found["note"])}</div>')
              + message("driftbot", "9:02 AM", snippet(f"{found['catch_up'][0]}.sql", found["catch_up"][1]))
              + message("driftbot", "9:04 AM", blocks_html(found["request"])))
    shoot(args.chromium, page("Thread · # db-ops", thread), IMG / "slack-thread.png", 900)
    shoot(args.chromium, page("driftbot · Home", blocks_html(home_view(found)["blocks"])), IMG / "slack-home.png", 620)
    for name in ("slack-status.png", "slack-thread.png", "slack-home.png"):
        print(f"wrote docs/img/{name}")
    return 0


def payloads(database_url: str | None) -> dict:
    """docs/render_slack.py's real payloads of the demo's check, with the result itself for the board."""
    import render_slack

    from driftbot.engine import check as engine_check

    kept = {}
    real = engine_check.run_check

    def keep(*a, **kw):
        kept["result"] = real(*a, **kw)
        return kept["result"]

    engine_check.run_check = keep
    try:
        found = render_slack.payloads(database_url)
    finally:
        engine_check.run_check = real
    result = kept["result"]
    found["result"] = result
    found["migration"] = next((f.action.arguments["migration"] for f in result.findings
                               if f.action.kind == "resolve_rolled_back"), "20250101000000_init")
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
