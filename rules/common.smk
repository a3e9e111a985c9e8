# Config validation, path templates and input functions shared by every stage.
import hashlib
import json
import os
import sys
from urllib.parse import urlparse

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


# Absolute, so that `snakemake --directory elsewhere` runs the same scripts.
SCRIPTS = os.path.join(workflow.basedir, "scripts")
SCHEMA = os.path.join(workflow.basedir, "schemas", "config.schema.yaml")
sys.path.insert(0, SCRIPTS)
from config_check import ConfigError, check as check_config  # noqa: E402

try:
    check_config(config, SCHEMA)  # one readable line naming the key
except ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, schema=SCHEMA)  # fills in the schema's defaults

SPLITS = ["train", "valid", "test"]
SIDES = ["src", "tgt"]
RUN = config["run"]

# Every results path in one place; rules fill the wildcards.
PATHS = {
    "download": "data/downloads/{filename}",
    "source_all": "results/{corpus}/raw/sources/{source}/all.{side}",
    "source_part": "results/{corpus}/raw/sources/{source}/{part}.{side}",
    "raw": "results/{corpus}/raw/{split}.{side}",
    "tok": "results/{corpus}/prep/tok/{split}.{side}",
    "clean": "results/{corpus}/prep/clean/train.{side}",
    "clean_stats": "results/{corpus}/prep/clean/stats.json",
    "subword_model": "results/{corpus}/prep/subword.model",
    "subword": "results/{corpus}/prep/subword/{split}.{lang}",
    "data_bin": "results/{corpus}/data-bin",
    "distill_shard": "results/{corpus}/distill/shards/{shard}.tgt",
    "distill_shard_stats": "results/{corpus}/distill/shards/{shard}.json",
    "distill_external": "results/{corpus}/distill/external.tgt",
    "distill_text": "results/{corpus}/distill/train.{side}",
    "distill_stats": "results/{corpus}/distill/stats.json",
    "data_bin_distill": "results/{corpus}/data-bin-distill",
    "train_done": "results/{corpus}/{system}/train.done.json",
    "checkpoints": "results/{corpus}/{system}/checkpoints",
    "average": "results/{corpus}/{system}/checkpoint.avg.pt",
    "generate_raw": "results/{corpus}/{system}/test.generate.txt",
    "hyp": "results/{corpus}/{system}/test.hyp",
    "translate_stats": "results/{corpus}/{system}/test.translate.json",
    "bleu": "results/{corpus}/{system}/test.bleu.json",
    "speed_csv": "results/{corpus}/speed.csv",
    "speed_md": "results/{corpus}/speed.md",
    "speed_figure": "results/{corpus}/figures/acceleration.png",
    "synthetic_csv": "results/{corpus}/synthetic.csv",
    "synthetic_figure": "results/{corpus}/figures/synthetic_masking.png",
    "summary_csv": "results/tables/summary.csv",
    "summary_md": "results/tables/summary.md",
    "paper_table": "results/tables/{paper}.md",
    "ctc_lm": "results/{corpus}/lm/distill.arpa.bin",
    "lm_weights": "results/{corpus}/{system}/lm_weights.json",
    "latent_pca_csv": "results/{corpus}/latent_pca.csv",
    "latent_pca_figure": "results/{corpus}/figures/latent_pca.png",
}


wildcard_constraints:
    corpus="[A-Za-z0-9_]+",
    system="[A-Za-z0-9_]+",
    source="[A-Za-z0-9_]+",
    split="train|valid|test",
    shard="[0-9]+",
    part="train|valid|test",
    side="src|tgt",
    lang="[a-z]{2,3}",
    paper="hrt|fully_nat",  # papers with published numbers in data/papers/


def script(name):
    """Absolute path of a pipeline CLI, passed to shell commands through params."""
    return os.path.join(SCRIPTS, f"{name}.py")


def config_error(key, message):
    return WorkflowError(f"config key {key}: {message}")


