"""The SLURM profile (issue 16, item 4) on a real scheduler: munged, slurmctld and slurmd started on
localhost (SLURM from Debian's slurm-wlm, installed here when missing and apt-get can), a small part of
the quick DAG (two exact solves and their figure) run through workflow/profiles/slurm, its outputs equal
to a local run's, the daemons stopped. And, without a scheduler, what the profile and the config make of
a GPU job and a CPU job: the sbatch options and the partition the plugin picks."""

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from lindblad_nqs import pipeline

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PROFILE = ROOT / "workflow/profiles/slurm"
TARGET = "results/figures/hartmann2019/exact.pdf"  # two exact solves (5 and 6 sites) and a figure
MARK = "# written by lindblad-nqs tests/pipeline/test_slurm.py, removed when it ends"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


class _Resources(dict):
    __getattr__ = dict.__getitem__


def _job(resources, threads=1, name="solve"):
    return SimpleNamespace(resources=_Resources(resources), threads=threads, name=name)


def _solve_resources(point, config):
    """The solve rule's resources (rules/runs.smk) over the profile's default-resources."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    return {**profile["default-resources"], "gpu": pipeline.uses_gpu(point, config),
            "gpu_model": pipeline.gpu_model(point, config), **point.resources}


def test_profile_turns_gpu_and_cpu_jobs_into_the_right_sbatch_options():
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    parts = read_partition_file(ROOT / profile["slurm-partition-config"])
    log = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["gpu_model"] = "h100"
    config["resources"] = {"runtime": 90, "mem_mb": 8000}
    config["runs"]["lnqs_gpu"] = dict(config["runs"]["luo_chain_dyn"], resources={"runtime": 600, "mem_mb": 32000})
    runs = pipeline.expand_runs(config)
    gpu = runs["lnqs_gpu"]["base"]
    cpu = next(p for ps in runs.values() for p in ps.values() if p.spec["method"]["name"] == "exact")
    params = dict(run_uuid="u", slurm_logfile="l", comment_str="c", account="-A none", partition="", workdir="")

    g = _job(_solve_resources(gpu, config))
    assert set_gres_string(g).strip() == "--gpus=h100:1"
    assert get_best_partition(parts, g, log) == "gpu"
    call = get_submit_command(g, params)
    assert " -t 600" in call and " --mem 32000" in call, call  # the run's own resources

    c = _job(_solve_resources(cpu, config), threads=cpu.threads)
    assert set_gres_string(c) == ""  # no --gpus, no gpu model for a CPU job
    assert get_best_partition(parts, c, log) == "cpu"
    call = get_submit_command(c, params)
    assert " -t 90" in call and " --mem 8000" in call, call  # the config's default
    # the rule's threads become --cpus-per-task (a default cpus_per_task would override them)
    assert "cpus_per_task" not in profile["default-resources"]
    assert "--cpus-per-task=3" in get_submit_command(_job(c.resources, threads=3), params)
    # with device: cpu (the quick config) no job asks for a GPU
    config["device"] = "cpu"
    assert set_gres_string(_job(_solve_resources(gpu, config))) == ""


# --- a real scheduler -------------------------------------------------------------------------------

def _install() -> str | None:
    """None when SLURM and munge are there (installed now if need be), else why the test cannot run."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd on localhost needs root"
    if all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS):
        return None
    if not shutil.which("apt-get"):
        return "slurm-wlm is not installed and there is no apt-get to install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]
    for attempt in range(2):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if p.returncode == 0:
            return None
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=300)  # a stale list
    return f"apt-get could not install slurm-wlm and munge: {(p.stderr.strip().splitlines() or ['?'])[-1]}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon(path):
    return shutil.which(path) or f"/usr/sbin/{path}"


