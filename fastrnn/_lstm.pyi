"""Type stubs of the compiled LSTM kernels (src_c/fastrnn/_lstm.pyx); the NumPy twin,
fastrnn.reference._lstm, has the same signatures. Arrays are C-contiguous float32 or
float64 (one dtype per call), indices int64; buffers marked OUT in the docstrings are
written in place. Gate blocks [f, i, c, o]."""

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.floating]
_I = npt.NDArray[np.int64]

PAIR_MIN_H: int

def lstm_forward_ix(X: _I, Wx: _F, Wh: _F, b: _F, a0: _F, c0: _F, A: _F, C: _F,
                    G: _F) -> None: ...
def lstm_forward_dense(x: _F, Wx: _F, Wh: _F, b: _F, a0: _F, c0: _F, A: _F, C: _F,
                       G: _F) -> None: ...
def lstm_backward_ix(X: _I, Wh: _F, a0: _F, c0: _F, A: _F, C: _F, G: _F, dA: _F, dcT: _F,
                     dWx: _F, dWh: _F, db: _F, da0: _F, dc0: _F) -> None: ...
def lstm_backward_dense(x: _F, Wx: _F, Wh: _F, a0: _F, c0: _F, A: _F, C: _F, G: _F, dA: _F,
                        dcT: _F, dWx: _F, dWh: _F, db: _F, da0: _F, dc0: _F,
                        dx: _F) -> None: ...
def lstm_train_step_ix(X: _I, Y: _I, Wx: _F, Wh: _F, b: _F, Wy: _F, by: _F, a0: _F, c0: _F,
                       A: _F, C: _F, G: _F, P: _F, dA: _F, dWx: _F, dWh: _F, db: _F,
                       dWy: _F, dby: _F, da0: _F, dc0: _F, clip: float,
                       lr: float) -> float: ...
def lstm_sample(Wx: _F, Wh: _F, b: _F, Wy: _F, by: _F, a: _F, c: _F, x0: int,
                u: npt.NDArray[np.float64], temperature: float, top_k: int, stop: int,
                out: _I) -> int: ...

def _gemv_test_hook(blas: bool | None = ...) -> bool: ...

K_PAIR_SAMPLE: int

# the thread team's Python side (src_c/fastrnn/_team_hooks.pxi)
def _connect_blas_threads(get_address: int, set_address: int) -> None: ...
def _set_threads(n: int) -> None: ...
def _get_threads() -> int: ...
def _team_test_hook(adaptive: bool | None = ..., stall_ns: int | None = ...,
                    hold_ns: int | None = ..., skip: bool | None = ...,
                    reset: bool = ...) -> tuple[bool, int, int, bool, list[int]]: ...
def _team_test_costs(kind: int, dbl: bool, key: int, single: float, team: float,
                     calls: int = ...) -> None: ...
def _team_costs(kind: int, dbl: bool) -> tuple[float, float, int]: ...