def check_references():
    """Cross-references the JSON schema cannot express, each reported with its config key."""
    for corpus in RUN:
        if corpus not in config["corpora"]:
            raise config_error("run", f"'{corpus}' is not a key of corpora")
        spec = config["corpora"][corpus]
        if spec["src"] == spec["tgt"]:
            raise config_error(f"corpora.{corpus}.tgt", "must differ from src")
        named = [("teacher", spec["teacher"])] + [(f"systems[{i}]", s) for i, s in enumerate(spec["systems"])]
        for key, name in named:
            if name not in config["models"]:
                raise config_error(f"corpora.{corpus}.{key}", f"'{name}' is not a key of models")
        if model_spec(spec["teacher"])["kind"] != "at":
            raise config_error(f"corpora.{corpus}.teacher", f"the teacher '{spec['teacher']}' must be of kind at")
        if model_spec(spec["teacher"]).get("data", "raw") != "raw":
            raise config_error(f"corpora.{corpus}.teacher", f"the teacher '{spec['teacher']}' must train on raw "
                               "data (its output is the distilled data)")
        for split, refs in spec["splits"].items():
            for i, ref in enumerate(refs):
                name, _, part = source_ref(ref)["source"].partition(":")
                key = f"corpora.{corpus}.splits.{split}[{i}]"
                if name not in spec["sources"]:
                    raise config_error(key, f"'{name}' is not a key of corpora.{corpus}.sources")
                if bool(part) != (spec["sources"][name]["kind"] == "gettext"):
                    raise config_error(key, "a part (name:train|valid|test) is required for gettext "
                                       "sources and not allowed for others")
        for name, source in spec["sources"].items():
            if source["kind"] == "url":
                for side in ("src", "tgt"):
                    if spec[side] not in source["members"]:
                        raise config_error(f"corpora.{corpus}.sources.{name}.members",
                                           f"no member given for language '{spec[side]}'")


def check_rows():
    """Evaluation rows of a corpus share one namespace (a decoding variant may not reuse a model's
    name); the rows named by speed and synthetic must exist."""
    for name, model in config["models"].items():
        check_fully_nat(name, model)
        if model["kind"] in ("nat", "cmlm", "fnat") and model.get("data", "raw") == "mixdistill":
            raise config_error(f"models.{name}.data", f"mixdistill is not available for kind {model['kind']}")
    for corpus in RUN:
        owner = {}
        for system in systems_of(corpus):
            for row in (model_spec(system).get("variants") or [system]):
                if row in owner:
                    raise config_error(f"models.{system}.variants.{row}", f"row '{row}' of corpus {corpus} "
                                       f"is also a row of '{owner[row]}'")
                owner[row] = system
        reference = speed_settings(corpus)["reference"]
        key = f"corpora.{corpus}.speed.reference" if "reference" in corpus_spec(corpus).get("speed", {}) else "speed.reference"
        if reference and reference not in owner and reference not in config["models"]:
            raise config_error(key, f"'{reference}' is neither a model nor a row of corpus {corpus}")
    for name, model in config["models"].items():
        init = model.get("init_from")
        if init and (init not in config["models"] or config["models"][init]["kind"] != "at"):
            raise config_error(f"models.{name}.init_from", f"'{init}' is not a model of kind at")
        swaps = [("generate", model.get("generate") or {})]
        swaps += [(f"variants.{v}", spec) for v, spec in (model.get("variants") or {}).items()]
        for key, spec in swaps:
            other = spec.get("skip_cmlm_from")
            if other and (model["kind"] != "hrt" or other not in config["models"]
                          or config["models"][other]["kind"] != "hrt"):
                raise config_error(f"models.{name}.{key}.skip_cmlm_from",
                                   f"'{other}' must be a model of kind hrt, used by a model of kind hrt")
    for corpus in RUN:
        cmlm = synthetic_settings(corpus)["cmlm"]
        if cmlm and (cmlm not in config["models"] or config["models"][cmlm]["kind"] != "cmlm"):
            raise config_error("synthetic.cmlm", f"'{cmlm}' is not a model of kind cmlm")


FNAT_KEYS = ("loss", "upsample_ratio", "vae", "glancing", "f_ratio")
FNAT_DECODING = ("ctc_beam", "lm", "lm_alpha", "lm_beta", "npd", "npd_temperature")


