"""`snakemake --lint` (issue 16, item 6): only the two lints justified in rules/common.smk remain, and
every rule that has them says so in a comment beside it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
JUSTIFIED = ("Specify a conda environment or container for each rule.",
             "Shell command directly uses variable PY from outside of the rule")
NOTE = "# lint: conda env, PY (justified in rules/common.smk, at PY)"


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_only_justified_lints_and_each_beside_its_rule(tmp_path):
    # a scratch copy: building the DAG writes run specs
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = subprocess.run([str(SNAKEMAKE), "--lint"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    lints = re.findall(r"^    \* (.+?):?$", out, re.M)
    assert lints, out  # the lints are found (the format did not change under us)
    assert set(lints) <= set(JUSTIFIED), out
    rules = re.findall(r"^Lints for rule (\w+) \(line (\d+), (.+?)\):", out, re.M)
    assert not re.search(r"^Lints for snakefile", out, re.M), out
    for rule, line, path in rules:
        text = Path(path).read_text().splitlines()
        assert text[int(line) - 1].startswith(f"rule {rule}:"), (rule, line, path)
        assert text[int(line) - 2] == NOTE, f"rule {rule} in {path} lacks the lint note beside it"
