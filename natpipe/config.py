"""The natpipe config schema, assembled from schemas/config.schema.yaml and the system registry,
and the one validation every entry point uses: one readable error, then the defaults filled in.

The YAML schema holds what every model shares; each system (natpipe/systems/<name>/system.py)
adds its own model and decoding keys, with their defaults and descriptions. A model is resolved
with the schema of its own kind, so that it carries every default of its kind and nothing of
another's. Snakemake's validate() is not used: it prints whole sub-schemas and cannot take an
assembled schema.
"""
from __future__ import annotations

import copy
import difflib
import functools
import re
from pathlib import Path

import jsonschema
import yaml

from natpipe.registry import ConfigError, system_of, systems

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"
LABELS = ("paper_name", "paper", "ablation")  # how tables name a row: never a reason to retrain or re-decode


def paper_labels(value) -> list[str]:
    """A model's `paper` label as a list of paper packages: null -> [] (every paper's tables where
    its paper_name fits), "hrt" -> ["hrt"], ["fully_nat", "mtnat"] -> itself (one model that is the
    same system in several papers, e.g. the WMT presets' at_base)."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def update_freq(train: dict, gpus: int) -> int:
    """fairseq's --update-freq: the gradient accumulation that reaches `effective_batch_tokens` on
    the GPUs at hand (the CPU counts as one device), else the configured update_freq."""
    target = train.get("effective_batch_tokens")
    if not target:
        return train.get("update_freq", 1)
    per_step = train.get("max_tokens", 4096) * max(gpus, 1)
    return max(1, round(target / per_step))


def _without_defaults(fragment: dict) -> dict:
    """A schema fragment that validates the same values but fills nothing in."""
    if isinstance(fragment, dict):
        return {k: _without_defaults(v) for k, v in fragment.items() if k != "default"}
    if isinstance(fragment, list):
        return [_without_defaults(v) for v in fragment]
    return fragment


def _kind_enum(base: dict) -> dict:
    summaries = "; ".join(f"{s.kind}: {s.summary}" for s in systems())
    return {**base, "enum": [s.kind for s in systems()], "description": f"Model family. {summaries}."}


@functools.lru_cache(maxsize=None)
def base_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _model_schema(own: list, fill: bool) -> dict:
    """The model block with the keys of the systems `own` (all of them: any kind validates)."""
    model = copy.deepcopy(base_schema()["$defs"]["model"])
    props, generate = model["properties"], model["properties"]["generate"]["properties"]
    variant = model["properties"]["variants"]["additionalProperties"]["properties"]
    props["kind"] = _kind_enum(props["kind"])
    for system in own:
        if fill:  # a resolved row also names the files the workflow found for it
            generate.update({k: {"description": v, "type": "string"} for k, v in system.decoding_file_keys.items()})
        for key, fragment in system.settings.items():
            props[key] = fragment if fill else _without_defaults(fragment)
        for key, fragment in system.decoding.items():
            generate[key] = fragment if fill else _without_defaults(fragment)
            variant[key] = _without_defaults(fragment)
    for key, fragment in generate.items():  # a variant overrides any key of generate, defaults stay there
        variant.setdefault(key, _without_defaults(fragment))
    return model


@functools.lru_cache(maxsize=None)
def config_schema() -> dict:
    """The whole config schema: every kind's keys allowed, no kind's own defaults."""
    schema = copy.deepcopy(base_schema())
    schema["$defs"]["model"] = _model_schema(systems(), fill=False)
    return schema


@functools.lru_cache(maxsize=None)
def kind_schema(kind: str) -> dict:
    """One model of this kind, with the defaults of the shared keys and of the kind's own."""
    return {"$defs": base_schema()["$defs"], **_model_schema([system_of({"kind": kind})], fill=True)}


def _filling_validator():
    """Draft 2020-12 that also writes each missing property's default into the instance."""
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties})


FillingValidator = _filling_validator()


def dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    where = dotted(list(prefix.split(".") if prefix else []) + list(error.absolute_path))
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        key = unknown[0] if unknown else "?"
        head = "" if where == "(top level)" else where + "."
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
        return f"config key {head}{key}: unknown key{suggestion}"
    return f"config key {where}: {error.message}"


def _check(instance, schema: dict, prefix: str = "") -> None:
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(instance))
    if error is not None:
        raise ConfigError(describe(error, prefix))


def _foreign_keys(name: str, model: dict) -> None:
    """A key of another kind gets an error naming the kinds that have it."""
    own = system_of(model)
    shared = base_schema()["$defs"]["model"]["properties"]
    shared_generate = shared["generate"]["properties"]
    decodings = [("generate", model.get("generate") or {})]
    decodings += [(f"variants.{v}", spec) for v, spec in (model.get("variants") or {}).items()]
    for key in model:
        if key not in shared and key not in own.settings:
            owners = [s.kind for s in systems() if key in s.settings]
            raise ConfigError(f"config key models.{name}.{key}: only models of kind {' or '.join(owners)} have {key}")
    for where, spec in decodings:
        for key in spec:
            if key not in shared_generate and key not in own.decoding and key not in LABELS \
                    and not (where == "generate" and key in own.decoding_file_keys):
                owners = [s.kind for s in systems() if key in s.decoding]
                raise ConfigError(f"config key models.{name}.{where}.{key}: only models of kind "
                                  f"{' or '.join(owners)} decode with {key}")


def resolve_model(model: dict, name: str = "<model>") -> dict:
    """A copy of one model's settings with every default of its kind filled in (idempotent)."""
    _foreign_keys(name, model)
    resolved = copy.deepcopy(model)
    FillingValidator(kind_schema(model["kind"])).validate(resolved)
    return resolved


def validate(config: dict) -> dict:
    """Check a config (one error naming the key), fill in every default, resolve every model
    with its kind and run each system's own checks. Returns the config, changed in place."""
    _check(config, config_schema())
    FillingValidator(config_schema()).validate(config)
    models = config["models"]
    for name in list(models):
        models[name] = resolve_model(models[name], name)
    for name, model in models.items():
        system_of(model).check(name, model, models)
    return config
