"""LSTM: one fused training step and character sampling, NumPy twin vs Cython.

Same layout as ``bench_rnn.py``: one benchmarked callable per test, parametrised over
``impl`` x size x dtype, ``group`` = the size, result checked after timing.

- ``test_lstm_train_step``: the kernel ``lstm_train_step_ix`` (forward, summed
  cross-entropy, BPTT, clip to [-5, 5], SGD lr 0.01, in place), H = 100 T = 25 B = 1.
- ``test_lstm_sample``: ``lstm_sample`` at H = 100, 1 and 50 characters per call.

Every test skips while the compiled LSTM kernels are not built
(``fastrnn._ext.kernels("cython")`` without ``lstm_train_step_ix``).
"""

import math

import numpy as np
import pytest


DTYPES = [np.float64, np.float32]
IMPLS = ["numpy", "cython"]


@pytest.fixture(autouse=True)
def _need_lstm(kit):
    if not kit.lstm_built():
        pytest.skip("the compiled LSTM kernels are not built")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("size", [(100, 25)], ids=lambda s: f"H{s[0]}-T{s[1]}")
@pytest.mark.parametrize("impl", IMPLS)
def test_lstm_train_step(benchmark, kit, oracle, impl, size, dtype):
    H, T = size
    dt = np.dtype(dtype)
    fn = kit.kernel(impl, "lstm_train_step_ix")
    prob = kit.lstm_train_problem(H, T, dt)
    benchmark.group = f"lstm train step H={H} T={T} B=1 {kit.short(dt)}"
    benchmark.extra_info.update(H=H, T=T, B=1, dtype=dt.name, impl=impl)
    loss = benchmark(fn, *prob.args)

    def ref():
        r = kit.lstm_train_problem(H, T, np.float64)
        return (float(kit.kernel("numpy", "lstm_train_step_ix")(*r.args)),
                {k: v.copy() for k, v in r.params.items()})

    ref_loss, ref_params = oracle(("lstm-train", H, T), ref)
    fresh = kit.lstm_train_problem(H, T, dt)
    loss1 = float(fn(*fresh.args))
    rtol = kit.RTOL[dt]
    assert abs(loss1 - ref_loss) <= rtol * abs(ref_loss), (loss1, ref_loss)
    for k, v in fresh.params.items():
        np.testing.assert_allclose(v, ref_params[k], rtol=rtol, atol=rtol * 1e-2,
                                   err_msg=f"{k} after one step")
    assert math.isfinite(loss) and loss < ref_loss * (1 + rtol)


def _sample_args(kit, H, n, dtype, seed=0):
    p = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in kit.lstm_params(H).items()}
    u = np.random.default_rng(seed).random(n)
    a, c = np.zeros(H, dtype), np.zeros(H, dtype)
    out = np.empty(n, np.int64)
    # (Wx, Wh, b, Wy, by, a, c, x0, u, temperature, top_k, stop, out)
    return (p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], a, c, -1, u, 1.0, 0, -1, out)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("n", [1, 50], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("impl", IMPLS)
def test_lstm_sample(benchmark, kit, oracle, impl, n, dtype):
    H = 100
    fn = kit.kernel(impl, "lstm_sample")
    args = _sample_args(kit, H, n, dtype)
    benchmark.group = f"lstm sample H=100 {n} char{'s' if n > 1 else ''}/call {kit.short(dtype)}"
    benchmark.extra_info.update(H=H, chars_per_call=n, dtype=np.dtype(dtype).name, impl=impl)
    written = benchmark(fn, *args)
    assert written == n
    args = _sample_args(kit, H, n, dtype)
    assert fn(*args) == n
    got = args[-1].tolist()
    assert all(0 <= i < kit.V for i in got)

    def ref():
        r = _sample_args(kit, H, n, np.float64)
        kit.kernel("numpy", "lstm_sample")(*r)
        return r[-1].tolist()

    expected = oracle(("lstm-sample", H, n), ref)
    if np.dtype(dtype) == np.float64:
        assert got == expected
