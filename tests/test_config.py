"""show_config, the thread policy and the backend switch."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import _config

ROOT = str(Path(fastrnn.__file__).resolve().parent.parent)


def test_show_config_reports_build_and_threads():
    buf = io.StringIO()
    fastrnn.show_config(file=buf)
    text = buf.getvalue()
    for key in ("fastrnn:", "backend:", "compiled_kernels:", "simd:", "threads:",
                "thread_policy:", "blas:"):
        assert key in text
    c = _config.config()
    assert c["fastrnn"] == fastrnn.__version__
    assert c["compiled_kernels"] is True
    assert c["debug_build"] in (True, False)
    assert c["threads"] == fastrnn.get_num_threads()


def _kernel_threads():
    from fastrnn import _lstm, _rnn

    return {m._get_threads() for m in (_rnn, _lstm)}


def test_threads_context_and_set_num_threads():
    """The setting reaches the kernels' teams: automatic = the usable cores."""
    before = fastrnn.get_num_threads()
    with fastrnn.threads(1):
        assert fastrnn.get_num_threads() == 1
        assert _config.get_thread_policy() == 1
        assert _kernel_threads() == {1}
    assert fastrnn.get_num_threads() == before
    assert _kernel_threads() == {before}
    old = _config.get_thread_policy()
    try:
        fastrnn.set_num_threads(3)
        assert fastrnn.get_num_threads() == 3 and _kernel_threads() == {3}
        fastrnn.set_num_threads(None)                 # back to automatic
        assert fastrnn.get_num_threads() == min(_config._cpu_count(), _config.MAX_THREADS)
        assert _kernel_threads() == {fastrnn.get_num_threads()}
    finally:
        fastrnn.set_num_threads(old)
    for bad in (0, -1, 65, 2 ** 70):
        with pytest.raises(ValueError, match="thread count"):
            fastrnn.set_num_threads(bad)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="thread count"):
            fastrnn.set_num_threads(bad)


def test_environment_sets_the_kernels_threads():
    """FASTRNN_NUM_THREADS fixes the kernels' team (not only the recorded policy)."""
    code = ("import fastrnn, fastrnn._rnn as r, fastrnn._lstm as l; "
            "print(fastrnn.get_num_threads(), r._get_threads(), l._get_threads())")
    env = dict(os.environ, FASTRNN_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["1", "1", "1"]


def test_calls_run_the_blas_at_one_thread_and_restore_it():
    """Every kernel call runs SciPy's BLAS at one thread (the team is the parallelism)
    and leaves its count as it found it."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = _config._kernel_blas()
    m = fastrnn.LSTM(7, 100, dtype=np.float32, seed=0)
    r = fastrnn.RNN(7, 30, dtype=np.float64, seed=0)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = [lc.num_threads for lc in blas]
        m.sample(30, seed=4)
        m.loss_and_grads(np.zeros((6, 2), np.int64), np.zeros((6, 2), np.int64))
        r.train_step(np.zeros((6, 3), np.int64), np.zeros((6, 3), np.int64))
        r.sample(5, seed=1)
        assert [lc.num_threads for lc in blas] == before


def test_results_do_not_depend_on_threads(rng):
    m = fastrnn.RNN(7, 32, dtype=np.float64, seed=0, init_scale=0.3)
    X = rng.integers(-1, 7, size=(12, 16))
    Y = rng.integers(0, 7, size=(12, 16))
    with fastrnn.threads(1):
        l1, g1, _ = m.loss_and_grads(X, Y)
    with fastrnn.threads(2):
        l2, g2, _ = m.loss_and_grads(X, Y)
    assert l1 == pytest.approx(l2, rel=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-11, atol=1e-14)
