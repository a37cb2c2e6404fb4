"""Multi-process runs (`--config.distributed=True`) as two CPU processes on this machine.

Each process gets the environment Open MPI's `mpirun -np 2` would give it, so `jax.distributed.initialize()`
runs with no arguments exactly as on a cluster; the coordinator port is a free local one. The seeds shard over
the two processes' devices (one CPU device each), and the run must give the numbers of a one-process run,
stop together when only one process is signalled, and resume from that stop.
"""
import os
import socket
import subprocess

import numpy as np
import pytest

from distnet.run import folder

from helpers import assert_leaves_close, assert_metrics_close, train_process

SMOKE = ["--config", "configs/smoke.py", "--config.num_seeds=4"]
# one CPU device per process: the caller's XLA_FLAGS (an --xla_cpu_max_isa, say) without a device count
ONE_DEVICE = {"JAX_PLATFORMS": "cpu",
              "XLA_FLAGS": " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f) or None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(workdir, *args, processes: int = 2, fault_on_last: str = "") -> list[subprocess.CompletedProcess]:
    """Run train.py as `processes` cooperating processes; returns each one's result, in rank order."""
    port, procs = free_port(), []
    for rank in range(processes):
        env = {**ONE_DEVICE, "OMPI_MCA_orte_hnp_uri": "4096.0;tcp://127.0.0.1:1",
               "OMPI_COMM_WORLD_SIZE": str(processes), "OMPI_COMM_WORLD_RANK": str(rank),
               "OMPI_COMM_WORLD_LOCAL_RANK": str(rank), "JAX_COORDINATOR_PORT": str(port),
               "DISTNET_FAULT": fault_on_last if rank == processes - 1 else None}
        procs.append(train_process(*SMOKE, "--workdir", workdir, "--config.distributed=True", *args,
                                   env=env, wait=False))
    out = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one") / "run"
    r = train_process(*SMOKE, "--workdir", workdir, env=ONE_DEVICE, timeout=240)
    assert r.returncode == 0, r.stderr
    return workdir


def assert_close_runs(a, b):
    """Metrics and params of two runs agree: sharding seeds over processes reassociates sums, so this is
    tests/integration/runcheck.assert_same_run's exact check loosened to the bound of tests/test_trainer.py for the smoke run
    (20 epochs x 2 u x 1.7 = 4e-6 in the params, normwise; accuracies to one example)."""
    for v in ("ReLU", "Abs2-Neg"):
        ma, mb = folder.load_metrics(a / v), folder.load_metrics(b / v)
        np.testing.assert_array_equal(ma["epoch"], mb["epoch"])
        assert_metrics_close(ma, mb, 1e-5, 200, 100)                # configs/smoke.py: 200 train, 100 test
        assert_leaves_close(folder.load_params(a / v), folder.load_params(b / v), 1e-5)


def test_two_processes_stop_together_resume_and_match_one(one_process, tmp_path):
    workdir = tmp_path / "run"
    # seed_chunk=2: two chunks of 2 seeds, each split over both processes' devices
    first = launch(workdir, "--config.seed_chunk=2", fault_on_last="after:chunk_done:2:SIGTERM")
    assert [r.returncode for r in first] == [143, 143], [r.stderr[-2000:] for r in first]
    assert all("interrupted at epoch 10 of ReLU" in r.stderr for r in first)
    assert "test acc" in first[0].stdout and "test acc" not in first[1].stdout   # process 0 speaks for all
    assert folder.load_metrics(workdir / "ReLU")["epoch"][-1] == 10

    second = launch(workdir, "--config.seed_chunk=2")
    assert [r.returncode for r in second] == [0, 0], [r.stderr[-2000:] for r in second]
    assert "resuming from the checkpoint at epoch 10" in second[0].stdout
    assert_close_runs(one_process, workdir)
    assert folder.read_json(workdir / "ReLU" / "summary.json")["seeds"] == 4


def test_seeds_that_do_not_split_over_the_processes_are_refused(tmp_path):
    results = launch(tmp_path / "run", "--config.num_seeds=3")
    for r in results:
        assert r.returncode == 2, r.stderr[-2000:]
        assert "needs every chunk to split evenly over its 2 devices (e.g. num_seeds=4)" in r.stderr
    assert not (tmp_path / "run" / "ReLU").exists()
