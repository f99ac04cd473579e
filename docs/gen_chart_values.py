"""The Helm chart's values table in docs/deploying.md, generated from deploy/helm/driftbot/values.schema.json
(what each value is and what it may be) and values.yaml (its default).

    python3 docs/gen_chart_values.py          # rewrite the table
    python3 docs/gen_chart_values.py --check  # exit 1 when the page is stale (tests/test_helm.py checks it too)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "driftbot"
PAGE = ROOT / "docs" / "deploying.md"
BEGIN = "<!-- chart values: generated from values.schema.json by docs/gen_chart_values.py -->"
END = "<!-- end of chart values -->"
SKIP = {"global"}  # Helm's own, for subcharts


def _leaves(schema: dict, prefix: str = ""):
    """(dotted key, its schema) for each value a person sets: objects closed to other keys are walked into."""
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        if key in SKIP:
            continue
        if "properties" in sub and sub.get("additionalProperties") is False:
            yield from _leaves(sub, key + ".")
        else:
            yield key, sub


def _resolved(sub: dict, definitions: dict) -> dict:
    ref = sub.get("$ref", "")
    return {**definitions.get(ref.rsplit("/", 1)[-1], {}), **sub} if ref else sub


def _kind(sub: dict) -> str:
    if "enum" in sub:
        return "one of " + ", ".join(f"`{v}`" for v in sub["enum"])
    kind = sub.get("type", "object")
    text = " or ".join(kind) if isinstance(kind, list) else kind
    limits = [f">= {sub['minimum']}" if "minimum" in sub else "", f"<= {sub['maximum']}" if "maximum" in sub else ""]
    limits = [x for x in limits if x]
    return text + (f" ({', '.join(limits)})" if limits else "")


def _default(value) -> str:
    if isinstance(value, str) and "\n" in value:
        return "an example (values.yaml)"
    if isinstance(value, dict) and value and all(v == "" for v in value.values()):
        return "each of " + ", ".join(f"`{k}`" for k in value) + ", empty"
    return "`" + json.dumps(value, separators=(", ", ": ")) + "`"


def _get(values: dict, key: str):
    for part in key.split("."):
        values = values.get(part) if isinstance(values, dict) else None
    return values


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The table, between its two markers."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rows = ["| value | type | default | what it is |", "|---|---|---|---|"]
    for key, sub in _leaves(schema):
        sub = _resolved(sub, schema.get("definitions", {}))
        rows.append(f"| `{key}` | {_cell(_kind(sub))} | {_cell(_default(_get(values, key)))} | "
                    f"{_cell(sub.get('description', ''))} |")
    return "\n".join([BEGIN, *rows, END])


def page_text() -> str:
    """docs/deploying.md with the table as it should be."""
    text = PAGE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render() + text[end:]


def main(argv: list[str]) -> int:
    text = page_text()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print("docs/deploying.md's chart values are stale: run python3 docs/gen_chart_values.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