def check_fully_nat(name, model):
    """Fully-NAT settings only on kind fnat, and decoding options the model can run."""
    decodings = [("generate", model.get("generate") or {})]
    decodings += [(f"variants.{v}", {**(model.get("generate") or {}), **spec}) for v, spec in (model.get("variants") or {}).items()]
    if model["kind"] != "fnat":
        for key in FNAT_KEYS:
            if key in model:
                raise config_error(f"models.{name}.{key}", f"only models of kind fnat have {key}")
        for where, spec in decodings:
            for key in FNAT_DECODING:
                if key in spec:
                    raise config_error(f"models.{name}.{where}.{key}", f"only models of kind fnat decode with {key}")
        return
    ctc = model.get("loss", "ctc") == "ctc"
    for where, spec in decodings:
        if spec.get("ctc_beam", 1) > 1 and not ctc:
            raise config_error(f"models.{name}.{where}.ctc_beam", "beam search needs loss: ctc")
        if spec.get("lm") and spec.get("ctc_beam", 1) < 2:
            raise config_error(f"models.{name}.{where}.lm", "the LM is used by CTC beam search: set ctc_beam > 1")
        if spec.get("npd", 1) > 1 and not model.get("vae"):
            raise config_error(f"models.{name}.{where}.npd", "noisy parallel decoding samples VAE latents: set vae")


def source_ref(ref):
    return {"source": ref} if isinstance(ref, str) else ref


def corpus_spec(corpus):
    return config["corpora"][corpus]


def lang_of(corpus, side):
    return corpus_spec(corpus)[side]


def side_of(corpus, lang):
    spec = corpus_spec(corpus)
    for side in SIDES:
        if spec[side] == lang:
            return side
    raise WorkflowError(f"{lang} is neither side of corpus {corpus} ({spec['src']}-{spec['tgt']})")


def url_filename(url):
    """Cache name of a download: a short hash of the URL keeps different archives that share a
    base name (every WMT year's dev.tgz) apart; the mirror lookup still uses the base name."""
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    return f"{digest}-{os.path.basename(urlparse(url).path)}"


def download_table():
    """filename -> (url, sha256) over every url source of the corpora in this run."""
    table = {}
    for corpus in RUN:
        for name, source in corpus_spec(corpus)["sources"].items():
            if source["kind"] != "url":
                continue
            filename = url_filename(source["url"])
            entry = (source["url"], source["sha256"])
            if table.setdefault(filename, entry) != entry:
                raise config_error(f"corpora.{corpus}.sources.{name}.sha256",
                                   f"{source['url']} is configured elsewhere with another sha256")
    return table


def local_source_file(corpus, name, side):
    source = corpus_spec(corpus)["sources"][name]
    path = f"{source['prefix']}.{lang_of(corpus, side)}"
    if not os.path.exists(path):
        hint = (" This corpus is licensed data that cannot be downloaded: obtain it and place "
                "the files there." if source.get("licensed") else "")
        raise config_error(f"corpora.{corpus}.sources.{name}.prefix", f"{path} does not exist.{hint}")
    return path


def source_files(corpus, ref, side):
    """The file holding one side of a split entry, whatever kind of source it is."""
    name, _, part = ref.partition(":")
    kind = corpus_spec(corpus)["sources"][name]["kind"]
    if kind == "local":
        return local_source_file(corpus, name, side)
    if kind == "gettext":
        return PATHS["source_part"].format(corpus=corpus, source=name, part=part, side=side)
    return PATHS["source_all"].format(corpus=corpus, source=name, side=side)


def split_parts(corpus, split):
    """JSON-ready list of {src, tgt, every?, invert?} for scripts/assemble.py."""
    parts = []
    for ref in corpus_spec(corpus)["splits"][split]:
        ref = source_ref(ref)
        part = {side: source_files(corpus, ref["source"], side) for side in SIDES}
        part.update({k: ref[k] for k in ("every", "invert") if k in ref})
        parts.append(part)
    return parts


def model_spec(system):
    return config["models"][system]


def model_json(system):
    return json.dumps(model_spec(system), sort_keys=True)


LABELS = ("paper_name", "ablation")  # how tables name a row: never a reason to retrain or re-decode


