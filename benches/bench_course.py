"""The course's "Dinosaurus Island" ``model()``: 2000 iterations, NumPy twin vs Cython.

``fastrnn.course.dinosaurus.model(data_x, ix_to_char, char_to_ix, 2000)`` trains the
course's character RNN (n_a = 50, one name per iteration, SGD with clipping, 7 names
sampled at iteration 0) with the backend set to ``numpy`` (``fastrnn.reference``) or
``cython`` (the compiled kernels). Its printed output is discarded. ``group`` is the run
size, so one table compares the two backends.

After timing, the result is checked against the NumPy backend's (computed once, outside
the timing): the same last sampled name and the same parameters to rtol 1e-9.

Skips when ``../shared/data/dinos.txt`` is absent or ``fastrnn.course.dinosaurus`` does
not import. The course-style NumPy loop (one Python iteration per time step, column
vectors) is timed against this by ``benches/course_model_compare.py``.
"""

import contextlib
import io

import numpy as np
import pytest

import fastrnn._ext as _ext

ITERATIONS = 2000
ROUNDS = {"numpy": 3, "cython": 7}


def _setup(text):
    data = text.lower()
    chars = sorted(set(data))
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    ix_to_char = {i: ch for i, ch in enumerate(chars)}
    return data.split("\n"), ix_to_char, char_to_ix


@pytest.mark.parametrize("impl", ["numpy", "cython"])
def test_dinosaurus_model(benchmark, kit, oracle, dinos_text, dinosaurus, impl):
    kit.kernels(impl)                                   # skip if not built
    data_x, ix_to_char, char_to_ix = _setup(dinos_text)

    def run():
        with _ext.use_backend(impl), contextlib.redirect_stdout(io.StringIO()):
            return dinosaurus.model(list(data_x), ix_to_char, char_to_ix, ITERATIONS)

    benchmark.group = f"dinosaurus.model {ITERATIONS} iterations n_a=50"
    benchmark.extra_info.update(iterations=ITERATIONS, n_a=50, impl=impl)
    params, last_name = benchmark.pedantic(run, rounds=ROUNDS[impl], iterations=1,
                                           warmup_rounds=1)

    def ref():
        with contextlib.redirect_stdout(io.StringIO()):
            p, name = dinosaurus.model(list(data_x), ix_to_char, char_to_ix, ITERATIONS)
        return {k: v.copy() for k, v in p.items()}, name

    ref_params, ref_name = oracle(("dinosaurus.model", ITERATIONS), ref)
    assert last_name == ref_name
    assert set(params) == set(ref_params)
    for k, v in params.items():
        np.testing.assert_allclose(v, ref_params[k], rtol=1e-9, atol=1e-12, err_msg=k)
