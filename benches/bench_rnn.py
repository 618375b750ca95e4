"""Vanilla RNN: one fused training step and character sampling, NumPy twin vs Cython.

Each test benchmarks one callable, parametrised over ``impl`` x size x dtype, with
``group`` = the size (and dtype), so one table compares the implementations:

- ``test_rnn_train_step``: the kernel ``rnn_train_step_ix`` (forward, summed
  cross-entropy, BPTT, clip to [-5, 5], SGD lr 0.01, in place) called directly with a
  prebuilt argument tuple; B = 1, H = 50 T = 10 (a dinosaur name) and H = 100 T = 25.
- ``test_rnn_model_train_step``: the same step through the public API
  ``fastrnn.RNN.train_step`` (input validation and dispatch included), same grid.
- ``test_rnn_sample``: ``rnn_sample`` at H = 100, 1 and 50 characters per call, the
  state carried over from call to call.

After timing, every test reruns its step once from fresh parameters and compares the
result with the float64 NumPy oracle (loss and updated parameters to rtol 1e-9 in float64,
1e-4 in float32; sampled indices identical in float64, valid in float32).
"""

import math

import numpy as np
import pytest

import fastrnn
import fastrnn._ext as _ext

SIZES = [(50, 10), (100, 25)]           # (H, T), B = 1
DTYPES = [np.float64, np.float32]
IMPLS = ["numpy", "cython"]


def _size_id(s):
    return f"H{s[0]}-T{s[1]}"


def _check_one_step(kit, oracle, impl, H, T, dtype):
    """Fresh parameters, one step with ``impl``; compare loss and parameters to the oracle."""
    dt = np.dtype(dtype)

    def ref():
        prob = kit.rnn_train_problem(H, T, np.float64)
        loss = _ext.kernels("numpy").rnn_train_step_ix(*prob.args)
        return float(loss), {k: v.copy() for k, v in prob.params.items()}

    ref_loss, ref_params = oracle(("rnn-train", H, T), ref)
    prob = kit.rnn_train_problem(H, T, dt)
    loss = float(kit.kernels(impl).rnn_train_step_ix(*prob.args))
    rtol = kit.RTOL[dt]
    assert abs(loss - ref_loss) <= rtol * abs(ref_loss), (loss, ref_loss)
    for k, v in prob.params.items():
        np.testing.assert_allclose(v, ref_params[k], rtol=rtol, atol=rtol * 1e-2,
                                   err_msg=f"{k} after one step")
    return ref_loss


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("size", SIZES, ids=_size_id)
@pytest.mark.parametrize("impl", IMPLS)
def test_rnn_train_step(benchmark, kit, oracle, impl, size, dtype):
    H, T = size
    fn = kit.kernels(impl).rnn_train_step_ix
    prob = kit.rnn_train_problem(H, T, dtype)
    benchmark.group = f"rnn train step H={H} T={T} B=1 {kit.short(dtype)}"
    benchmark.extra_info.update(H=H, T=T, B=1, dtype=np.dtype(dtype).name, impl=impl)
    loss = benchmark(fn, *prob.args)
    # repeated SGD steps on the same sequence: the loss stays finite and goes down
    ref_loss = _check_one_step(kit, oracle, impl, H, T, dtype)
    assert math.isfinite(loss) and loss < ref_loss * (1 + kit.RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("size", SIZES, ids=_size_id)
@pytest.mark.parametrize("impl", IMPLS)
def test_rnn_model_train_step(benchmark, kit, oracle, impl, size, dtype):
    H, T = size
    kit.kernels(impl)                                   # skip if not built
    prob = kit.rnn_train_problem(H, T, np.float64)
    model = fastrnn.RNN.from_params(kit.rnn_params(H), dtype=dtype)
    X, Y = prob.X, prob.Y
    benchmark.group = f"rnn train step H={H} T={T} B=1 {kit.short(dtype)}"
    benchmark.extra_info.update(H=H, T=T, B=1, dtype=np.dtype(dtype).name, impl=impl,
                                api="fastrnn.RNN.train_step")
    with _ext.use_backend(impl):
        loss, _ = benchmark(model.train_step, X, Y)
        fresh = fastrnn.RNN.from_params(kit.rnn_params(H), dtype=dtype)
        loss1, _ = fresh.train_step(X, Y)
    ref_loss = _check_one_step(kit, oracle, impl, H, T, dtype)
    assert abs(loss1 - ref_loss) <= kit.RTOL[np.dtype(dtype)] * abs(ref_loss)
    assert math.isfinite(loss) and loss < ref_loss * (1 + kit.RTOL[np.dtype(dtype)])


def _sample_args(kit, H, n, dtype, seed=0):
    p = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in kit.rnn_params(H).items()}
    u = np.random.default_rng(seed).random(n)
    a = np.zeros(H, dtype)
    out = np.empty(n, np.int64)
    # (Wax, Waa, ba, Wya, by, a, x0, u, temperature, top_k, stop, out)
    return (p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], a, -1, u, 1.0, 0, -1, out)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("n", [1, 50], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("impl", IMPLS)
def test_rnn_sample(benchmark, kit, oracle, impl, n, dtype):
    H = 100
    fn = kit.kernels(impl).rnn_sample
    args = _sample_args(kit, H, n, dtype)
    benchmark.group = f"rnn sample H=100 {n} char{'s' if n > 1 else ''}/call {kit.short(dtype)}"
    benchmark.extra_info.update(H=H, chars_per_call=n, dtype=np.dtype(dtype).name, impl=impl)
    written = benchmark(fn, *args)
    assert written == n
    # fresh zero state, same uniforms: valid indices, equal to the float64 oracle
    args = _sample_args(kit, H, n, dtype)
    assert fn(*args) == n
    got = args[-1].tolist()
    assert all(0 <= i < kit.V for i in got)

    def ref():
        r = _sample_args(kit, H, n, np.float64)
        _ext.kernels("numpy").rnn_sample(*r)
        return r[-1].tolist()

    expected = oracle(("rnn-sample", H, n), ref)
    if np.dtype(dtype) == np.float64:
        assert got == expected
