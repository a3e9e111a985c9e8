"""The system registry: every model family natpipe trains is one `System`, defined in its own
package natpipe/systems/<name>/ (module `system`), next to its fairseq model, criterion, task,
generator and paper tables.

A System owns its config keys (JSON-schema fragments with their defaults and descriptions;
natpipe.config assembles the config schema from them), its cross-key checks, its fairseq train
and decode flags, the extra files its jobs read, and what the workflow may ask of it (can it be
a teacher, fill masks, has it latents). The workflow and the scripts dispatch through
`system_of(model)`; no kind is compared anywhere else. Adding a system is adding a package.

This module imports neither torch nor fairseq: Snakemake reads it at start.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass

import natpipe.systems
from natpipe.errors import ConfigError


def config_error(key: str, message: str) -> ConfigError:
    return ConfigError(f"config key {key}: {message}")


@dataclass(frozen=True)
class Files:
    """The files of one corpus that a system's jobs may read, as the workflow lays them out;
    `teacher` is the system's distillation teacher (its distill_teacher, else the corpus's)."""

    corpus: str
    teacher: str
    paths: dict

    def path(self, key: str, **wildcards) -> str:
        return self.paths[key].format(corpus=self.corpus, **wildcards)

    def checkpoint(self, system: str) -> str:
        """The averaged checkpoint of another model of the corpus."""
        return self.path("average", system=system)

    def teacher_checkpoint(self) -> str:
        return self.checkpoint(self.teacher)

    def distilled_lm(self) -> str:
        """The n-gram LM trained on the teacher's distilled targets."""
        return self.path("ctc_lm", teacher=self.teacher)


SLOWEST = "*"  # SpeedCost's stand-in for the slowest Table 10 system at each device and batch size


@dataclass(frozen=True)
class SpeedCost:
    """A row's decoding cost in the units of HRT Table 10 (data/papers/hrt.csv, rows table10):
    `table10` is a weighted sum of published systems, each (system, setting, weight), whose
    times natpipe.speed_estimate carries to the row's model size, device and threads; `search_s`
    adds seconds per sentence of search on the CPU that neither changes (Fully NAT's CTC beam)."""

    table10: tuple[tuple[str, str, float], ...]
    search_s: float = 0.0


def decodings(model: dict) -> list[tuple[str, dict]]:
    """(config key, generate settings) of the model's own decoding and of each variant's."""
    generate = model.get("generate") or {}
    return [("generate", generate)] + [(f"variants.{name}", {**generate, **spec})
                                       for name, spec in (model.get("variants") or {}).items()]


