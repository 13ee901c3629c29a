"""`snakemake --report` on a scratch copy of the workflow: every figure and the review items are in the
report, grouped by paper, with captions; each figure has its lineage; the claims table is evaluated."""

import base64
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TFI = {"lattice": {"shape": [4], "boundary": "periodic"}, "preset": {"name": "tfi", "V": 2.0, "g": 2.0}}
CONFIG = {
    "size": "quick",
    "systems": {"tfi": TFI},
    "runs": {
        "tfi_exact": {"system": "tfi", "task": {"kind": "steady"}, "method": {"name": "exact"},
                      "observables": ["sx", "sy", "sz"], "sweep": {"key": "system.preset.g", "values": [1.0, 2.0]}},
        "tfi_qutip": {"system": "tfi", "task": {"kind": "steady"}, "method": {"name": "exact", "solver": "qutip"},
                      "observables": ["sx", "sy", "sz"]},
    },
    "figures": {"mellak2024": {"exact": {"runs": {"tfi": "tfi_exact"}, "caption": "Exact TFI steady states vs g."}},
                "luo2022": {"exact": {"runs": {"tfi": "tfi_qutip"}, "caption": "QuTiP's TFI steady state."}}},
}
CLAIMS = {"claims": [
    {"id": "sum_rule", "paper": "mellak2024", "source": "test", "claim": "sum rule of the exact state",
     "published": 0, "tolerance": 1e-8, "quantity": {"kind": "sum_rule", "run": "tfi_exact", "point": "g=2.0"}},
    {"id": "elsewhere", "paper": "luo2022", "source": "test", "claim": "a run this config lacks",
     "published": 0, "tolerance": 1, "quantity": {"kind": "observable", "run": "luo_tfi_var", "observable": "sz"}},
]}


def _snakemake(cwd, *args):
    proc = subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _embedded(html: str, name: str):
    return json.loads(re.search(r'<script id="%s">\s*var \w+ = (.*?);\s*</script>' % name, html, re.S).group(1))


@pytest.mark.slow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_report_holds_every_figure_and_the_review_tables(tmp_path):
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "quick.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "config" / "claims.yaml").write_text(yaml.safe_dump(CLAIMS))
    (tmp_path / "config" / "cross_method.yaml").write_text(yaml.safe_dump({"references": [
        {"label": "TFI", "run": "tfi_exact", "point": "g=2.0", "observables": ["sx", "sy", "sz"]}]}))
    _snakemake(tmp_path)
    claims = pd.read_csv(tmp_path / "results/review/claims.csv").set_index("id")
    assert claims.loc["sum_rule", "reproduced"] == "yes"
    assert claims.loc["elsewhere", "reproduced"] == "not measured"
    for paper in ("mellak2024", "luo2022"):
        lineage = json.loads((tmp_path / f"results/figures/{paper}/exact.json").read_text())
        run = CONFIG["figures"][paper]["exact"]["runs"]["tfi"]
        hashes = {p: json.loads(f.read_text())["spec_hash"] for p, f in
                  ((f.parent.name, f) for f in (tmp_path / "results/runs" / run).glob("*/result.json"))}
        assert {p: v["spec_hash"] for p, v in lineage["runs"]["tfi"]["points"].items()} == hashes

    _snakemake(tmp_path, "--report", "results/review/report.html")
    html = (tmp_path / "results/review/report.html").read_text()
    categories, results = _embedded(html, "categories"), _embedded(html, "results")
    assert set(categories) == {"mellak2024", "luo2022", "review"}
    listed = {f for sub in categories.values() for files in sub.values() for f in files}
    assert listed == {"results/figures/mellak2024/exact.png", "results/figures/luo2022/exact.png",
                      "results/review/runs.csv", "results/review/claims.csv", "results/review/cross_method.png"}
    for path, item in results.items():
        # the file itself is embedded, and the caption is rendered (the figure's names its runs)
        assert base64.b64decode(item["data_uri"].split(",", 1)[1]) == (tmp_path / path).read_bytes()
        assert len(re.sub("<[^>]+>", "", item["caption"]).strip()) > 40, path
    assert "tfi_exact" in results["results/figures/mellak2024/exact.png"]["caption"]

    _snakemake(tmp_path, "--report", "results/review/report.zip")
    names = zipfile.ZipFile(tmp_path / "results/review/report.zip").namelist()
    assert "report/report.html" in names
    # the zip holds each reported file once, under data/raw/
    assert sorted(Path(n).name for n in names if "/data/raw/" in n) == sorted(Path(f).name for f in listed)