def training_json(system):
    """What a training run depends on: not the decoding settings, not the thread count."""
    model = {k: v for k, v in model_spec(system).items() if k not in ("generate", "variants") + LABELS}
    model["train"] = {k: v for k, v in model.get("train", {}).items() if k != "threads"}
    return json.dumps(model, sort_keys=True)


def systems_of(corpus):
    return corpus_spec(corpus)["systems"]


def rows_of(corpus):
    """Evaluation rows (BLEU, speed): a model, or each of its decoding variants (CMLM1, CMLM4, ...)."""
    return [row for system in systems_of(corpus) for row in (model_spec(system).get("variants") or [system])]


def row_model(corpus, row):
    """The trained model an evaluation row of this corpus decodes."""
    for system in systems_of(corpus):
        if row in (model_spec(system).get("variants") or {}):
            return system
    return row


def row_json(corpus, row):
    """The row's model settings with its variant's overrides merged into generate."""
    model = dict(model_spec(row_model(corpus, row)))
    overrides = {k: v for k, v in (model.pop("variants", None) or {}).get(row, {}).items() if k not in LABELS}
    model = {k: v for k, v in model.items() if k not in LABELS}
    model["generate"] = {**model.get("generate", {}), **overrides}
    generate = model["generate"]
    if generate.get("skip_cmlm_from"):  # HRT Table 7 swap: the second model's checkpoint
        generate["skip_cmlm_checkpoint"] = PATHS["average"].format(corpus=corpus, system=generate["skip_cmlm_from"])
    if generate.get("npd", 1) > 1:  # Fully-NAT NPD: the teacher reranks the candidates
        generate["npd_teacher_checkpoint"] = PATHS["average"].format(corpus=corpus, system=corpus_spec(corpus)["teacher"])
    if generate.get("lm"):
        generate["lm_path"] = PATHS["ctc_lm"].format(corpus=corpus)
        if generate.get("lm_alpha") is None or generate.get("lm_beta") is None:
            generate["lm_weights_file"] = PATHS["lm_weights"].format(corpus=corpus, system=row)
    return json.dumps(model, sort_keys=True)


EXTRA_CHECKPOINTS = ("skip_cmlm_checkpoint", "npd_teacher_checkpoint")


def row_checkpoints(corpus, row):
    """Every checkpoint a row decodes with (an HRT swap row's second model, an NPD row's teacher)."""
    generate = json.loads(row_json(corpus, row))["generate"]
    own = PATHS["average"].format(corpus=corpus, system=row_model(corpus, row))
    return [own] + [generate[key] for key in EXTRA_CHECKPOINTS if generate.get(key)]


def lm_files(corpus, row):
    """The n-gram LM and tuned (alpha, beta) an LM beam-search row reads."""
    generate = json.loads(row_json(corpus, row))["generate"]
    return [generate[key] for key in ("lm_path", "lm_weights_file") if generate.get(key)]


def row_lm_files(wc):
    return lm_files(wc.corpus, wc.system)


def lm_settings(corpus):
    return {**config["ctc_lm"], **corpus_spec(corpus).get("ctc_lm", {})}


def other_checkpoints(wc):
    return row_checkpoints(wc.corpus, wc.system)[1:]


def row_checkpoint(wc):
    return row_checkpoints(wc.corpus, wc.system)[0]


with open(SCHEMA, encoding="utf-8") as _schema:
    # the schema's per-rule defaults; a config's own entries are laid over them (job_spec)
    RESOURCE_DEFAULTS = yaml.safe_load(_schema)["properties"]["compute"]["properties"]["resources"]["x-rule-defaults"]


def job_spec(rule):
    """A rule's runtime/mem_mb/cpus: the schema's default and per-rule entries, then the config's
    `default`, then the config's entry for the rule, each over the one before."""
    ours = config["compute"]["resources"]
    return {**RESOURCE_DEFAULTS.get("default", {}), **RESOURCE_DEFAULTS.get(rule, {}), **ours.get("default", {}),
            **ours.get(rule, {})}


def job_threads(rule, own):
    """A rule's threads (= its cluster CPUs): the `cpus` of job_spec, else the rule's `own` count
    (a number or a function of the wildcards)."""
    return job_spec(rule).get("cpus") or own


