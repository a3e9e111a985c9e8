"""Validate a natpipe config against schemas/config.schema.yaml with one readable error.

Snakemake's own validate() prints the whole sub-schema; a researcher needs the dotted key
that is wrong and, for a typo, the key that was probably meant.
"""
from __future__ import annotations

import difflib
import re

import jsonschema
import yaml


class ConfigError(ValueError):
    pass


def dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(error: jsonschema.ValidationError) -> str:
    where = dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        key = unknown[0] if unknown else "?"
        prefix = "" if where == "(top level)" else where + "."
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
        return f"config key {prefix}{key}: unknown key{suggestion}"
    return f"config key {where}: {error.message}"


def check(config: dict, schema_path: str) -> None:
    with open(schema_path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(describe(error))