def _mem_mb():
    kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return int(kb / 1024 * 0.8)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = _install()
    if why and os.environ.get("LINDBLAD_NQS_REQUIRE_SLURM"):  # CI: a scheduler that cannot start is a failure
        pytest.fail(why)
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log", "munge"):
        (d / sub).mkdir()
    os.chmod(d / "munge", 0o700)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    sock = d / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    # The conf must be at SLURM's default path: the jobstep plugin's inner srun drops SLURM_CONF from its
    # environment. One test at a time on a machine (a lock); a conf this test did not write is kept.
    conf = Path("/etc/slurm/slurm.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    lock = open(conf.parent / ".lindblad-nqs-test.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    if conf.exists() and MARK not in conf.read_text():
        lock.close()
        pytest.skip(f"{conf} exists and is not this test's: not overwriting a real cluster's configuration")
    conf.write_text(MARK + f"""
ClusterName=lnqstest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
NodeName={host} CPUs={os.cpu_count()} RealMemory={_mem_mb()} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = dict(os.environ, SLURM_CONF=str(conf))
    pids = []

    def start(*cmd):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        if p.returncode != 0:
            pytest.fail(f"{cmd[0]} did not start: {p.stderr.strip()[-500:]}")

    try:
        start(_daemon("munged"), "--force", "--socket", str(sock), "--key-file", str(key), "--pid-file",
              str(d / "munge/munged.pid"), "--log-file", str(d / "log/munged.log"), "--seed-file",
              str(d / "munge/seed"))
        pids.append(d / "munge/munged.pid")
        start(_daemon("slurmctld"), "-f", str(conf))
        pids.append(d / "slurmctld.pid")
        start(_daemon("slurmd"), "-f", str(conf))
        pids.append(d / "slurmd.pid")
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout
            if state.strip() == "idle":
                break
            time.sleep(1)
        else:
            logs = "".join((d / "log" / f).read_text()[-400:] for f in ("slurmctld.log", "slurmd.log")
                           if (d / "log" / f).exists())
            pytest.fail(f"the node did not come up (sinfo: {state.strip()!r}): {logs}")
        yield env
    finally:
        for pidfile in reversed(pids):
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(1)
        conf.unlink(missing_ok=True)
        lock.close()


def _scratch(where):
    where.mkdir()
    shutil.copytree(ROOT / "workflow", where / "workflow")
    (where / "config").mkdir()
    shutil.copy(ROOT / "config/quick.yaml", where / "config/quick.yaml")
    return where


def _run(cwd, args, env, timeout):
    p = subprocess.run([str(SNAKEMAKE), *args], cwd=cwd, capture_output=True, text=True, env=env,
                       timeout=timeout)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    return p.stdout + p.stderr


@pytest.mark.slow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed beside the interpreter")
def test_part_of_the_quick_dag_through_slurm_equals_the_local_run(cluster, tmp_path):
    env = dict(cluster, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    local = _scratch(tmp_path / "local")
    _run(local, ["--cores", "2", TARGET], env, 600)
    slurm = _scratch(tmp_path / "slurm")
    (slurm / "partitions.yaml").write_text("partitions:\n  debug: {max_gpu: 0}\n")
    out = _run(slurm, ["--workflow-profile", "workflow/profiles/slurm", "--slurm-partition-config",
                       "partitions.yaml", "--slurm-status-command", "squeue",
                       "--slurm-init-seconds-before-status-checks", "1", "--max-status-checks-per-second", "5",
                       "--jobs", "2", "--verbose", TARGET], env, 900)
    # the two solves went through sbatch with the config's per-job resources, to the chosen partition
    calls = re.findall(r"^sbatch call: (.*)$", out, re.M)
    assert len(calls) == 2, out[-4000:]
    res = pipeline.DEFAULT_RESOURCES
    for call in calls:
        assert "-p debug" in call and f"--mem {res['mem_mb']}" in call and f"-t {res['runtime']}" in call, call
        assert "--gpus" not in call, call
    assert len(list((slurm / "logs/slurm/rule_solve").rglob("*.log"))) == 2
    outputs = sorted(p.relative_to(local) for p in (local / "results").rglob("*.csv"))
    assert len(outputs) == 3  # two results and the figure's data
    for rel in outputs:
        pd.testing.assert_frame_equal(pd.read_csv(local / rel), pd.read_csv(slurm / rel), obj=str(rel))
    assert (slurm / TARGET).stat().st_size > 0