def job_resources(rule, gpus=0):
    """A rule's cluster resources from compute.resources and compute.slurm, as the resource names
    snakemake-executor-plugin-slurm turns into sbatch flags. Unset values are left out, so the
    profile's default-resources (or the site default) apply. `gpu` is always set: scripts read it."""
    spec = job_spec(rule)
    slurm = config["compute"]["slurm"]
    resources = {"gpu": gpus, **{key: spec[key] for key in ("runtime", "mem_mb") if key in spec}}
    partition = (slurm["gpu_partition"] or slurm["partition"]) if gpus else slurm["partition"]
    if partition:
        resources["slurm_partition"] = partition
    if slurm["account"]:
        resources["slurm_account"] = slurm["account"]
    if gpus and slurm["gpu_model"]:
        resources["gpu_model"] = slurm["gpu_model"]
    return resources


def training_threads(wc):
    """CPU threads of one training job: the model's own train.threads, else the rule's cpus, else
    compute.cpu_threads."""
    return model_spec(wc.system)["train"].get("threads") or job_threads("train_model", config["compute"]["cpu_threads"])


def speed_job_threads(wc):
    """Locally the whole machine (Snakemake caps threads at --cores), so that nothing shares the CPU
    while the job times; on a cluster, where nothing caps it, the protocol's thread count."""
    timing = speed_settings(wc.corpus)["threads"] or config["compute"]["cpu_threads"]
    return job_threads("measure_speed", 4096 if workflow.local_exec else timing)


TRAINING_GPUS = config["compute"]["gpus_per_training_job"]
DECODING_GPUS = config["compute"]["gpus_per_decoding_job"]
# GPU jobs whose torch cannot use the granted GPUs fail (scripts/common.usable_gpus) unless the
# config opts in to the CPU (the local test cluster's fake GPUs).
CPU_FALLBACK = "--cpu-fallback" if config["compute"]["cpu_fallback"] else ""


def distill_spec(corpus):
    return corpus_spec(corpus)["distill"]


def distill_search_json(corpus):
    """Only the settings that change a shard's output, so that e.g. stats_sample reruns no shard."""
    keys = ("beam", "lenpen", "max_tokens", "max_len_a", "max_len_b")
    return json.dumps({k: distill_spec(corpus)[k] for k in keys}, sort_keys=True)


def per_shard(corpus, key):
    return [PATHS[key].format(corpus=corpus, shard=i) for i in range(distill_spec(corpus)["shards"])]


def distill_shards(corpus):
    """Shard outputs, or the checked external corpus when one is configured."""
    if distill_spec(corpus)["external"]:
        return [PATHS["distill_external"].format(corpus=corpus)]
    return per_shard(corpus, "distill_shard")


def distill_shard_stats(corpus):
    return [] if distill_spec(corpus)["external"] else per_shard(corpus, "distill_shard_stats")


def teacher_checkpoint(wc):
    return PATHS["average"].format(corpus=wc.corpus, system=corpus_spec(wc.corpus)["teacher"])


def subword_file(corpus, split, side):
    return PATHS["subword"].format(corpus=corpus, split=split, lang=lang_of(corpus, side))


def distill_files(corpus):
    return [PATHS["distill_text"].format(corpus=corpus, side=side) for side in SIDES]


def training_data(wc):
    """data-bin(s) a system trains on: raw, distilled, or both for MixDistill."""
    strategy = model_spec(wc.system).get("data", "raw")
    raw = PATHS["data_bin"].format(corpus=wc.corpus)
    distilled = PATHS["data_bin_distill"].format(corpus=wc.corpus)
    inputs = {"data": distilled if strategy == "distill" else raw}
    if strategy == "mixdistill":
        inputs["distill"] = distilled
    if model_spec(wc.system).get("init_from"):  # HRT's FT: the AT checkpoint it starts from
        inputs["init"] = PATHS["average"].format(corpus=wc.corpus, system=model_spec(wc.system)["init_from"])
    return inputs


def raw_files(corpus):
    return [PATHS["raw"].format(corpus=corpus, split=s, side=d) for s in SPLITS for d in SIDES]


def per_row(template):
    return [template.format(corpus=c, system=row) for c in RUN for row in rows_of(c)]


