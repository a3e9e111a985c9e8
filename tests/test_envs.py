"""The conda env and the pip requirement files pin the same versions."""
import re

import yaml

from conftest import REPO


def pip_pins() -> dict[str, str]:
    pins = {}
    for name in ("constraints.txt", "build.txt", "requirements.txt", "fairseq.txt"):
        for line in (REPO / "envs" / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                package, _, version = line.partition("==")
                assert version, f"envs/{name}: {line} is not pinned"
                pins.setdefault(package.lower(), version)
                assert pins[package.lower()] == version, f"{package} pinned twice with different versions"
    return pins


def test_conda_env_names_the_same_versions():
    env = yaml.safe_load((REPO / "envs" / "natpipe.yaml").read_text())
    pip_section = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    conda = dict(line.lower().split("==") for line in pip_section)
    post_deploy = (REPO / "envs" / "natpipe.post-deploy.sh").read_text()
    conda.update(dict(p.lower().split("==") for p in re.findall(r"\S+==\S+", post_deploy)))
    assert conda == pip_pins()


def test_every_rule_uses_the_conda_env():
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        shells, condas = text.count("    shell:"), text.count('"../envs/natpipe.yaml"')
        assert shells == condas, f"{smk.name}: {shells} shell rules but {condas} conda directives"
