"""show_config, the thread policy and the backend switch."""

import io

import numpy as np
import pytest

import fastrnn
from fastrnn import _config


def test_show_config_reports_build_and_blas():
    buf = io.StringIO()
    fastrnn.show_config(file=buf)
    text = buf.getvalue()
    for key in ("fastrnn:", "backend:", "compiled_kernels:", "simd:", "blas_threads:",
                "thread_policy:", "blas:"):
        assert key in text
    c = _config.config()
    assert c["fastrnn"] == fastrnn.__version__
    assert c["compiled_kernels"] is True
    assert c["debug_build"] in (True, False)


def test_threads_context_and_set_num_threads():
    before = fastrnn.get_num_threads()
    with fastrnn.threads(1):
        assert fastrnn.get_num_threads() == 1
        assert _config.get_thread_policy() == 1
    assert fastrnn.get_num_threads() == before
    old = _config.get_thread_policy()
    try:
        fastrnn.set_num_threads(1)
        assert fastrnn.get_num_threads() == 1
        _config.auto_threads(64)                      # a fixed count is left alone
        assert fastrnn.get_num_threads() == 1
        fastrnn.set_num_threads(None)                 # back to automatic
        _config.auto_threads(1)
        assert fastrnn.get_num_threads() == 1
        _config.auto_threads(64)
        assert fastrnn.get_num_threads() == _config._cpu_count()
        _config.auto_threads(1, paired=True)          # LSTM sampling pairs two threads
        assert fastrnn.get_num_threads() == _config._cpu_count()
    finally:
        _config._state["policy"] = old
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="thread count"):
            fastrnn.set_num_threads(bad)


@pytest.mark.parametrize("H, paired", [(64, False), (100, True)])
def test_batch1_lstm_asks_for_two_threads_from_the_pair_size(H, paired):
    """Automatic policy: batch 1 runs at 1 BLAS thread, except an LSTM large enough for
    its kernels to split each step between two threads (sampling, a batch-1 step); the
    names are the same either way (the pair's numbers are those of one thread)."""
    K = fastrnn._ext.kernels("cython")
    assert (H >= K.PAIR_MIN_H) == paired
    m = fastrnn.LSTM(7, H, dtype=np.float32, seed=0)
    old = _config.get_thread_policy()
    try:
        fastrnn.set_num_threads(None)
        names = m.sample(30, seed=4)
        assert fastrnn.get_num_threads() == (_config._cpu_count() if paired else 1)
        m.sample(1, seed=4)                           # one character: nothing to pair
        assert fastrnn.get_num_threads() == 1
        m.loss_and_grads(np.arange(6).reshape(6, 1), np.arange(6).reshape(6, 1))
        assert fastrnn.get_num_threads() == (_config._cpu_count() if paired else 1)
        m.loss_and_grads(np.zeros((6, 2), np.int64), np.zeros((6, 2), np.int64))
        assert fastrnn.get_num_threads() == _config._cpu_count()    # a batch
    finally:
        _config._state["policy"] = old
    for n in (1, 2):
        with fastrnn.threads(n):
            np.testing.assert_array_equal(m.sample(30, seed=4), names)


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
