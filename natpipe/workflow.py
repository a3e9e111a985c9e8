"""Config resolution of the Snakemake workflow: rows, checkpoints, paths, resources and shell flags.

rules/common.smk builds one `Workflow` from the validated config and the path table; the rules
call its methods (input functions take the wildcards). Plain Python, so that every resolution is
unit-tested without Snakemake. Kinds are never compared here: what differs between systems is
asked of the registry (natpipe.registry). Every config value that reaches a shell command is
quoted here (shlex) or by the rule (`:q`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from urllib.parse import urlparse

from natpipe.config import LABELS, base_schema, paper_labels, validate
from natpipe.registry import Files, config_error, paper_packages, system_of, systems
from natpipe.speed_estimate import DEFAULT_TEST_SENTENCES, job_seconds

SPLITS = ["train", "valid", "test"]
SIDES = ["src", "tgt"]
ROMANIAN = "ro"  # the language whose sides preprocess.romanian applies to


# Every results path in one place; rules fill the wildcards.
PATHS = {
    "download": "data/downloads/{filename}",
    # a pretrained model's files (config `pretrained`), unpacked from its downloaded archive
    "pretrained_checkpoint": "data/pretrained/{pretrained}/model.pt",
    "pretrained_dictionary": "data/pretrained/{pretrained}/dict.txt",
    "pretrained_spm": "data/pretrained/{pretrained}/sentencepiece.bpe.model",
    "source_all": "results/{corpus}/raw/sources/{source}/all.{side}",
    "source_part": "results/{corpus}/raw/sources/{source}/{part}.{side}",
    "raw": "results/{corpus}/raw/{split}.{side}",
    "tok": "results/{corpus}/prep/tok/{split}.{side}",
    # references 2..n of a multi-reference test set (reference 1 is the test split's tgt side)
    "source_ref": "results/{corpus}/raw/sources/{source}/ref{ref}.tgt",
    "raw_ref": "results/{corpus}/raw/test.ref{ref}.tgt",
    "tok_ref": "results/{corpus}/prep/tok/test.ref{ref}.tgt",
    "clean": "results/{corpus}/prep/clean/train.{side}",
    "clean_stats": "results/{corpus}/prep/clean/stats.json",
    "subword_model": "results/{corpus}/prep/subword.model",
    "subword": "results/{corpus}/prep/subword/{split}.{lang}",
    "data_bin": "results/{corpus}/data-bin",
    "vocab_subword": "results/{corpus}/vocab/{vocab}/subword/{split}.{lang}",
    "vocab_distill": "results/{corpus}/vocab/{vocab}/distill/{teacher}/train.{lang}",
    "vocab_data_bin": "results/{corpus}/vocab/{vocab}/data-bin",
    "vocab_data_bin_distill": "results/{corpus}/vocab/{vocab}/distill/{teacher}/data-bin",
    # one distillation per teacher AT (a corpus's teacher, or a model's distill_teacher)
    "distill_shard": "results/{corpus}/distill/{teacher}/shards/{shard}.tgt",
    "distill_shard_stats": "results/{corpus}/distill/{teacher}/shards/{shard}.json",
    "distill_external": "results/{corpus}/distill/external.tgt",
    "distill_text": "results/{corpus}/distill/{teacher}/train.{side}",
    "distill_stats": "results/{corpus}/distill/{teacher}/stats.json",
    "data_bin_distill": "results/{corpus}/distill/{teacher}/data-bin",
    "train_done": "results/{corpus}/{system}/train.done.json",
    "checkpoints": "results/{corpus}/{system}/checkpoints",
    "average": "results/{corpus}/{system}/checkpoint.avg.pt",
    # the averaged checkpoint converted by ct2-fairseq-converter (a directory; its source's checksum inside)
    "ct2_model": "results/{corpus}/{system}/ctranslate2",
    "generate_raw": "results/{corpus}/{system}/test.generate.txt",
    "hyp": "results/{corpus}/{system}/test.hyp",
    "translate_stats": "results/{corpus}/{system}/test.translate.json",
    "bleu": "results/{corpus}/{system}/test.bleu.json",
    "speed_csv": "results/{corpus}/speed.csv",
    "speed_row_csv": "results/{corpus}/speed/{system}.csv",  # one speed job's (named by its first row): its rows and the reference
    "speed_md": "results/{corpus}/speed.md",
    "speed_figure": "results/{corpus}/figures/acceleration.png",
    "synthetic_csv": "results/{corpus}/synthetic.csv",
    "synthetic_figure": "results/{corpus}/figures/synthetic_masking.png",
    "summary_csv": "results/tables/summary.csv",
    "summary_md": "results/tables/summary.md",
    "paper_table": "results/tables/{paper}.md",
    "ctc_lm": "results/{corpus}/distill/{teacher}/lm.arpa.bin",  # Fully NAT's n-gram LM on the distilled targets
    "lm_weights": "results/{corpus}/{system}/lm_weights.json",
    "curves_csv": "results/{corpus}/learning_curves.csv",
    "curves_figure": "results/{corpus}/figures/learning_curves.png",
    "latent_pca_csv": "results/{corpus}/latent_pca.csv",
    "latent_pca_figure": "results/{corpus}/figures/latent_pca.png",
}


def flags(*args) -> str:
    """Shell-quoted command-line words (empty words and None dropped)."""
    return shlex.join(str(a) for a in args if a is not None and a != "")


def source_ref(ref):
    return {"source": ref} if isinstance(ref, str) else ref


def url_filename(url: str) -> str:
    """Cache name of a download: a short hash of the URL keeps different archives that share a
    base name (every WMT year's dev.tgz) apart; the mirror lookup still uses the base name."""
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    return f"{digest}-{os.path.basename(urlparse(url).path)}"


class Workflow:
    def __init__(self, config: dict, paths: dict = PATHS, local_exec: bool = True):
        self.config = validate(config)
        self.paths = paths
        self.local_exec = local_exec
        self.run = config["run"]
        compute = config["compute"]
        self.training_gpus = compute["gpus_per_training_job"]
        self.decoding_gpus = compute["gpus_per_decoding_job"]
        # GPU jobs whose torch cannot use the granted GPUs fail (scripts/common.usable_gpus) unless
        # the config opts in to the CPU (the local test cluster's fake GPUs).
        self.cpu_fallback = "--cpu-fallback" if compute["cpu_fallback"] else ""
        self.check_references()
        self.check_rows()
        self.check_speed_estimates()

    # -- lookups ------------------------------------------------------------------------------
    def corpus_spec(self, corpus):
        return self.config["corpora"][corpus]

    def model_spec(self, system):
        return self.config["models"][system]

    def lang_of(self, corpus, side):
        return self.corpus_spec(corpus)[side]

    def side_of(self, corpus, lang):
        spec = self.corpus_spec(corpus)
        for side in SIDES:
            if spec[side] == lang:
                return side
        raise ValueError(f"{lang} is neither side of corpus {corpus} ({spec['src']}-{spec['tgt']})")

    def path(self, key, **wildcards) -> str:
        return self.paths[key].format(**wildcards)

    def files(self, corpus, system=None) -> Files:
        """The corpus's files as `system`'s jobs see them (its distillation teacher's)."""
        teacher = self.distill_teacher(corpus, system) if system else self.corpus_spec(corpus)["teacher"]
        return Files(corpus, teacher, self.paths)

    def systems_of(self, corpus):
        return self.corpus_spec(corpus)["systems"]

    def settings(self, section, corpus):
        """A global section (speed, synthetic, ctc_lm) with the corpus's own overrides."""
        return {**self.config[section], **self.corpus_spec(corpus).get(section, {})}

    def subword_spec(self, corpus):
        return self.corpus_spec(corpus)["preprocess"]["subword"]

    def distill_spec(self, corpus):
        return self.corpus_spec(corpus)["distill"]

    # -- checks the schema cannot express ------------------------------------------------------
    def check_references(self):
        for name, entry in self.config["vocabularies"].items():
            if "pretrained" in entry and entry["pretrained"] not in self.config["pretrained"]:
                raise config_error(f"vocabularies.{name}.pretrained", f"'{entry['pretrained']}' is not a key of pretrained")
        for corpus in self.run:
            if corpus not in self.config["corpora"]:
                raise config_error("run", f"'{corpus}' is not a key of corpora")
            spec = self.corpus_spec(corpus)
            if spec["src"] == spec["tgt"]:
                raise config_error(f"corpora.{corpus}.tgt", "must differ from src")
            named = [("teacher", spec["teacher"])] + [(f"systems[{i}]", s) for i, s in enumerate(spec["systems"])]
            for key, name in named:
                if name not in self.config["models"]:
                    raise config_error(f"corpora.{corpus}.{key}", f"'{name}' is not a key of models")
            self.check_teacher(f"corpora.{corpus}.teacher", spec["teacher"])
            for system in spec["systems"]:
                named = self.model_spec(system)["distill_teacher"]
                if named:
                    key = f"models.{system}.distill_teacher"
                    if named not in self.config["models"]:
                        raise config_error(key, f"'{named}' is not a key of models")
                    self.check_teacher(key, named)
            for name in self.trained_models(corpus):
                vocab, model = self.vocabulary(name), self.model_spec(name)
                if vocab is not None and vocab not in self.config["vocabularies"] and vocab not in self.config["pretrained"]:
                    raise config_error(f"models.{name}.vocabulary", f"'{vocab}' is not a key of vocabularies or of pretrained")
                pretrained = system_of(model).pretrained(model)
                if pretrained is not None and pretrained not in self.config["pretrained"]:
                    raise config_error(f"models.{name}.pretrained", f"'{pretrained}' is not a key of pretrained")
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
                    for side in SIDES:
                        if spec[side] not in source["members"]:
                            raise config_error(f"corpora.{corpus}.sources.{name}.members",
                                               f"no member given for language '{spec[side]}'")
                for lang in source.get("references", {}):
                    if lang not in (spec["src"], spec["tgt"]):
                        raise config_error(f"corpora.{corpus}.sources.{name}.references.{lang}",
                                           f"'{lang}' is neither side of corpus {corpus} ({spec['src']}-{spec['tgt']})")
            if any(spec["preprocess"]["romanian"].values()) and ROMANIAN not in (spec["src"], spec["tgt"]):
                raise config_error(f"corpora.{corpus}.preprocess.romanian", f"applies to a side whose language is "
                                   f"'{ROMANIAN}', and corpus {corpus} is {spec['src']}-{spec['tgt']}")
            counts = {name: 1 + len(self.extra_references(corpus, name)) for name in self.test_sources(corpus)}
            if len(set(counts.values())) > 1:
                raise config_error(f"corpora.{corpus}.splits.test", "every test sentence must have the same number "
                                   "of references, but " + ", ".join(f"{n} has {c}" for n, c in counts.items()))

    def check_teacher(self, key, name):
        teacher = self.model_spec(name)
        if not system_of(teacher).teaches:
            raise config_error(key, f"the teacher '{name}' must be of kind at")
        if teacher["data"] != "raw":
            raise config_error(key, f"the teacher '{name}' must train on raw data (its output is the distilled data)")
        if teacher["distill_teacher"]:
            raise config_error(key, f"the teacher '{name}' names a distill_teacher of its own, which it never uses")

    def check_rows(self):
        """Evaluation rows of a corpus share one namespace (a decoding variant may not reuse a
        model's name); the rows named by speed and synthetic must exist."""
        for corpus in self.run:
            owner = {}
            for system in self.systems_of(corpus):
                label = self.model_spec(system)["paper"]
                for i, paper in enumerate(paper_labels(label)):  # a name, or a list of them
                    if paper not in paper_packages():
                        key = f"models.{system}.paper" + ("" if isinstance(label, str) else f"[{i}]")
                        raise config_error(key, f"'{paper}' is not a paper with tables "
                                           f"({', '.join(paper_packages())})")
                for row in (self.model_spec(system)["variants"] or [system]):
                    if row in owner:
                        raise config_error(f"models.{system}.variants.{row}", f"row '{row}' of corpus {corpus} "
                                           f"is also a row of '{owner[row]}'")
                    owner[row] = system
            # a corpus's own list names its systems; the top-level one spans corpora and configs (each
            # corpus takes the systems it has; a name no config model has is skipped)
            own = "models" in self.corpus_spec(corpus).get("ctranslate2", {})
            for model in self.settings("ctranslate2", corpus)["models"] or []:
                if not own and model not in self.config["models"]:
                    continue
                known = model in self.systems_of(corpus) or not own
                if not known or not system_of(self.model_spec(model)).converts_to_ctranslate2:
                    where = f"an AT system of corpus {corpus}" if own else "an AT model"
                    raise config_error(f"corpora.{corpus}.ctranslate2.models" if own else "ctranslate2.models",
                                       f"'{model}' is not {where} (CTranslate2 converts "
                                       f"kind {', '.join(s.kind for s in systems() if s.converts_to_ctranslate2)})")
            for system in self.systems_of(corpus):
                for row in self.ctranslate2_rows(corpus, system):
                    if row in owner or row in self.config["models"]:
                        raise config_error("ctranslate2", f"the CTranslate2 row '{row}' of corpus {corpus} is "
                                           f"also a row of '{owner.get(row, row)}' (rename that model or row)")
                    owner[row] = system
            reference = self.settings("speed", corpus)["reference"]
            own = "reference" in self.corpus_spec(corpus).get("speed", {})
            key = f"corpora.{corpus}.speed.reference" if own else "speed.reference"
            if reference and reference not in owner and reference not in self.config["models"]:
                raise config_error(key, f"'{reference}' is neither a model nor a row of corpus {corpus}")
            cmlm = self.settings("synthetic", corpus)["cmlm"]
            if cmlm and (cmlm not in self.config["models"] or not system_of(self.model_spec(cmlm)).fills_masks):
                raise config_error("synthetic.cmlm", f"'{cmlm}' is not a model of kind cmlm")
            at_model = self.settings("synthetic", corpus)["at_model"]
            if at_model and (at_model not in self.systems_of(corpus) or not system_of(self.model_spec(at_model)).teaches):
                raise config_error("synthetic.at_model", f"'{at_model}' is not an AT system of corpus {corpus}")

    # -- data ---------------------------------------------------------------------------------
    def download_table(self):
        """filename -> (url, sha256) over every url source of the corpora in this run and every
        pretrained archive their models use."""
        table = {}
        for corpus in self.run:
            for name, source in self.corpus_spec(corpus)["sources"].items():
                if source["kind"] != "url":
                    continue
                entry = (source["url"], source["sha256"])
                if table.setdefault(url_filename(source["url"]), entry) != entry:
                    raise config_error(f"corpora.{corpus}.sources.{name}.sha256",
                                       f"{source['url']} is configured elsewhere with another sha256")
            for name in self.pretrained_of(corpus):
                spec = self.config["pretrained"][name]
                entry = (spec["url"], spec["sha256"])
                if table.setdefault(url_filename(spec["url"]), entry) != entry:
                    raise config_error(f"pretrained.{name}.sha256", f"{spec['url']} is configured elsewhere with another sha256")
        return table

    def sha256_flags(self, wc):
        """A download's --sha256; none for sha256 null (fetch then warns), since an empty quoted
        word reaches the shell as no word at all and the option would take the next one."""
        sha256 = self.download_table()[wc.filename][1]
        return flags("--sha256", sha256) if sha256 else ""

    def mirror_flags(self):
        return flags("--mirror", self.config["mirror"]) if self.config.get("mirror") else ""

    def local_source_file(self, corpus, name, side):
        source = self.corpus_spec(corpus)["sources"][name]
        path = f"{source['prefix']}.{self.lang_of(corpus, side)}"
        if not os.path.exists(path):
            hint = (" This corpus is licensed data that cannot be downloaded: obtain it and place "
                    "the files there." if source.get("licensed") else "")
            raise config_error(f"corpora.{corpus}.sources.{name}.prefix", f"{path} does not exist.{hint}")
        return path

    def source_file(self, corpus, ref, side):
        """The file holding one side of a split entry, whatever kind of source it is."""
        name, _, part = ref.partition(":")
        kind = self.corpus_spec(corpus)["sources"][name]["kind"]
        if kind == "local":
            return self.local_source_file(corpus, name, side)
        if kind == "gettext":
            return self.path("source_part", corpus=corpus, source=name, part=part, side=side)
        return self.path("source_all", corpus=corpus, source=name, side=side)

    def split_parts(self, corpus, split):
        """JSON-ready list of {src, tgt, every?, invert?} for scripts/assemble.py."""
        parts = []
        for ref in self.corpus_spec(corpus)["splits"][split]:
            ref = source_ref(ref)
            part = {side: self.source_file(corpus, ref["source"], side) for side in SIDES}
            part.update({k: ref[k] for k in ("every", "invert") if k in ref})
            parts.append(part)
        return parts

    def extract_input(self, wc):
        source = self.corpus_spec(wc.corpus)["sources"][wc.source]
        return self.path("download", filename=url_filename(source["url"]))

    def gettext_flags(self, wc):
        source = self.corpus_spec(wc.corpus)["sources"][wc.source]
        words = ["--lang", source["lang"], "--catalog-dir", source["catalog_dir"], "--valid", source["valid"],
                 "--test", source["test"]]
        words += ["--train", source["train"]] if source.get("train") else []
        if source["extra_packages"]:
            words += ["--extra-packages", ",".join(source["extra_packages"]), "--cache", source["cache_dir"]]
        return flags(*words, "--drop-placeholders" if source["drop_placeholders"] else "--no-drop-placeholders")

    def romanian_steps(self, corpus, side):
        """preprocess.romanian for a side whose language is Romanian; for any other side, nothing."""
        if self.lang_of(corpus, side) != ROMANIAN:
            return {"normalize": False, "remove_diacritics": False}
        return self.corpus_spec(corpus)["preprocess"]["romanian"]

    def moses_flags(self, wc):
        """The processing of one side's text (scripts/moses.py; scripts/evaluate.py and synthetic.py take the
        same flags): the tokenize job's own side, else (references 2..n, scoring) the target side."""
        moses = self.corpus_spec(wc.corpus)["preprocess"]["moses"]
        romanian = self.romanian_steps(wc.corpus, getattr(wc, "side", "tgt"))
        return flags("" if moses["normalize"] else "--no-normalize", "" if moses["tokenize"] else "--no-tokenize",
                     "--aggressive-dash-splits" if moses["aggressive_dash_splits"] else "",
                     "--lowercase" if moses["lowercase"] else "",
                     "--romanian-normalize" if romanian["normalize"] else "",
                     "--remove-diacritics" if romanian["remove_diacritics"] else "")

    def raw_files(self, corpus):
        """The raw splits, and the further references of a multi-reference test set."""
        return [self.path("raw", corpus=corpus, split=s, side=d) for s in SPLITS for d in SIDES] + \
            self.extra_reference_files(corpus, "raw_ref")

    # -- multi-reference test sets ------------------------------------------------------------
    # Reference 1 is the test split's tgt side (binarized, decoded against); references 2..n are
    # raw files of the same sentences, Moses-processed like reference 1 and read only by scoring.
    def test_sources(self, corpus):
        """The names of the sources of the test split, each once, in order."""
        names = (source_ref(ref)["source"].partition(":")[0] for ref in self.corpus_spec(corpus)["splits"]["test"])
        return list(dict.fromkeys(names))

    def extra_references(self, corpus, name):
        """A source's files (local) or archive members (url) of its target side's references 2..n."""
        references = self.corpus_spec(corpus)["sources"][name].get("references", {})
        return references.get(self.lang_of(corpus, "tgt"), [])

    def n_references(self, corpus):
        """References per test sentence (the same for every test source: check_references)."""
        return 1 + len(self.extra_references(corpus, self.test_sources(corpus)[0]))

    def extra_reference_files(self, corpus, key):
        """References 2..n of the test set, as raw_ref or tok_ref files ([] for one reference)."""
        return [self.path(key, corpus=corpus, ref=ref) for ref in range(2, self.n_references(corpus) + 1)]

    def test_references(self, corpus, tokenized):
        """Every reference file of the test set, reference 1 first: Moses-processed or raw."""
        first = self.path("tok" if tokenized else "raw", corpus=corpus, split="test", side="tgt")
        return [first] + self.extra_reference_files(corpus, "tok_ref" if tokenized else "raw_ref")

    def score_references_tok(self, wc):
        return self.test_references(wc.corpus, tokenized=True)

    def score_references_raw(self, wc):
        return self.test_references(wc.corpus, tokenized=False)

    def reference_source_file(self, corpus, name, ref):
        """Where reference `ref` (2..n) of one test source lies: the user's file (local) or the
        member extracted from the source's archive (url)."""
        source = self.corpus_spec(corpus)["sources"][name]
        if source["kind"] != "local":
            return self.path("source_ref", corpus=corpus, source=name, ref=ref)
        path, tgt = self.extra_references(corpus, name)[ref - 2], self.lang_of(corpus, "tgt")
        if not os.path.exists(path):
            hint = (" This corpus is licensed data that cannot be downloaded: obtain it and place "
                    "the files there." if source.get("licensed") else "")
            raise config_error(f"corpora.{corpus}.sources.{name}.references.{tgt}[{ref - 2}]", f"{path} does not exist.{hint}")
        return path

    def reference_parts(self, corpus, ref):
        """JSON-ready list of {src, ref, every?, invert?} for scripts/assemble.py --out-ref: each test
        entry's source side (which the reference must match line for line) and its reference `ref`."""
        parts = []
        for entry in self.corpus_spec(corpus)["splits"]["test"]:
            entry = source_ref(entry)
            name = entry["source"].partition(":")[0]
            part = {"src": self.source_file(corpus, entry["source"], "src"),
                    "ref": self.reference_source_file(corpus, name, ref)}
            part.update({k: entry[k] for k in ("every", "invert") if k in entry})
            parts.append(part)
        return parts

    def reference_parts_input(self, wc):
        return [path for part in self.reference_parts(wc.corpus, int(wc.ref)) for path in (part["src"], part["ref"])]

    def reference_parts_json(self, wc):
        return json.dumps(self.reference_parts(wc.corpus, int(wc.ref)))

    def reference_member(self, wc):
        """The archive member of a url source's reference `ref`."""
        return self.extra_references(wc.corpus, wc.source)[int(wc.ref) - 2]

    def subword_file(self, corpus, split, side):
        return self.path("subword", corpus=corpus, split=split, lang=self.lang_of(corpus, side))

    def segment_input(self, wc):
        side = self.side_of(wc.corpus, wc.lang)
        key = "clean" if wc.split == "train" else "tok"
        return self.path(key, corpus=wc.corpus, split=wc.split, side=side)

    def binarize_inputs(self, wc):
        return [self.subword_file(wc.corpus, split, side) for split in SPLITS for side in SIDES]

    # -- a system's own vocabulary ------------------------------------------------------------
    def vocabulary(self, system):
        """The name of the pretrained vocabulary a model's data is segmented with, a key of
        vocabularies or of pretrained (None: the corpus's own subword model)."""
        model = self.model_spec(system)
        return system_of(model).vocabulary(model)

    def vocabulary_pretrained(self, name):
        """The pretrained archive whose files a vocabulary is (an entry {pretrained: p}, or p
        itself); None: a vocabulary of its own files."""
        entry = self.config["vocabularies"].get(name)
        if entry is None:
            return name if name in self.config["pretrained"] else None
        return entry.get("pretrained")

    def vocabulary_spec(self, name) -> dict:
        """{method, model, dictionary} of a vocabulary, whichever of its three forms names it."""
        entry = self.config["vocabularies"].get(name)
        if entry is not None and "pretrained" not in entry:
            return entry
        pretrained = self.vocabulary_pretrained(name)
        if pretrained is None:
            raise config_error("vocabularies", f"'{name}' is neither a key of vocabularies nor of pretrained")
        files = self.pretrained_files(pretrained)
        return {"method": "sentencepiece", "model": files["spm"], "dictionary": files["dictionary"]}

    def data_bin(self, corpus, system, distilled=False):
        """The model's data-bin: raw, or distilled by its distillation teacher; in its vocabulary."""
        vocab = self.vocabulary(system)
        teacher = self.distill_teacher(corpus, system)
        if vocab is None:
            return self.path("data_bin_distill", corpus=corpus, teacher=teacher) if distilled else \
                self.path("data_bin", corpus=corpus)
        if distilled:
            return self.path("vocab_data_bin_distill", corpus=corpus, vocab=vocab, teacher=teacher)
        return self.path("vocab_data_bin", corpus=corpus, vocab=vocab)

    def subword_method(self, corpus, system):
        vocab = self.vocabulary(system)
        return self.subword_spec(corpus)["method"] if vocab is None else self.vocabulary_spec(vocab)["method"]

    def subword_model(self, corpus, system):
        vocab = self.vocabulary(system)
        return self.path("subword_model", corpus=corpus) if vocab is None else self.vocabulary_spec(vocab)["model"]

    def vocabulary_model(self, wc):
        return self.vocabulary_spec(wc.vocab)["model"]

    def vocabulary_method(self, wc):
        return self.vocabulary_spec(wc.vocab)["method"]

    def vocabulary_dictionary(self, wc):
        return self.vocabulary_spec(wc.vocab)["dictionary"]

    def vocabulary_subword_files(self, wc):
        return [self.path("vocab_subword", corpus=wc.corpus, vocab=wc.vocab, split=split, lang=self.lang_of(wc.corpus, side))
                for split in SPLITS for side in SIDES]

    def row_data_bin(self, wc):
        return self.data_bin(wc.corpus, self.row_model(wc.corpus, wc.system))

    def row_subword_method(self, wc):
        return self.subword_method(wc.corpus, self.row_model(wc.corpus, wc.system))

    # -- pretrained checkpoints ---------------------------------------------------------------
    # An archive of the config's `pretrained` is downloaded (rule download) and unpacked to
    # data/pretrained/<name>/ (rule unpack_pretrained) when a model of the run names it: its
    # system's pretrained() (the checkpoint it starts from) or its vocabulary.
    def pretrained_files(self, name) -> dict[str, str]:
        """The unpacked files of a pretrained archive: checkpoint, dictionary, spm."""
        keys = {"checkpoint": "pretrained_checkpoint", "dictionary": "pretrained_dictionary", "spm": "pretrained_spm"}
        return {what: self.path(key, pretrained=name) for what, key in keys.items()}

    def pretrained_of(self, corpus) -> list[str]:
        """The pretrained archives the corpus's models use, each once, in order."""
        names = []
        for system in self.trained_models(corpus):
            model, vocab = self.model_spec(system), self.vocabulary(system)
            names += [system_of(model).pretrained(model), vocab and self.vocabulary_pretrained(vocab)]
        return list(dict.fromkeys(name for name in names if name))

    def pretrained_archive(self, wc):
        """The download an unpack_pretrained job reads."""
        spec = self.config["pretrained"].get(wc.pretrained)
        if spec is None:
            raise config_error("pretrained", f"'{wc.pretrained}' is not a key of pretrained")
        return self.path("download", filename=url_filename(spec["url"]))

    # -- distillation -------------------------------------------------------------------------
    # Each teacher AT distils the training set once (results/<corpus>/distill/<teacher>/): the
    # corpus's teacher for every model that names none, a model's distill_teacher for it.
    def distill_teacher(self, corpus, system):
        return self.model_spec(system)["distill_teacher"] or self.corpus_spec(corpus)["teacher"]

    def distill_teachers(self, corpus):
        """The teachers whose distillations the corpus's systems learn from, each once, in order."""
        learners = [s for s in self.systems_of(corpus) if self.model_spec(s)["data"] != "raw"]
        return list(dict.fromkeys(self.distill_teacher(corpus, s) for s in learners))

    def teachers_of(self, corpus):
        """The corpus's teacher and every other teacher its systems learn from."""
        return list(dict.fromkeys([self.corpus_spec(corpus)["teacher"], *self.distill_teachers(corpus)]))

    def uses_external(self, corpus, teacher):
        """distill.external stands in for the decoding of the corpus's own teacher only."""
        return bool(self.distill_spec(corpus)["external"]) and teacher == self.corpus_spec(corpus)["teacher"]

    def teacher_json(self, corpus, teacher):
        """The teacher decoding with the distillation search: only what changes a shard's
        output, so that e.g. stats_sample reruns no shard."""
        teacher = self.model_spec(teacher)
        search = {k: self.distill_spec(corpus)[k] for k in ("beam", "lenpen", "max_tokens", "max_len_a", "max_len_b")}
        model = {k: v for k, v in teacher.items() if k not in ("train", "variants") + LABELS}
        return json.dumps({**model, "generate": {**teacher["generate"], **search}}, sort_keys=True)

    def teacher_checkpoint(self, wc):
        return self.files(wc.corpus).checkpoint(wc.teacher)

    def per_shard(self, corpus, teacher, key):
        return [self.path(key, corpus=corpus, teacher=teacher, shard=i) for i in range(self.distill_spec(corpus)["shards"])]

    def distill_shards(self, wc):
        """Shard outputs, or the checked external corpus when it stands in for this teacher."""
        if self.uses_external(wc.corpus, wc.teacher):
            return [self.path("distill_external", corpus=wc.corpus)]
        return self.per_shard(wc.corpus, wc.teacher, "distill_shard")

    def distill_shard_stats(self, wc):
        return [] if self.uses_external(wc.corpus, wc.teacher) else self.per_shard(wc.corpus, wc.teacher, "distill_shard_stats")

    def distill_files(self, wc):
        return [self.path("distill_text", corpus=wc.corpus, teacher=wc.teacher, side=side) for side in SIDES]

    def distill_targets(self, corpus):
        """The data-bins and statistics of every distillation the corpus's systems learn from."""
        return [self.path(key, corpus=corpus, teacher=t) for t in self.distill_teachers(corpus)
                for key in ("data_bin_distill", "distill_stats")]

    # -- training -----------------------------------------------------------------------------
    def training_json(self, system):
        """What a training run depends on: not the decoding settings, not the thread count."""
        model = {k: v for k, v in self.model_spec(system).items() if k not in ("generate", "variants") + LABELS}
        model["train"] = {k: v for k, v in model["train"].items() if k != "threads"}
        return json.dumps(model, sort_keys=True)

    def training_inputs(self, wc):
        """What a system trains on: the raw or distilled data-bin, the distilled one too for
        MixDistill, and the extra files of its kind (e.g. HRT's FT: the AT checkpoint)."""
        model = self.model_spec(wc.system)
        raw, distilled = (self.data_bin(wc.corpus, wc.system, d) for d in (False, True))
        inputs = {"data": distilled if model["data"] == "distill" else raw}
        if model["data"] == "mixdistill":
            inputs["distill"] = distilled
        return {**inputs, **system_of(model).training_inputs(model, self.files(wc.corpus, wc.system))}

    def training_flags(self, wc, input):
        named = {k: str(getattr(input, k)) for k in input.keys()}
        extra = {k: v for k, v in named.items() if k not in ("data", "distill")}
        return flags(*(["--distill-bin", named["distill"]] if "distill" in named else []),
                     *(["--inputs", json.dumps(extra, sort_keys=True)] if extra else []))

    def trained_models(self, corpus):
        """The teacher, every system of the corpus and every other teacher they learn from, each once."""
        return list(dict.fromkeys([*self.teachers_of(corpus), *self.systems_of(corpus)]))

    def training_summaries(self, wc):
        return [self.path("train_done", corpus=wc.corpus, system=s) for s in self.trained_models(wc.corpus)]

    def training_threads(self, wc):
        """CPU threads of one training job: the model's own train.threads, else the rule's cpus,
        else compute.cpus_per_gpu per GPU (compute.cpu_threads on the CPU)."""
        own = self.model_spec(wc.system)["train"].get("threads")
        compute = self.config["compute"]
        default = compute["cpus_per_gpu"] * self.training_gpus if self.training_gpus else compute["cpu_threads"]
        return own or self.job_threads("train_model", default)

    def loader_workers(self, wc):
        """fairseq data-loader workers of each GPU's training process (none on the CPU, where they
        would take the training's own cores)."""
        return self.config["compute"]["cpus_per_gpu"] - 1 if self.training_gpus else 0

    # -- evaluation rows ----------------------------------------------------------------------
    def ctranslate2_models(self, corpus) -> list[str]:
        """The AT models whose CTranslate2 rows the corpus has: those of ctranslate2.models it has, else its teacher
        and its speed reference (when that is a model of a kind that converts)."""
        named = self.settings("ctranslate2", corpus)["models"]
        if named is not None:
            return [m for m in named if m in self.systems_of(corpus)]
        candidates = [self.corpus_spec(corpus)["teacher"], self.settings("speed", corpus)["reference"]]
        return [m for m in dict.fromkeys(candidates) if m in self.systems_of(corpus)
                and system_of(self.model_spec(m)).converts_to_ctranslate2]

    def rows_of(self, corpus):
        """Evaluation rows (BLEU, speed): a model, or each of its decoding variants (CMLM1, ...),
        then its CTranslate2 rows."""
        return [row for system in self.systems_of(corpus)
                for row in [*(self.model_spec(system)["variants"] or [system]), *self.ctranslate2_rows(corpus, system)]]

    def ctranslate2_rows(self, corpus, system) -> dict[str, dict]:
        """The CTranslate2 rows of a model, <model>_ct2_<type> -> their generate overrides: one per
        compute type of the ctranslate2 settings (the gpu ones when the run decodes on GPUs), for a
        model whose System converts and that fairseq decodes."""
        spec, wanted = self.model_spec(system), self.settings("ctranslate2", corpus)
        if system not in self.ctranslate2_models(corpus) or spec["generate"].get("engine") == "ctranslate2":
            return {}
        types = dict.fromkeys(wanted["cpu"] + (wanted["gpu"] if self.decoding_gpus > 0 else []))
        threads = {"intra_threads": wanted["intra_threads"]} if wanted["intra_threads"] else {}
        return {f"{system}_ct2_{t}": {"engine": "ctranslate2", "compute_type": t, **threads} for t in types}


    def per_row(self, template):
        return [template.format(corpus=c, system=row) for c in self.run for row in self.rows_of(c)]

    def row_model(self, corpus, row):
        """The trained model an evaluation row of this corpus decodes."""
        for system in self.systems_of(corpus):
            if row in (self.model_spec(system)["variants"] or {}) or row in self.ctranslate2_rows(corpus, system):
                return system
        return row

    def row_spec(self, corpus, row):
        """The row's resolved model: its variant merged into generate, the files the row reads
        (a second model, an LM, ...) added to generate by its system."""
        system = self.row_model(corpus, row)
        model = dict(self.model_spec(system))
        variant = (model.pop("variants", None) or {}).get(row) or self.ctranslate2_rows(corpus, system).get(row, {})
        overrides = {k: v for k, v in variant.items() if k not in LABELS}
        model = {k: v for k, v in model.items() if k not in LABELS}
        generate = {**model["generate"], **overrides}
        files = self.files(corpus, system)
        model["generate"] = {**generate, **system_of(model).decoding_files(generate, files, row)}
        if generate.get("engine") == "ctranslate2":  # any kind's converted checkpoint, made by rules/ctranslate2.smk
            model["generate"]["ct2_model"] = self.path("ct2_model", corpus=corpus, system=system)
        return model

    def row_json(self, corpus, row):
        return json.dumps(self.row_spec(corpus, row), sort_keys=True)

    def row_own_checkpoint(self, corpus, row):
        return self.files(corpus).checkpoint(self.row_model(corpus, row))

    def row_files(self, corpus, row):
        """Every file a row decodes with besides its own checkpoint (the ones row_spec added)."""
        spec = self.row_spec(corpus, row)
        found = {spec["generate"][key] for key in system_of(spec).decoding_file_keys if key in spec["generate"]}
        return sorted(found - {self.row_own_checkpoint(corpus, row)})

    def row_checkpoint(self, wc):
        return self.row_own_checkpoint(wc.corpus, wc.system)

    def row_other_files(self, wc):
        return self.row_files(wc.corpus, wc.system)

    def row_lm(self, wc):
        """The n-gram LM an LM row decodes with: its model's distillation teacher's."""
        return self.files(wc.corpus, self.row_model(wc.corpus, wc.system)).distilled_lm()

    def lm_tuning_flags(self, wc):
        """The (alpha, beta) grid an LM row's weights are tuned over, on how many sentences."""
        lm = self.settings("ctc_lm", wc.corpus)
        return flags("--alpha-grid", *lm["alpha_grid"], "--beta-grid", *lm["beta_grid"],
                     *(["--max-sentences", lm["tune_sentences"]] if lm["tune_sentences"] else []))

    # -- cluster resources --------------------------------------------------------------------
    def job_spec(self, rule):
        """A rule's runtime/mem_mb/cpus: the schema's default and per-rule entries, then the
        config's `default`, then the config's entry for the rule, each over the one before."""
        schema = base_schema()["properties"]["compute"]["properties"]["resources"]["x-rule-defaults"]
        ours = self.config["compute"]["resources"]
        return {**schema.get("default", {}), **schema.get(rule, {}), **ours.get("default", {}), **ours.get(rule, {})}

    def job_threads(self, rule, own):
        """A rule's threads (= its cluster CPUs): the `cpus` of job_spec, else the rule's `own`
        count (a number or a function of the wildcards)."""
        return self.job_spec(rule).get("cpus") or own

    def job_resources(self, rule, gpus=0):
        """A rule's cluster resources as the names snakemake-executor-plugin-slurm turns into
        sbatch flags; unset values are left out (the profile's or the site's default applies).
        `gpu` is always set: scripts read it."""
        spec, slurm = self.job_spec(rule), self.config["compute"]["slurm"]
        resources = {"gpu": gpus, **{key: spec[key] for key in ("runtime", "mem_mb") if key in spec}}
        partition = (slurm["gpu_partition"] or slurm["partition"]) if gpus else slurm["partition"]
        if partition:
            resources["slurm_partition"] = partition
        if slurm["account"]:
            resources["slurm_account"] = slurm["account"]
        if gpus and slurm["gpu_model"]:
            resources["gpu_model"] = slurm["gpu_model"]
        if gpus > 1:
            resources["nodes"] = 1  # DDP over one node's GPUs
        return resources

    # -- speed ---------------------------------------------------------------------------------
    # `measure_speed` jobs time rows together with the corpus's speed reference in one invocation
    # on one node, so that alpha = T(reference) / T(row) compares the same run and device;
    # `speed_table` gathers their CSVs into the corpus's speed.csv / speed.md / figure. With
    # speed.rows_per_job 1 (the default) there is one job per row and the reference's own job
    # times it alone; with k > 1 the other rows go k to a job (fewer jobs, fewer re-timings of the
    # reference: the sample times all its rows in one). Each job's runtime is estimated from the
    # protocol and the rows' models (natpipe/speed_estimate.py) and checked against its limit.
    def speed_reference(self, corpus):
        return self.settings("speed", corpus)["reference"] or self.corpus_spec(corpus)["teacher"]

    def speed_groups(self, corpus) -> dict[str, list[str]]:
        """Each speed job, named by its first row, -> the rows it times in order: the reference,
        then its rows (the reference's own job: the reference alone)."""
        rows, reference = self.rows_of(corpus), self.speed_reference(corpus)
        per_job = self.settings("speed", corpus)["rows_per_job"]
        others = [r for r in rows if r != reference]
        if per_job == 1 or not others:
            groups = [[reference]] + [[r] for r in others]
        else:
            groups = [others[i:i + per_job] for i in range(0, len(others), per_job)]
        return {group[0]: [reference] if group == [reference] else [reference, *group] for group in groups}

    def speed_jobs(self, corpus):
        return list(self.speed_groups(corpus))

    def speed_job_rows(self, corpus, job):
        """What the job times, in this order: the reference, then the job's rows."""
        return self.speed_groups(corpus)[job]

    def speed_inputs(self, wc):
        rows = self.speed_job_rows(wc.corpus, wc.system)
        own = {self.row_own_checkpoint(wc.corpus, r) for r in rows}
        data = {self.data_bin(wc.corpus, self.row_model(wc.corpus, r)) for r in rows}
        return sorted(own | data | {path for r in rows for path in self.row_files(wc.corpus, r)})

    def speed_rows_json(self, wc):
        rows = []
        for r in self.speed_job_rows(wc.corpus, wc.system):
            system = self.row_model(wc.corpus, r)
            rows.append({"name": r, "model": self.row_spec(wc.corpus, r), "checkpoint": self.files(wc.corpus).checkpoint(system),
                         "data_bin": self.data_bin(wc.corpus, system), "subword": self.subword_method(wc.corpus, system)})
        return json.dumps(rows)

    def speed_row_csvs(self, wc):
        """Every speed job's CSV of the corpus, the reference's own (or the first) first."""
        return [self.path("speed_row_csv", corpus=wc.corpus, system=job) for job in self.speed_jobs(wc.corpus)]

    def speed_flags(self, wc):
        speed = self.settings("speed", wc.corpus)
        return flags("--batch-sizes", *speed["batch_sizes"], "--runs", speed["runs"],
                     "--warmup-batches", speed["warmup_batches"],
                     *(["--max-sentences", speed["max_sentences"]] if speed["max_sentences"] else []),
                     "--batching", speed["batching"], "--alpha-from", speed["alpha_from"],
                     "--lmax-cap-cpu", speed["lmax_cap"]["cpu"], "--lmax-cap-gpu", speed["lmax_cap"]["gpu"],
                     "--gpu" if speed["gpu"] else "")

    def speed_threads(self, corpus):
        return self.settings("speed", corpus)["threads"] or self.config["compute"]["cpu_threads"]

    def speed_job_threads(self, wc):
        """Locally the whole machine (Snakemake caps threads at --cores), so that nothing shares
        the CPU while the job times; on a cluster, where nothing caps it, the protocol's count."""
        return self.job_threads("measure_speed", 4096 if self.local_exec else self.speed_threads(wc.corpus))

    def speed_sentences(self, corpus):
        """Sentences of each timed pass: the first speed.max_sentences of the test set, whose size
        the estimate takes from speed.test_sentences (the data may not exist yet)."""
        speed = self.settings("speed", corpus)
        test = speed["test_sentences"] or DEFAULT_TEST_SENTENCES
        return min(test, speed["max_sentences"] or test)

    def speed_job_estimate_s(self, corpus, job):
        """Estimated wall seconds of a speed job (one of speed_jobs(corpus))."""
        speed = self.settings("speed", corpus)
        models = [self.row_spec(corpus, r) for r in self.speed_job_rows(corpus, job)]
        return job_seconds(models, self.speed_sentences(corpus), speed["batch_sizes"], speed["runs"],
                           speed["warmup_batches"], self.speed_threads(corpus),
                           gpu=speed["gpu"] and self.decoding_gpus > 0, lmax_cap=speed["lmax_cap"])

    def check_speed_estimates(self):
        """Every speed job's estimate within its runtime limit, so that none is killed at the end."""
        limit = self.job_spec("measure_speed").get("runtime")
        for corpus in self.run if limit else []:
            minutes = {row: self.speed_job_estimate_s(corpus, row) / 60 for row in self.speed_jobs(corpus)}
            over = [row for row, m in minutes.items() if m > limit]
            if over:
                row, speed = max(over, key=minutes.get), self.settings("speed", corpus)
                timed = self.speed_job_rows(corpus, row)[1:] or [row]
                raise config_error(
                    "compute.resources.measure_speed.runtime",
                    f"{len(over)} of the {len(minutes)} speed jobs of corpus {corpus} are estimated over their limit "
                    f"of {limit} min; the longest, row{'s' * (len(timed) > 1)} "
                    f"{', '.join(repr(r) for r in timed)} timed with the reference "
                    f"'{self.speed_reference(corpus)}', at {minutes[row]:,.0f} min ({minutes[row] / 60:.1f} h). "
                    f"Raise this runtime, or time less per job: speed.max_sentences ({self.speed_sentences(corpus)} "
                    f"sentences now), speed.runs ({speed['runs']}), speed.batch_sizes ({speed['batch_sizes']}) "
                    f"or speed.rows_per_job ({speed['rows_per_job']}), globally or in corpora.{corpus}.speed (the estimate: natpipe/speed_estimate.py)"
                    + ("; speed.test_sentences (unset) gives the test set's size, assumed "
                       f"{DEFAULT_TEST_SENTENCES:,}" if not speed["test_sentences"] else ""))

    def speed_targets(self):
        return [self.path(key, corpus=c) for c in self.run for key in ("speed_csv", "speed_md", "speed_figure")]

    # -- synthetic masking ---------------------------------------------------------------------
    def synthetic_cmlm(self, corpus):
        """The model that fills the masks in this corpus's synthetic experiments, or None."""
        named = self.settings("synthetic", corpus)["cmlm"]
        if named:
            return named if named in self.systems_of(corpus) else None
        return next((s for s in self.systems_of(corpus) if system_of(self.model_spec(s)).fills_masks), None)

    def synthetic_at_model(self, corpus):
        """The AT model whose translations are masked: synthetic.at_model, else the teacher."""
        return self.settings("synthetic", corpus)["at_model"] or self.corpus_spec(corpus)["teacher"]

    def synthetic_reference(self, corpus):
        row = self.settings("synthetic", corpus)["reference_row"]
        return row if row in self.rows_of(corpus) else None

    def synthetic_inputs(self, wc):
        corpus = wc.corpus
        inputs = {"hyp": self.path("hyp", corpus=corpus, system=self.synthetic_at_model(corpus)),
                  "checkpoint": self.files(corpus).checkpoint(self.synthetic_cmlm(corpus)),
                  "data_bin": self.data_bin(corpus, self.synthetic_cmlm(corpus)),
                  "subword_model": self.subword_model(corpus, self.synthetic_cmlm(corpus)),
                  "ref_tok": self.test_references(corpus, tokenized=True),
                  "ref": self.test_references(corpus, tokenized=False)}
        reference = self.synthetic_reference(corpus)
        if reference:
            inputs["reference_hyp"] = self.path("hyp", corpus=corpus, system=reference)
        return inputs

    def synthetic_model_json(self, wc):
        return json.dumps(self.model_spec(self.synthetic_cmlm(wc.corpus)), sort_keys=True)

    def synthetic_subword_method(self, wc):
        return self.subword_method(wc.corpus, self.synthetic_cmlm(wc.corpus))

    def synthetic_flags(self, wc, input):
        synthetic = self.settings("synthetic", wc.corpus)
        words = ["--p-mask", *synthetic["p_mask"], "--seeds", *synthetic["seeds"]]
        words += ["--chunk-sizes", *synthetic["chunk_sizes"]] if synthetic["chunk_sizes"] else []
        if "reference_hyp" in input.keys():
            words += ["--reference-hyp", input.reference_hyp, "--reference-name", self.synthetic_reference(wc.corpus)]
        words += ["--max-sentences", synthetic["max_sentences"]] if synthetic["max_sentences"] else []
        return " ".join(filter(None, [flags(*words), self.moses_flags(wc)]))

    def synthetic_targets(self):
        keys = ("synthetic_csv", "synthetic_figure")
        return [self.path(key, corpus=c) for c in self.run if self.synthetic_cmlm(c) for key in keys]

    # -- latents (Fully NAT's Figure 5) --------------------------------------------------------
    def latent_models(self, corpus):
        return [s for s in self.systems_of(corpus) if system_of(self.model_spec(s)).has_latents(self.model_spec(s))]

    def latent_inputs(self, wc):
        """Each latent model's checkpoint and data-bin."""
        models = self.latent_models(wc.corpus)
        return sorted({self.files(wc.corpus).checkpoint(s) for s in models} | {self.data_bin(wc.corpus, s) for s in models})

    def latent_pca_json(self, wc):
        return json.dumps([{"name": s, "model": self.model_spec(s), "checkpoint": self.files(wc.corpus).checkpoint(s),
                            "data_bin": self.data_bin(wc.corpus, s), "subword": self.subword_method(wc.corpus, s)}
                           for s in self.latent_models(wc.corpus)])

    def latent_pca_targets(self):
        keys = ("latent_pca_csv", "latent_pca_figure")
        return [self.path(key, corpus=c) for c in self.run if self.latent_models(c) for key in keys]

    # -- tables --------------------------------------------------------------------------------
    def paper_rows_json(self):
        """Every evaluation row that names the paper system it reproduces, with its resolved
        model (variant merged), its corpus's languages, LM order and speed reference."""
        rows = []
        for corpus in self.run:
            for row in self.rows_of(corpus):
                spec = self.model_spec(self.row_model(corpus, row))
                name = (spec["variants"] or {}).get(row, {}).get("paper_name", spec.get("paper_name"))
                if name and row not in self.ctranslate2_rows(corpus, self.row_model(corpus, row)):  # no paper has them
                    rows.append({"corpus": corpus, "row": row, "paper_name": name, "paper": spec.get("paper"),
                                 "ablation": spec.get("ablation"),
                                 "model": self.row_spec(corpus, row),
                                 "lm_order": self.settings("ctc_lm", corpus)["order"],
                                 "src": self.lang_of(corpus, "src"), "tgt": self.lang_of(corpus, "tgt"),
                                 "reference": self.speed_reference(corpus),
                                 "test": self.test_sources(corpus)})  # HRT Table 4: one column per NIST set
        return json.dumps(rows, sort_keys=True)

    def all_targets(self, paper_tables):
        distilled = [path for c in self.run for path in self.distill_targets(c)]
        curves = [self.path(key, corpus=c) for c in self.run for key in ("curves_csv", "curves_figure")]
        return ([self.path("summary_csv"), self.path("summary_md")] + paper_tables + distilled + curves
                + self.speed_targets() + self.synthetic_targets() + self.latent_pca_targets())
