"""show_config, the thread policy and the backend switch."""

import io
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastrnn
from conftest import subprocess_env
from fastrnn import _config


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
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(FASTRNN_NUM_THREADS="1"),
                         cwd=tempfile.gettempdir(), capture_output=True, text=True,
                         check=True).stdout.split()
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


def _config_in_subprocess(simd):
    import os
    import subprocess
    import sys

    code = ("import json, fastrnn._config as c, fastrnn._ops as o; "
            "import numpy as np; W = np.ones((16, 16)); y = np.zeros(16); "
            "print(json.dumps([c.config()['simd'], o.simd_level(), o.cpu_simd_level(), "
            "bool(o._row_product(W, np.ones(16), y))]))")
    env = dict(os.environ, FASTRNN_SIMD=simd)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


@pytest.mark.parametrize("simd, expect", [("baseline", "sse2"), ("sse2", "sse2"),
                                          ("avx2", "avx2")])
def test_simd_switch_caps_the_level(simd, expect):
    """FASTRNN_SIMD, read when the compiled modules load, caps the instruction set of the
    element-wise loops (and turns _gemv.h's AVX-512 row product off) and show_config says
    so; the suite runs once under FASTRNN_SIMD=baseline in CI."""
    import json

    from fastrnn import _ops
    if _ops.cpu_simd_level().startswith("baseline"):
        pytest.skip("no runtime dispatch in this build (not x86-64 GCC/clang)")
    out, _ = _config_in_subprocess(simd)
    shown, level, cpu, own = json.loads(out)
    order = ["sse2", "avx2", "avx512f"]
    want = order[min(order.index(expect), order.index(cpu))]
    assert level == want and cpu == _ops.cpu_simd_level()
    assert shown.startswith(want) and f"FASTRNN_SIMD={simd!r}" in shown
    assert own is False                      # only the AVX-512F level has _gemv.h's kernel


def test_unknown_simd_value_warns():
    out, err = _config_in_subprocess("avx9000")
    assert "RuntimeWarning" in err and "FASTRNN_SIMD='avx9000'" in err
