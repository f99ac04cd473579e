"""Writes docs/settings.md, the configuration reference, from the settings model (bot/settings.py).

    python3 docs/gen_settings.py          # rewrite docs/settings.md
    python3 docs/gen_settings.py --check  # exit 1 when docs/settings.md is stale

Every key's type, default, environment variable and description come from the pydantic fields, so
the page lists every setting there is; tests/test_docs.py fails when a field has no description or
the page is stale.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driftbot.settings import DigestSettings, EnvironmentSettings, Settings  # noqa: E402

PAGE = ROOT / "docs" / "settings.md"

# Read by the processes outside the settings model (before it is built, or by the command line).
OTHER_PROCESS_VARIABLES = {
    "DRIFTBOT_CONFIG": "path of driftbot.toml (else `./driftbot.toml`; `--config` wins)",
    "DRIFTBOT_DEBUG": "`1`: an error also prints its traceback (like `--debug`)",
    "DRIFTBOT_LOG_FORMAT": "`text` (the default) or `json`: one JSON object a log line ([Log format](operating.md#log-format))",
    "PROMETHEUS_MULTIPROC_DIR": "where web's and the worker's processes keep their metric counts ([Metrics](metrics.md#multiprocess-mode)); "
                                "unset: a directory of their own, removed when they stop",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "an OpenTelemetry collector's OTLP/HTTP address (http://collector:4318): traces on, with the otel extra ([Traces](operating.md#traces))",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "the same for traces alone, the full URL (.../v1/traces); wins over the one above",
}


def _fields(model: type[BaseModel]):
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("doc", True):
            yield name, field, extra


def key_of(name: str, field) -> str:
    """The key as written in driftbot.toml."""
    return field.alias or name


def is_secret(field) -> bool:
    return _type_text(field.annotation).startswith("secret")


def env_names(prefix: str, name: str, field) -> list[str]:
    """The environment variables that set the field (the first one is the one to use)."""
    if isinstance(field.validation_alias, AliasChoices):
        names = [str(c).upper() for c in field.validation_alias.choices]
        return list(dict.fromkeys(names))
    return [prefix + key_of(name, field).upper()]


def _type_text(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_text(a) for a in inner)
    if origin is typing.Literal:
        return " or ".join(f'`"{a}"`' for a in args)
    if origin is list:
        if typing.get_origin(args[0]) is tuple:
            return "list of [FROM, TO] pairs"
        return f"list of {_type_text(args[0])}s"
    if annotation is SecretStr:
        return "secret string"
    return {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}.get(annotation, str(annotation))


def _limits(field) -> str:
    words = []
    for m in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                words.append(f"{sign} {getattr(m, attr)}")
        if getattr(m, "pattern", None):
            words.append(f"matches `{m.pattern}`")
    return f" ({', '.join(words)})" if words else ""


def default_text(field, extra: dict) -> str:
    if "default_text" in extra:
        return f"`{extra['default_text']}`"
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "none"
    if isinstance(value, (list, dict)) and not value:
        return "empty"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def missing_descriptions() -> list[str]:
    """Settings fields without a description: each one is a gap in the reference."""
    missing = []
    for where, model in (("", Settings), ("environments.NAME.", EnvironmentSettings), ("digest.", DigestSettings)):
        for name, field, _ in _fields(model):
            if not (field.description or "").strip():
                missing.append(where + key_of(name, field))
    return missing


def process_variables() -> dict[str, str]:
    """Every environment variable the processes read that a deployment passes: secrets, URLs and the
    variables Slack's and GitHub's own tools name, each with its description."""
    out: dict[str, str] = {}
    for name, field, _ in _fields(Settings):
        names = env_names("DRIFTBOT_", name, field)
        if is_secret(field) or name.endswith("_url") or not names[0].startswith("DRIFTBOT_"):
            out[names[0]] = field.description or ""
    for name, field, _ in _fields(EnvironmentSettings):
        if is_secret(field) or name.endswith("_url"):
            out[f"DRIFTBOT_ENVIRONMENTS__<ENV>__{key_of(name, field).upper()}"] = field.description or ""
    out.update(OTHER_PROCESS_VARIABLES)
    return out


def _table(model: type[BaseModel], prefix: str, skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | environment variable | what it is |", "|---|---|---|---|---|"]
    for name, field, extra in _fields(model):
        if name in skip:
            continue
        env = ", ".join(f"`{n}`" for n in env_names(prefix, name, field))
        kind = _type_text(field.annotation) + _limits(field)
        if is_secret(field):
            kind += "; environment only"
        rows.append(f"| `{key_of(name, field)}` | {_cell(kind)} | {_cell(default_text(field, extra))} | {env} | "
                    f"{_cell(field.description or '')} |")
    return rows


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/gen_settings.py from bot/settings.py: do not edit by hand. -->",
        "",
        "Every setting driftbot accepts. A key is written in `driftbot.toml` (path from `--config`, else",
        "`DRIFTBOT_CONFIG`, else `./driftbot.toml`) or set in the environment, which wins: the `DRIFTBOT_`",
        "prefix and `__` between levels (`DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL`); a list is written",
        "in the environment as JSON (`DRIFTBOT_APPROVERS='[\"U0AAA\", \"S0DBAS\"]'`). An empty variable is",
        "the same as an unset one. Secrets (tokens, keys, passwords in URLs) are refused in the file.",
        "An unknown key is refused with its name. The [configuration guide](configuration.md) explains",
        "how the keys work together.",
        "",
        "## Top level",
        "",
        *_table(Settings, "DRIFTBOT_", skip=("environments", "digest")),
        "",
        "## `[environments.NAME]`",
        "",
        "One table per environment; `NAME` is lowercase letters, digits, `-` or `_`. Set either",
        "`migrations`, `git` (with `ref` and `path`) or `project`. In the environment variables,",
        "`<ENV>` is the name in capitals.",
        "",
        *_table(EnvironmentSettings, "DRIFTBOT_ENVIRONMENTS__<ENV>__"),
        "",
        "## `[digest]`",
        "",
        *_table(DigestSettings, "DRIFTBOT_DIGEST__"),
        "",
        "## Process environment",
        "",
        "The variables a deployment passes to every process (`web`, `worker`, `clock`): the secrets",
        "and URLs above, and those read before the settings are built. `compose.yaml` passes them",
        "through `env_file: driftbot.env` and the Kubernetes Secret carries them; a test reads both.",
        "",
        "| variable | what it is |",
        "|---|---|",
        *[f"| `{name}` | {_cell(text)} |" for name, text in process_variables().items()],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run python3 docs/gen_settings.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