class System:
    """One model family. Subclasses set the class attributes and override what differs."""

    kind: str = ""
    summary: str = ""  # one clause for the config schema's `kind` description
    settings: dict = {}  # model keys of this kind -> JSON-schema fragment (with its default)
    decoding: dict = {}  # generate / variants keys of this kind -> JSON-schema fragment
    decoding_file_keys: dict = {}  # generate keys decoding_files() adds (never in a config) -> what it is
    data_strategies: tuple = ("raw", "distill", "mixdistill")
    fairseq_modules: tuple = ()  # modules of the package that register fairseq components
    teaches: bool = False  # may be a corpus's teacher (its beam output is the distilled data)
    fills_masks: bool = False  # the synthetic experiments can fill masks with it in one pass
    converts_to_ctranslate2: bool = False  # ct2-fairseq-converter takes its checkpoints (the ctranslate2 rows)

    def vocabulary(self, model: dict) -> str | None:
        """The pretrained vocabulary (a key of the config's `vocabularies`) this model's data is
        segmented and binarized with; None: the corpus's own subword model. A system built on a
        pretrained model (XLM-D on XLM-R) returns its model's vocabulary here."""
        return model.get("vocabulary")

    def pretrained(self, model: dict) -> str | None:
        """The key of the config's `pretrained` whose checkpoint this model starts from (XLM-D:
        XLM-R), so that the workflow downloads and unpacks it; None: none."""
        return None

    @classmethod
    def default(cls, key: str):
        """The default of one of this kind's keys ("vae.latent_dim" for a nested one), so that
        the fairseq components' own defaults are this one value too."""
        head, *rest = key.split(".")
        fragment = {**cls.settings, **cls.decoding}[head]
        for part in rest:
            fragment = fragment["properties"][part]
        return fragment["default"]

    def has_latents(self, model: dict) -> bool:
        """Whether the model has per-source-position latents (Figure 5's PCA)."""
        return False

    # -- config -----------------------------------------------------------------------------
    def check(self, name: str, model: dict, models: dict) -> None:
        """Cross-key rules of this kind (the schema checks single values). `models` is every
        resolved model of the config, for keys that name another model."""
        strategy = model.get("data", "raw")
        if strategy not in self.data_strategies:
            raise config_error(f"models.{name}.data", f"{strategy} is not available for kind {self.kind} "
                               f"(use {' or '.join(self.data_strategies)})")

    # -- training ---------------------------------------------------------------------------
    def task_args(self, model: dict, distill_bin: str | None) -> list[str]:
        raise NotImplementedError

    def model_args(self, model: dict) -> list[str]:
        """Architecture flags beyond the shared sizes (natpipe's own architectures)."""
        return []

    def criterion_args(self, model: dict) -> list[str]:
        raise NotImplementedError

    def training_inputs(self, model: dict, files: Files) -> dict[str, str]:
        """Extra files a training job reads, by name (e.g. the checkpoint it starts from)."""
        return {}

    def training_input_args(self, inputs: dict[str, str]) -> list[str]:
        """fairseq-train flags for the files of `training_inputs`."""
        return []

    # -- decoding ---------------------------------------------------------------------------
    def decoding_files(self, generate: dict, files: Files, row: str) -> dict[str, str]:
        """Extra files a decoding row reads, as generate keys of `decoding_file_keys` (a second
        model, an LM, ...)."""
        return {}

    def decode_args(self, search: dict, model: dict) -> list[str]:
        """fairseq-generate task and search flags of one decoding (`search`: resolved generate)."""
        raise NotImplementedError

    def standalone_decoding(self, generate: dict) -> dict:
        """The model's own decoding without the files of `decoding_files` (a second model, an
        LM): what a training job can run on its checkpoints for the learning curve's BLEU."""
        return generate

    # -- speed ------------------------------------------------------------------------------
    def speed_cost(self, model: dict) -> SpeedCost:
        """What one row of this kind costs to decode, for the speed jobs' runtime estimate
        (natpipe/speed_estimate.py); `model` is the row's resolved model (its variant merged
        into generate). Default, for a kind that says nothing: the slowest HRT Table 10 system
        at every device and batch size."""
        return SpeedCost(((SLOWEST, "", 1.0),))


def _packages() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(natpipe.systems.__path__) if info.ispkg)


@functools.lru_cache(maxsize=None)
def _registry() -> dict[str, System]:
    found: dict[str, System] = {}
    for package in _packages():
        module = importlib.import_module(f"natpipe.systems.{package}.system")
        for system in module.SYSTEMS:
            if system.kind in found:
                raise RuntimeError(f"kind {system.kind} is defined twice (natpipe/systems/{package})")
            system.package = package
            found[system.kind] = system
    return found


def systems() -> list[System]:
    return list(_registry().values())


def system_of(model: dict | str) -> System:
    """The System of a model's settings (or of a kind name)."""
    kind = model if isinstance(model, str) else model["kind"]
    try:
        return _registry()[kind]
    except KeyError:
        raise ConfigError(f"unknown model kind {kind!r} (known: {', '.join(_registry())})") from None


def load_fairseq_modules() -> None:
    """Import every system's fairseq modules, which registers them with fairseq."""
    for system in systems():
        for module in system.fairseq_modules:
            importlib.import_module(f"natpipe.systems.{system.package}.{module}")


def paper_packages() -> list[str]:
    """Systems' packages with paper tables (a `tables` module and data/papers/<package>.csv)."""
    return [p for p in _packages() if importlib.util.find_spec(f"natpipe.systems.{p}.tables") is not None]