def speed_targets():
    return [PATHS[key].format(corpus=c) for c in RUN for key in ("speed_csv", "speed_md", "speed_figure")]


def speed_csvs():
    return [PATHS["speed_csv"].format(corpus=c) for c in RUN]


def synthetic_targets():
    keys = ("synthetic_csv", "synthetic_figure")
    return [PATHS[key].format(corpus=c) for c in RUN if synthetic_cmlm(c) for key in keys]


def paper_rows_json():
    """Every evaluation row that names the paper system it reproduces, with what the paper tables
    vary (data strategy, k, beams) and the speed reference of its corpus."""
    rows = []
    for corpus in RUN:
        for row in rows_of(corpus):
            spec = model_spec(row_model(corpus, row))
            variant = (spec.get("variants") or {}).get(row, {})
            name = variant.get("paper_name", spec.get("paper_name"))
            model = json.loads(row_json(corpus, row))
            if name:
                rows.append({"corpus": corpus, "row": row, "paper_name": name, "kind": model["kind"],
                             "ablation": spec.get("ablation"), "data": model.get("data", "raw"),
                             "chunk_size": model.get("chunk_size", 2), "generate": model["generate"],
                             "loss": model.get("loss", "ctc"), "vae": bool(model.get("vae")),
                             "glancing": model.get("glancing", "none"), "upsample_ratio": model.get("upsample_ratio", 3.0),
                             "lm_order": lm_settings(corpus)["order"],
                             "src": lang_of(corpus, "src"), "tgt": lang_of(corpus, "tgt"),
                             "reference": speed_reference(corpus)})
    return json.dumps(rows, sort_keys=True)


def all_targets():
    distilled = [PATHS[key].format(corpus=c) for c in RUN for key in ("data_bin_distill", "distill_stats")]
    return ([PATHS["summary_csv"], PATHS["summary_md"]] + paper_tables() + distilled
            + speed_targets() + synthetic_targets() + latent_pca_targets())


PAPERS = ("hrt", "fully_nat")


def paper_tables():
    return [PATHS["paper_table"].format(paper=paper) for paper in PAPERS]


def vae_models(corpus):
    """Fully-NAT models of the corpus with VAE latents (Figure 5 analyses their posteriors)."""
    return [s for s in systems_of(corpus) if model_spec(s)["kind"] == "fnat" and model_spec(s).get("vae")]


def latent_pca_targets():
    return [PATHS[key].format(corpus=c) for c in RUN if vae_models(c) for key in ("latent_pca_csv", "latent_pca_figure")]


def latent_pca_json(wc):
    return json.dumps([{"name": s, "model": json.loads(model_json(s)),
                        "checkpoint": PATHS["average"].format(corpus=wc.corpus, system=s)} for s in vae_models(wc.corpus)])


def speed_settings(corpus):
    """The global speed protocol with the corpus's own overrides (the sample times fewer sentences)."""
    return {**config["speed"], **corpus_spec(corpus).get("speed", {})}


def synthetic_settings(corpus):
    return {**config["synthetic"], **corpus_spec(corpus).get("synthetic", {})}


def speed_reference(corpus):
    return speed_settings(corpus)["reference"] or corpus_spec(corpus)["teacher"]


def speed_rows(corpus):
    """Every evaluation row of the corpus, plus the reference if it is not one of them."""
    rows = rows_of(corpus)
    return rows + ([speed_reference(corpus)] if speed_reference(corpus) not in rows else [])


def speed_checkpoints(wc):
    return sorted({path for r in speed_rows(wc.corpus) for path in row_checkpoints(wc.corpus, r)})


def speed_lm_files(wc):
    return sorted({path for r in speed_rows(wc.corpus) for path in lm_files(wc.corpus, r)})


def speed_rows_json(wc):
    return json.dumps([{"name": r, "model": json.loads(row_json(wc.corpus, r)),
                        "checkpoint": PATHS["average"].format(corpus=wc.corpus, system=row_model(wc.corpus, r))}
                       for r in speed_rows(wc.corpus)])


def speed_flags(wc):
    speed = speed_settings(wc.corpus)
    flags = f"--batch-sizes {' '.join(map(str, speed['batch_sizes']))} --runs {speed['runs']} "
    flags += f"--warmup-batches {speed['warmup_batches']} "
    flags += f"--max-sentences {speed['max_sentences']} " if speed["max_sentences"] else ""
    return flags + ("--gpu" if speed["gpu"] else "")


def synthetic_cmlm(corpus):
    """The CMLM that fills the masks in this corpus's synthetic experiments, or None (skipped)."""
    named = synthetic_settings(corpus)["cmlm"]
    if named:
        return named if named in systems_of(corpus) else None
    return next((s for s in systems_of(corpus) if model_spec(s)["kind"] == "cmlm"), None)


def synthetic_reference(corpus):
    row = synthetic_settings(corpus)["reference_row"]
    return row if row in rows_of(corpus) else None


def synthetic_inputs(wc):
    cmlm = synthetic_cmlm(wc.corpus)
    teacher = corpus_spec(wc.corpus)["teacher"]
    inputs = {"hyp": PATHS["hyp"].format(corpus=wc.corpus, system=teacher),
              "checkpoint": PATHS["average"].format(corpus=wc.corpus, system=cmlm),
              "data_bin": PATHS["data_bin"].format(corpus=wc.corpus),
              "subword_model": PATHS["subword_model"].format(corpus=wc.corpus),
              "ref_tok": PATHS["tok"].format(corpus=wc.corpus, split="test", side="tgt"),
              "ref": PATHS["raw"].format(corpus=wc.corpus, split="test", side="tgt")}
    reference = synthetic_reference(wc.corpus)
    if reference:
        inputs["reference_hyp"] = PATHS["hyp"].format(corpus=wc.corpus, system=reference)
    return inputs


def synthetic_flags(wc, input):
    synthetic = synthetic_settings(wc.corpus)
    flags = f"--p-mask {' '.join(map(str, synthetic['p_mask']))} --seeds {' '.join(map(str, synthetic['seeds']))} "
    flags += f"--chunk-sizes {' '.join(map(str, synthetic['chunk_sizes']))} " if synthetic["chunk_sizes"] else ""
    if "reference_hyp" in input.keys():
        flags += f"--reference-hyp {input.reference_hyp} --reference-name {synthetic_reference(wc.corpus)} "
    flags += f"--max-sentences {synthetic['max_sentences']} " if synthetic["max_sentences"] else ""
    moses = corpus_spec(wc.corpus)["preprocess"]["moses"]
    flags += "" if moses["tokenize"] else "--hyp-detokenized "
    return flags + ("--lowercase" if moses["lowercase"] else "")


# Input and parameter functions of the stage files.


def extract_inputs(wc):
    source = corpus_spec(wc.corpus)["sources"][wc.source]
    return PATHS["download"].format(filename=url_filename(source["url"]))


def gettext_flags(wc):
    source = corpus_spec(wc.corpus)["sources"][wc.source]
    flags = f"--lang {source['lang']} --catalog-dir {source['catalog_dir']} "
    flags += f"--valid {source['valid']} --test {source['test']} "
    flags += f"--train {source['train']} " if source.get("train") else ""
    if source["extra_packages"]:
        flags += f"--extra-packages {','.join(source['extra_packages'])} --cache {source['cache_dir']} "
    return flags + ("--drop-placeholders" if source["drop_placeholders"] else "--no-drop-placeholders")


def moses_flags(wc):
    moses = corpus_spec(wc.corpus)["preprocess"]["moses"]
    flags = [] if moses["normalize"] else ["--no-normalize"]
    flags += [] if moses["tokenize"] else ["--no-tokenize"]
    flags += ["--aggressive-dash-splits"] if moses["aggressive_dash_splits"] else []
    flags += ["--lowercase"] if moses["lowercase"] else []
    return " ".join(flags)


def subword_spec(corpus):
    return corpus_spec(corpus)["preprocess"]["subword"]


def segment_input(wc):
    side = side_of(wc.corpus, wc.lang)
    template = PATHS["clean"] if wc.split == "train" else PATHS["tok"]
    return template.format(corpus=wc.corpus, split=wc.split, side=side)


def binarize_inputs(wc):
    return [subword_file(wc.corpus, split, side) for split in SPLITS for side in SIDES]


check_references()
check_rows()
