"""Compiled engine of the PyTorch-style layers (``fastrnn.nn``): one time loop for every cell.

Private. Reached through ``fastrnn._ext.kernels()``; the NumPy twin with the same
functions, signatures and in-place semantics is ``fastrnn.reference._layers`` (read it
for the math, the gate orders and the variable-length rules). ``rec_forward`` /
``rec_backward`` run one layer in one direction; ``stack_forward`` / ``stack_backward``
a whole stack (layers, directions, dropout, ``batch_first``, lengths) in one call, the
twin's functions of the same names with the same results.

One time loop (:func:`_forward_core`, :func:`_backward_core`) serves every cell; a cell
contributes its gate count (``_GATES``), its element-wise step forward (``_cell_fwd``)
and backward (``_cell_bwd``) for one batch row, and the GRU its separate recurrent bias
(``b_hn``, applied inside the reset product, so its recurrent product goes to a scratch
``S`` instead of being added into the gates). Shared by all cells:

* the input projection of the whole sequence, ``G = x W_ih^T + bias``, one GEMM (index
  inputs: a gather of columns of ``W_ih``, its result for one-hot rows);
* per step the recurrent product ``h_{t-1} W_hh^T``: a GEMM for B > 1, for B = 1 the row
  product ``gemv_rows`` (``_gemv.h`` where it applies, else BLAS; from 128 KiB of
  ``W_hh`` in two parts of units, ``_usplit``, the pair's); backward's carry
  ``dh_{t-1} += dg_t W_hh`` likewise (``gemv_t_rows`` at B = 1);
* lengths (a row's invalid steps copy its state and get zero gradients), the direction
  (``reverse``: steps T-1 .. 0), both dtypes (``cython.floating``);
* after the backward loop, ``dW_ih``, ``db``, ``dx`` and ``dW_hh`` as GEMMs / one pass over
  all T*B rows (``h_{t-1}`` of every step is the neighbouring row of ``Y``, since ``Y``
  carries the state through invalid steps, or ``h0``).

``stack_forward`` / ``stack_backward`` run on the module's thread team or on one thread,
chosen per call by the measured costs (``team_begin``; :func:`_stack_run`): the two
directions of a bidirectional layer on two threads, a batched unidirectional step by
blocks of hidden units, a batch-1 unidirectional step's two parts on the pair (also
``Stepper``'s, :func:`_step_run`), the input projection, the weight gradients and ``dx`` by
blocks of rows; fixed blocks, the same bits whatever the thread count. SciPy's BLAS
runs at one thread during a call. Every argument is checked with the GIL
(dtype, contiguity, exact shapes, writability, lengths in [1, T], the cell code) before
the ``nogil`` core runs; errors name the argument.
"""

import numpy as np

from cython cimport floating
from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE,
                             PyBuffer_Release, PyObject_GetBuffer)
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from fastrnn._blas cimport TILE_N, gemm, gemm_tiles, gemv_rows, gemv_t_rows
from fastrnn._common cimport (_P_INTS, _P_PHASE, _P_SOLO, _pair_done, _pair_end,
                             _pair_mine, _pair_next, _pair_phase, fr_blas_begin, fr_blas_end,
                             fr_mark_stalled, fr_now_ns, fr_pool, fr_run, fr_store,
                             fr_team_rank, fr_team_size, fr_wait_change, job_t, round_first,
                             round_then, rounds_alloc, team_begin, team_end)
from fastrnn._math cimport vsigmoid, vtanh

cdef enum:
    _RNN_TANH = 0
    _RNN_RELU = 1
    _LSTM = 2
    _GRU = 3

cdef int[4] _GATES = [1, 1, 4, 3]

# kinds of calls for the team's choice (fr_choose in _team.h; this module's own slots)
cdef enum:
    _K_STACK_FWD = 0
    _K_STACK_BWD = 1
    _K_PAIR_FWD = 2    # the forward of a batch-1 unidirectional stack on the pair
    _K_PAIR_STEP = 3   # a Stepper call on the pair
    _ROWS = 256        # rows of a block of the input projection / the backward's dx
                       # product (fixed: the same blocks, so the same bits, whatever
                       # the thread count)
    _GROWS = 64        # gate rows of a block of the backward's weight gradients
cdef object _F64 = np.dtype(np.float64)
cdef object _F32 = np.dtype(np.float32)
cdef object _I64 = np.dtype(np.int64)
cdef Py_ssize_t _INT_MAX = 2147483647
cdef object _NO_IX = np.zeros((1, 1), np.int64)


# ================================================================ argument checks

cdef object _arr(str name, object a, object dt, tuple shape, bint written):
    """Check one argument: an ndarray of dtype ``dt``, C-contiguous, exactly ``shape``,
    writeable when the kernel writes it; raise naming it otherwise."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != dt:
        raise TypeError(f"{name} must have dtype {dt}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {a.strides}")
    if written and not a.flags.writeable:
        raise ValueError(f"{name} is written by the kernel but is read-only")
    return a


cdef _check_x(object x, bint index, Py_ssize_t T, Py_ssize_t B, Py_ssize_t X, object dt):
    """``x``: (T, B) int64 indices in [-1, X) (one-hot rows), or (T, B, X) of ``dt``."""
    if index:
        _arr("x", x, _I64, (T, B), False)
        if x.min() < -1 or x.max() >= X:
            raise ValueError(f"x (indices) must be in [-1, {X}) (X = the input size), got "
                             f"min {x.min()}, max {x.max()}")
    else:
        _arr("x", x, dt, (T, B, X), False)


cdef tuple _inputs(int cell, object x, object W_ih, object W_hh, object h0, object c0,
                   object lengths, object Y, bint y_written):
    """Check the arguments both kernels take (``cell``, ``x``, the weights, the initial
    states, ``lengths``, ``Y``); return ``(T, B, X, H, N, dt)``."""
    if not 0 <= cell <= 3:
        raise ValueError(f"cell must be 0-3 (RNN_TANH, RNN_RELU, LSTM, GRU), got {cell}")
    if not isinstance(W_hh, np.ndarray) or W_hh.ndim != 2:
        raise TypeError("W_hh must be a 2-D NumPy array")
    if not isinstance(x, np.ndarray) or x.ndim not in (2, 3):
        raise TypeError("x must be a NumPy array: (T, B, X) floats or (T, B) indices")
    if not isinstance(W_ih, np.ndarray) or W_ih.ndim != 2:
        raise TypeError("W_ih must be a 2-D NumPy array")
    index = x.ndim == 2
    T, B = x.shape[:2]
    X = W_ih.shape[1] if index else x.shape[2]
    H = W_hh.shape[1]
    N = _GATES[cell]
    if min(T, B, X, H) < 1:
        raise ValueError(f"empty input: x {x.shape}, W_hh {W_hh.shape}")
    if max(T * B * max(X, N * H), N * H * max(X, H)) > _INT_MAX:
        raise ValueError(f"sizes too large for the BLAS: x {x.shape}, W_hh {W_hh.shape}")
    dt = W_hh.dtype
    if dt != _F64 and dt != _F32:
        raise TypeError(f"W_hh must have dtype float32 or float64, got {dt}")
    _check_x(x, index, T, B, X, dt)
    _arr("W_ih", W_ih, dt, (N * H, X), False)
    _arr("W_hh", W_hh, dt, (N * H, H), False)
    _arr("h0", h0, dt, (B, H), False)
    _arr("c0", c0, dt, (B, H), False)
    _arr("lengths", lengths, _I64, (B,), False)
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must be in [1, {T}], got min {lengths.min()}, "
                         f"max {lengths.max()}")
    _arr("Y", Y, dt, (T, B, H), y_written)
    return T, B, X, H, N, dt, index


cdef tuple _x_views(object x, bint index, object dt):
    """``(dense x, indices)`` for :func:`_fwd` / :func:`_bwd`: the one not used is a
    1-element placeholder (its pointer is never read)."""
    if index:
        return np.zeros((1, 1, 1), dt), x
    return x, _NO_IX


# ========================================================== cells: one batch row

cdef inline void _cell_fwd(int cell, int H, int m, floating* g, const floating* s,
                           const floating* bn, const floating* hp, const floating* cp,
                           floating* h, floating* c, floating* ghn) noexcept nogil:
    """One cell step for one row, units ``[0, m)`` (m <= H; every pointer at the first
    unit of the range, the gate blocks H apart). ``g`` (N*H): the pre-activations (the
    hoisted projection plus, except for the GRU, the recurrent product) on entry, the
    activated gates on return. GRU: ``s`` (3H) the recurrent product ``W_hh h_{t-1}``,
    ``bn`` = b_hn, writes ``ghn = s_n + b_hn``. ``hp``, ``cp``: the previous states;
    writes ``h`` (and the LSTM's ``c``)."""
    cdef int j
    cdef floating r, u, n
    if cell == _RNN_TANH:
        vtanh(g, m)
        memcpy(h, g, m * sizeof(floating))
    elif cell == _RNN_RELU:
        for j in range(m):
            g[j] = g[j] if g[j] > 0 else 0
            h[j] = g[j]
    elif cell == _LSTM:                       # blocks [i, f, g, o]
        if m == H:
            vsigmoid(g, 2 * H)
        else:
            vsigmoid(g, m)
            vsigmoid(g + H, m)
        vtanh(g + 2 * H, m)
        vsigmoid(g + 3 * H, m)
        for j in range(m):                    # c_t = f c_{t-1} + i g
            c[j] = g[H + j] * cp[j] + g[j] * g[2 * H + j]
            h[j] = c[j]
        vtanh(h, m)
        for j in range(m):                    # h_t = o tanh(c_t)
            h[j] = g[3 * H + j] * h[j]
    else:                                     # GRU, blocks [r, z, n]
        for j in range(m):
            g[j] += s[j]
            g[H + j] += s[H + j]
        if m == H:
            vsigmoid(g, 2 * H)
        else:
            vsigmoid(g, m)
            vsigmoid(g + H, m)
        for j in range(m):                    # n = tanh(gx_n + r (W_hn h + b_hn))
            ghn[j] = s[2 * H + j] + bn[j]
            g[2 * H + j] = g[2 * H + j] + g[j] * ghn[j]
        vtanh(g + 2 * H, m)
        for j in range(m):                    # h_t = n + z (h_{t-1} - n)
            n = g[2 * H + j]
            h[j] = n + g[H + j] * (hp[j] - n)


cdef inline void _cell_bwd(int cell, int H, floating* g, floating* dgh, const floating* h,
                           const floating* hp, const floating* c, const floating* cp,
                           floating* ghn, floating* dht, floating* dc,
                           floating* dhp) noexcept nogil:
    """Backward of :func:`_cell_fwd` for one row. ``dht`` (H): the gradient on ``h_t``
    (scratch afterwards). ``g``: the activated gates on entry, the gradient on the
    hoisted projection on return. GRU: ``ghn`` becomes the gradient on ``W_hn h + b_hn``
    and ``dgh`` (3H) the gradient on the recurrent product. LSTM: ``dc`` carries the
    cell-state gradient one step back. Writes ``dhp``, the direct part of the gradient
    on ``h_{t-1}`` (0 but for the GRU; the LSTM first keeps tanh(c_t) there)."""
    cdef int j
    cdef floating i, f, gg, o, tc, dct, r, u, n, du, dan
    if cell == _RNN_TANH:
        for j in range(H):
            g[j] = dht[j] * (1 - h[j] * h[j])
            dhp[j] = 0
    elif cell == _RNN_RELU:
        for j in range(H):
            g[j] = dht[j] if h[j] > 0 else 0
            dhp[j] = 0
    elif cell == _LSTM:
        memcpy(dhp, c, H * sizeof(floating))
        vtanh(dhp, H)                         # tanh(c_t)
        for j in range(H):
            i = g[j]
            f = g[H + j]
            gg = g[2 * H + j]
            o = g[3 * H + j]
            tc = dhp[j]
            dct = dc[j] + dht[j] * o * (1 - tc * tc)     # h_t = o tanh(c_t)
            g[3 * H + j] = dht[j] * tc * o * (1 - o)
            g[2 * H + j] = dct * i * (1 - gg * gg)        # c_t = f c_{t-1} + i g
            g[j] = dct * gg * i * (1 - i)
            g[H + j] = dct * cp[j] * f * (1 - f)
            dc[j] = dct * f
            dhp[j] = 0
    else:
        for j in range(H):
            r = g[j]
            u = g[H + j]
            n = g[2 * H + j]
            du = dht[j] * (hp[j] - n)                     # h_t = n + z (h_{t-1} - n)
            dan = dht[j] * (1 - u) * (1 - n * n)          # n = tanh(gx_n + r ghn)
            g[j] = dan * ghn[j] * r * (1 - r)
            g[H + j] = du * u * (1 - u)
            g[2 * H + j] = dan
            ghn[j] = dan * r
            dgh[j] = g[j]
            dgh[H + j] = g[H + j]
            dgh[2 * H + j] = ghn[j]
            dhp[j] = dht[j] * u


# ================================================================== the time loop

cdef inline const floating* _prev(const floating* S, const floating* s0, int t, int T,
                                  int stride, bint reverse) noexcept nogil:
    """The state before step ``t`` (rows ``stride`` apart per step), or ``s0``."""
    if reverse:
        return S + (t + 1) * stride if t + 1 < T else s0
    return S + (t - 1) * stride if t > 0 else s0


cdef void _project(int cell, int r0, int r1, int X, int NH, const floating* x,
                   const int64_t* ix, const floating* Wih, const floating* bias,
                   floating* G) noexcept nogil:
    """Rows ``[r0, r1)`` of the hoisted projection ``G = x W_ih^T + bias``: one GEMM (one
    row of one: the row product); index inputs (one-hot rows): columns ``ix`` of
    ``W_ih``, the GEMM's result bit for bit."""
    cdef int s, j
    cdef floating* g
    cdef int64_t i
    if ix != NULL:
        for s in range(r0, r1):
            g = G + <Py_ssize_t>s * NH
            i = ix[s]
            for j in range(NH):
                g[j] = (Wih[<Py_ssize_t>j * X + i] if i >= 0 else 0) + bias[j]
        return
    if r1 - r0 == 1:                          # e.g. a streaming step
        memset(G + <Py_ssize_t>r0 * NH, 0, NH * sizeof(floating))
        gemv_rows(NH, X, Wih, x + <Py_ssize_t>r0 * X, G + <Py_ssize_t>r0 * NH)
    else:
        gemm(False, True, r1 - r0, NH, X, 1, x + <Py_ssize_t>r0 * X, X, Wih, X, 0,
             G + <Py_ssize_t>r0 * NH, NH)
    for s in range(r0, r1):
        g = G + <Py_ssize_t>s * NH
        for j in range(NH):
            g[j] += bias[j]


cdef void _fwd_step(int cell, int t, int T, int B, int H, int u0, int m,
                    const floating* Whh, const floating* WhT, const floating* bn, const floating* h0,
                    const floating* c0, const int64_t* lens, bint reverse, int ld,
                    floating* Y, floating* C, floating* G, floating* hn, floating* cn,
                    floating* S) noexcept nogil:
    """Step ``t`` of one layer and direction for the hidden units ``[u0, u0 + m)``: their
    columns of the recurrent product ``h_{t-1} W_hh^T`` (into the gates, or for the GRU
    into ``S``; all units: one GEMM, or at B = 1 the row product; a block: per gate
    block a tiled product with ``WhT`` = W_hh^T, ``gemm_tiles``, as ``_lstm.pyx``'s
    batched steps) and their cell step;
    at the direction's last step their final states. ``Y``, ``C``: rows ``ld`` apart."""
    cdef int N = _GATES[cell], NH = _GATES[cell] * H, b, q, hs
    cdef Py_ssize_t j
    cdef floating* g = G + <Py_ssize_t>t * B * NH
    cdef floating* dst
    cdef const floating* hp = _prev(Y, h0, t, T, B * ld, reverse)
    cdef const floating* cp = _prev(C, c0, t, T, B * ld, reverse)
    hs = H if hp == h0 else ld                # the row stride of the previous state
    dst = S if cell == _GRU else g
    if B == 1 and m == H:                     # all rows in one call
        if cell == _GRU:
            memset(S, 0, NH * sizeof(floating))
        gemv_rows(NH, H, Whh, hp, dst, t & 1)
    elif B == 1:                              # the units' rows of each gate block, odd
        for b in range(N):                    # steps last to first (L1: see _gemv.h)
            q = N - 1 - b if t & 1 else b
            if cell == _GRU:
                memset(S + q * H + u0, 0, m * sizeof(floating))
            gemv_rows(m, H, Whh + <Py_ssize_t>(q * H + u0) * H, hp, dst + q * H + u0, t & 1)
    elif m < H:                               # the block's columns of each gate block
        for q in range(N):
            gemm_tiles(False, B, m, H, hp, hs, WhT + q * H + u0, NH,
                       0 if cell == _GRU else 1, dst + q * H + u0, NH)
    else:
        gemm(False, True, B, NH, H, 1, hp, hs, Whh, H, 0 if cell == _GRU else 1, dst, NH)
    for b in range(B):
        j = (<Py_ssize_t>t * B + b) * ld + u0
        if t < lens[b]:
            _cell_fwd(cell, H, m, g + b * NH + u0, S + b * NH + u0, bn + u0,
                      hp + b * hs + u0, cp + b * hs + u0, Y + j, C + j, C + j)
        else:                                 # past the row's end: the state stays
            memcpy(Y + j, hp + b * hs + u0, m * sizeof(floating))
            if cell == _LSTM:
                memcpy(C + j, cp + b * hs + u0, m * sizeof(floating))
        if t == (0 if reverse else T - 1):    # the final states
            memcpy(hn + b * H + u0, Y + j, m * sizeof(floating))
            if cell == _LSTM:
                memcpy(cn + b * H + u0, C + j, m * sizeof(floating))


cdef enum:
    _SPLIT_BYTES = 131072   # a batch-1 step in two parts from this size of W_hh
cdef long long _OPEN_SPIN_NS = 2000000      # thread 1 spins this long for the opening


cdef inline int _usplit(int cell, int B, int H, int esize) noexcept nogil:
    """The first unit of the second part of a batch-1 step (H: one part). From
    _SPLIT_BYTES of recurrent weights (GRU float32 from H = 105, LSTM from 91, RNN from
    182) a batch-1 step runs as two parts, units [0, us) and [us, H) (their rows of
    each gate block, their cell step), whatever the thread count, so that the pair
    (``_forward_core``) and one thread give the same bits; ``us`` is a multiple of 16,
    so each part's entries fall on the same side of the vector loops' tails."""
    if B == 1 and <long long>_GATES[cell] * H * H * esize >= _SPLIT_BYTES:
        return (H // 2) // 16 * 16
    return H


cdef inline void _fwd_unit(int k, int us, int cell, int T, int B, int X, int H,
                           const floating* x, const int64_t* ix, const floating* Wih,
                           const floating* Whh, const floating* bias, const floating* bn,
                           const floating* h0, const floating* c0, const int64_t* lens,
                           bint reverse, int ld, floating* Y, floating* C, floating* G,
                           floating* hn, floating* cn, floating* S) noexcept nogil:
    """Unit k of :func:`_forward_core`'s work: 0 and 1 the projection's rows, in two
    halves where the steps run in two parts (0 the half with the first step's rows;
    else 0 all rows, 1 none), then 2s + 2 step s (its first part, or all units), 2s + 3
    the second part of step s."""
    cdef int s = (k - 2) // 2, t, u0 = 0, m = us, n = T * B
    cdef int pr = n // 2 if reverse else (n + 1) // 2
    if k < 2:                                # rows [0, pr) first, or [pr, n) reversed
        if us == H:
            if k == 0:
                _project(cell, 0, n, X, _GATES[cell] * H, x, ix, Wih, bias, G)
        elif (k == 0) != reverse:
            if pr > 0:
                _project(cell, 0, pr, X, _GATES[cell] * H, x, ix, Wih, bias, G)
        elif pr < n:
            _project(cell, pr, n, X, _GATES[cell] * H, x, ix, Wih, bias, G)
        return
    t = T - 1 - s if reverse else s
    if k % 2 == 1:
        u0 = us
        m = H - us
    _fwd_step(cell, t, T, B, H, u0, m, Whh, NULL, bn, h0, c0, lens, reverse, ld, Y, C, G,
              hn, cn, S)


cdef void _forward_core(int cell, int T, int B, int X, int H, const floating* x,
                        const int64_t* ix, const floating* Wih, const floating* Whh,
                        const floating* bias, const floating* bn, const floating* h0,
                        const floating* c0,
                        const int64_t* lens, bint reverse, int ld, floating* Y,
                        floating* C, floating* G, floating* hn, floating* cn,
                        floating* S, int* fl) noexcept nogil:
    """One layer in one direction: the projection of all T*B rows, then every step for
    all units (at batch 1 in two parts, ``_usplit``, and the projection in two halves
    of rows, :func:`_fwd_unit`). ``Y``, ``C``: rows ``ld`` apart (``ld`` = H, or D*H
    for a direction's columns in a stack's output); ``h0``, ``c0``, ``hn``, ``cn``
    (B, H) contiguous. ``fl`` NULL: one thread; else a pair's flags (``_common.pxd``;
    closed: phase -1), both threads calling: thread 0 opens them (phase 0), projects
    its half (phase 1) and runs the loop; item 0 is the projection's other half, item
    s + 1 the second part of step s, which may start once items <= s are done and
    thread 0 has done the first part of step s - 1 (phase s + 1)."""
    cdef int s, i, us = _usplit(cell, B, H, sizeof(floating))
    cdef long long tph = 0                   # thread 0's phase start (_pair_mine)
    if fl != NULL and fr_team_rank() != 0:  # spin until thread 0 opens the flags
        fr_wait_change(&fl[_P_PHASE], -1, _OPEN_SPIN_NS, &fr_pool.waiters)
        i = _pair_next(fl, T + 1)
        while i >= 0:
            _fwd_unit(2 * i + 1, us, cell, T, B, X, H, x, ix, Wih, Whh, bias, bn, h0, c0,
                      lens, reverse, ld, Y, C, G, hn, cn, S)
            _pair_done(fl, i)
            i = _pair_next(fl, T + 1)
        return
    _pair_phase(fl, 0)
    _fwd_unit(0, us, cell, T, B, X, H, x, ix, Wih, Whh, bias, bn, h0, c0, lens, reverse, ld,
              Y, C, G, hn, cn, S)
    _pair_phase(fl, 1)
    tph = fr_now_ns()
    for s in range(T):
        _fwd_unit(2 * s + 2, us, cell, T, B, X, H, x, ix, Wih, Whh, bias, bn, h0, c0, lens,
                  reverse, ld, Y, C, G, hn, cn, S)
        if us == H:
            continue
        _pair_phase(fl, s + 2)
        for i in range(0 if s == 0 else s + 1, s + 2):
            if _pair_mine(fl, i, &tph):      # 0: the projection's other half
                _fwd_unit(2 * i + 1, us, cell, T, B, X, H, x, ix, Wih, Whh, bias, bn, h0,
                          c0, lens, reverse, ld, Y, C, G, hn, cn, S)
                _pair_done(fl, i)
    _pair_end(fl)


cdef void _backward_core(int cell, int T, int B, int X, int H, const floating* x,
                         const int64_t* ix, const floating* Wih, const floating* Whh,
                         const floating* h0, const floating* c0, const int64_t* lens,
                         bint reverse, int ld,
                         const floating* Y, floating* C, floating* G, const floating* dY,
                         const floating* dhn, const floating* dcn, floating* dx,
                         floating* dh0, floating* dc0, floating* dWih, floating* dWhh,
                         floating* dbih, floating* dbhh, floating* S, floating* dh,
                         floating* dhp, floating* dc, floating* dht,
                         bint grads) noexcept nogil:
    cdef int N = _GATES[cell], NH = _GATES[cell] * H, s, t, b, j, n, hs
    cdef floating* g
    cdef floating* tmp
    cdef floating* dg
    cdef const floating* hp
    cdef const floating* cp
    cdef Py_ssize_t o
    memcpy(dh, dhn, B * H * sizeof(floating))
    memcpy(dc, dcn, B * H * sizeof(floating))
    for s in range(T):
        t = s if reverse else T - 1 - s
        hp = _prev(Y, h0, t, T, B * ld, reverse)
        cp = _prev(C, c0, t, T, B * ld, reverse)
        hs = H if hp == h0 else ld
        g = G + <Py_ssize_t>t * B * NH
        for b in range(B):
            o = (<Py_ssize_t>t * B + b) * ld
            if t < lens[b]:
                for j in range(H):
                    dht[j] = dh[b * H + j] + dY[o + j]
                _cell_bwd(cell, H, g + b * NH, S + b * NH, Y + o, hp + b * hs, C + o,
                          cp + b * hs, C + o, dht, dc + b * H, dhp + b * H)
            else:                             # past the row's end: gradients pass through
                memset(g + b * NH, 0, NH * sizeof(floating))
                memcpy(dhp + b * H, dh + b * H, H * sizeof(floating))
                if cell == _GRU:
                    memset(C + o, 0, H * sizeof(floating))
                    memset(S + b * NH, 0, NH * sizeof(floating))
        # the carry dh_{t-1} += dgh_t W_hh (dgh = the gates' gradient, GRU: S)
        dg = S if cell == _GRU else g
        if B == 1:
            gemv_t_rows(NH, H, Whh, dg, 1, dhp)
        else:
            gemm(False, False, B, H, NH, 1, dg, NH, Whh, H, 1, dhp, H)
        tmp = dh
        dh = dhp
        dhp = tmp
    memcpy(dh0, dh, B * H * sizeof(floating))
    if cell == _LSTM:
        memcpy(dc0, dc, B * H * sizeof(floating))
    n = T * B
    if dx != NULL and ix == NULL:  # NULL: the caller adds dG W_ih into dx (a stack's team)
        gemm(False, False, n, X, NH, 1, G, NH, Wih, X, 1, dx, X)
    if grads:
        _bwd_grads(cell, T, B, X, H, x, ix, h0, reverse, ld, Y, C, G, dWih, dWhh, dbih, dbhh,
                   0, NH)


cdef void _bwd_grads(int cell, int T, int B, int X, int H, const floating* x,
                     const int64_t* ix, const floating* h0, bint reverse, int ld,
                     const floating* Y, const floating* C, const floating* G,
                     floating* dWih, floating* dWhh, floating* dbih, floating* dbhh, int r0,
                     int r1) noexcept nogil:
    """The weight gradients of one layer and direction after its backward loop, gate
    rows ``[r0, r1)`` (``G`` the projection's gradient, ``C`` the GRU's on
    ``W_hn h + b_hn``): products over all T*B rows."""
    cdef int NH = _GATES[cell] * H, n = T * B, s, j, a, b
    cdef floating* tmp
    cdef const floating* g
    # gx = x W_ih^T + b_ih  ->  dW_ih += dG^T x, db_ih += column sums; index inputs:
    # dG's rows add into the columns ix of dW_ih
    if ix != NULL:
        for s in range(n):
            if ix[s] >= 0:
                g = G + <Py_ssize_t>s * NH
                tmp = dWih + ix[s]
                for j in range(r0, r1):
                    tmp[<Py_ssize_t>j * X] += g[j]
    else:
        gemm(True, False, r1 - r0, X, n, 1, G + r0, NH, x, X, 1, dWih + <Py_ssize_t>r0 * X, X)
    for s in range(n):
        for j in range(r0, r1):
            dbih[j] += G[<Py_ssize_t>s * NH + j]
    # gh = W_hh h_{t-1} + b_hh  ->  dW_hh += dgh^T h_prev, db_hh += column sums of dgh;
    # h_prev of step t is row t -+ 1 of Y, or h0 at the first step of the direction
    a, b = r0, r1
    if cell == _GRU:                          # rows of the n block: their gradient is in C
        b = r1 if r1 < 2 * H else 2 * H
        a = r0 if r0 > 2 * H else 2 * H
        if a < r1:
            _whh_grads(r1 - a, H, T, B, C + (a - 2 * H), ld, Y, ld, h0, reverse,
                       dWhh + <Py_ssize_t>a * H, dbhh + a)
        a = r0
    if a < b:
        _whh_grads(b - a, H, T, B, G + a, NH, Y, ld, h0, reverse, dWhh + <Py_ssize_t>a * H,
                   dbhh + a)


cdef void _whh_grads(int M, int H, int T, int B, const floating* dG, int ld,
                     const floating* Y, int ldy, const floating* h0, bint reverse,
                     floating* dWhh, floating* dbhh) noexcept nogil:
    """``dW_hh[:M] += sum_t dG_t^T h_{t-1}`` and ``db_hh[:M] += sum dG``, the first ``M``
    columns of ``dG`` (rows ``ld`` apart; ``Y``'s rows ``ldy`` apart)."""
    cdef int n = T * B, s, j
    cdef Py_ssize_t first = 0 if not reverse else <Py_ssize_t>(T - 1) * B * ld
    if T > 1:       # the steps whose h_{t-1} is a row of Y: T - 1 steps at once
        if reverse:
            gemm(True, False, M, H, (T - 1) * B, 1, dG, ld, Y + B * ldy, ldy, 1, dWhh, H)
        else:
            gemm(True, False, M, H, (T - 1) * B, 1, dG + B * ld, ld, Y, ldy, 1, dWhh, H)
    gemm(True, False, M, H, B, 1, dG + first, ld, h0, H, 1, dWhh, H)
    for s in range(n):
        for j in range(M):
            dbhh[j] += dG[<Py_ssize_t>s * ld + j]


# ==================================================================== entry points

cdef void _fwd(int cell, int T, int B, int X, const floating[:, :, ::1] x,
               const int64_t[:, ::1] ix, bint index, const floating[:, ::1] Wih,
               const floating[:, ::1] Whh, const floating[::1] bih, const floating[::1] bhh,
               const floating[:, ::1] h0, const floating[:, ::1] c0,
               const int64_t[::1] lens, bint reverse, floating[:, :, ::1] Y,
               floating[:, :, ::1] C, floating[:, :, ::1] G, floating[:, ::1] hn,
               floating[:, ::1] cn, floating[::1] bias, floating[:, ::1] S):
    cdef int H = Whh.shape[1], NH = Whh.shape[0], j
    for j in range(NH):                       # the biases that join the projection
        bias[j] = bih[j] + (bhh[j] if cell != _GRU or j < 2 * H else 0)
    cdef int blas = fr_blas_begin()           # SciPy's BLAS at one thread (see _team.h)
    with nogil:
        _forward_core(cell, T, B, X, H, &x[0, 0, 0], &ix[0, 0] if index else NULL,
                      &Wih[0, 0], &Whh[0, 0], &bias[0],
                      &bhh[0] + (2 * H if cell == _GRU else 0), &h0[0, 0], &c0[0, 0],
                      &lens[0], reverse, H, &Y[0, 0, 0], &C[0, 0, 0], &G[0, 0, 0],
                      &hn[0, 0], &cn[0, 0], &S[0, 0], NULL)
    fr_blas_end(blas)


cdef void _bwd(int cell, int T, int B, int X, const floating[:, :, ::1] x,
               const int64_t[:, ::1] ix, bint index, const floating[:, ::1] Wih,
               const floating[:, ::1] Whh, const floating[:, ::1] h0,
               const floating[:, ::1] c0, const int64_t[::1] lens, bint reverse,
               const floating[:, :, ::1] Y, floating[:, :, ::1] C, floating[:, :, ::1] G,
               const floating[:, :, ::1] dY, const floating[:, ::1] dhn,
               const floating[:, ::1] dcn, floating[:, :, ::1] dx, floating[:, ::1] dh0,
               floating[:, ::1] dc0, floating[:, ::1] dWih, floating[:, ::1] dWhh,
               floating[::1] dbih, floating[::1] dbhh, floating[:, ::1] S,
               floating[:, :, ::1] work):
    cdef int H = Whh.shape[1]
    cdef int blas = fr_blas_begin()
    with nogil:
        _backward_core(cell, T, B, X, H, &x[0, 0, 0], &ix[0, 0] if index else NULL,
                       &Wih[0, 0], &Whh[0, 0], &h0[0, 0],
                       &c0[0, 0], &lens[0], reverse, H, &Y[0, 0, 0], &C[0, 0, 0],
                       &G[0, 0, 0], &dY[0, 0, 0], &dhn[0, 0], &dcn[0, 0],
                       &dx[0, 0, 0] if not index else NULL,
                       &dh0[0, 0], &dc0[0, 0], &dWih[0, 0], &dWhh[0, 0], &dbih[0],
                       &dbhh[0], &S[0, 0], &work[0, 0, 0], &work[1, 0, 0], &work[2, 0, 0],
                       &work[3, 0, 0], True)
    fr_blas_end(blas)


def rec_forward(int cell, x, W_ih, W_hh, b_ih, b_hh, h0, c0, lengths, bint reverse,
                Y, C, G, hn, cn):
    """One recurrent layer in one direction; see ``fastrnn.reference.rec_forward``.

    Parameters
    ----------
    cell : int, 0 RNN_TANH, 1 RNN_RELU, 2 LSTM, 3 GRU.
    x : IN (T, B, X), or (T, B) int64 indices in [-1, X) (one-hot rows, -1 a zero row);
    W_ih : IN (N*H, X); W_hh : IN (N*H, H); b_ih, b_hh : IN (N*H,).
    h0, c0 : IN (B, H) (``c0`` read by the LSTM only); lengths : IN (B,) int64 in [1, T].
    reverse : run the steps T-1 .. 0.
    Y, C : OUT (T, B, H); G : OUT (T, B, N*H); hn, cn : OUT (B, H).
    """
    T, B, X, H, N, dt, index = _inputs(cell, x, W_ih, W_hh, h0, c0, lengths, Y, True)
    _arr("b_ih", b_ih, dt, (N * H,), False)
    _arr("b_hh", b_hh, dt, (N * H,), False)
    _arr("C", C, dt, (T, B, H), True)
    _arr("G", G, dt, (T, B, N * H), True)
    _arr("hn", hn, dt, (B, H), True)
    _arr("cn", cn, dt, (B, H), True)
    bias = np.empty(N * H, dt)
    S = np.empty((B, N * H), dt)
    xd, ix = _x_views(x, index, dt)
    if dt == _F64:
        _fwd[double](cell, T, B, X, xd, ix, index, W_ih, W_hh, b_ih, b_hh, h0, c0, lengths,
                     reverse, Y, C, G, hn, cn, bias, S)
    else:
        _fwd[float](cell, T, B, X, xd, ix, index, W_ih, W_hh, b_ih, b_hh, h0, c0, lengths,
                    reverse, Y, C, G, hn, cn, bias, S)


def rec_backward(int cell, x, W_ih, W_hh, h0, c0, lengths, bint reverse, Y, C, G, dY,
                 dhn, dcn, dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh):
    """Backward of :func:`rec_forward`; see ``fastrnn.reference.rec_backward``.

    Parameters
    ----------
    G : IN/OUT (T, B, N*H) the forward's gates; the projection's gradient on return.
    C : IN/OUT (T, B, H) the forward's C (GRU: the gradient on ``W_hn h + b_hn`` on return).
    dY : IN (T, B, H); dhn, dcn : IN (B, H).
    dx : (T, B, X) accumulated (None for index inputs); dh0, dc0 : OUT (B, H);
    dW_ih, dW_hh, db_ih, db_hh : accumulated.
    """
    T, B, X, H, N, dt, index = _inputs(cell, x, W_ih, W_hh, h0, c0, lengths, Y, False)
    _arr("C", C, dt, (T, B, H), True)
    _arr("G", G, dt, (T, B, N * H), True)
    _arr("dY", dY, dt, (T, B, H), False)
    _arr("dhn", dhn, dt, (B, H), False)
    _arr("dcn", dcn, dt, (B, H), False)
    if index:
        if dx is not None:
            raise ValueError("dx must be None for index inputs (they have no gradient)")
        dx = np.zeros((1, 1, 1), dt)          # a placeholder, never read or written
    else:
        _arr("dx", dx, dt, (T, B, X), True)
    _arr("dh0", dh0, dt, (B, H), True)
    _arr("dc0", dc0, dt, (B, H), True)
    _arr("dW_ih", dW_ih, dt, (N * H, X), True)
    _arr("dW_hh", dW_hh, dt, (N * H, H), True)
    _arr("db_ih", db_ih, dt, (N * H,), True)
    _arr("db_hh", db_hh, dt, (N * H,), True)
    S = np.empty((B, N * H), dt)
    work = np.empty((4, B, H), dt)            # dh, dh_prev, dc, and one row of dh_t
    xd, ix = _x_views(x, index, dt)
    if dt == _F64:
        _bwd[double](cell, T, B, X, xd, ix, index, W_ih, W_hh, h0, c0, lengths, reverse, Y,
                     C, G, dY, dhn, dcn, dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh, S, work)
    else:
        _bwd[float](cell, T, B, X, xd, ix, index, W_ih, W_hh, h0, c0, lengths, reverse, Y,
                    C, G, dY, dhn, dcn, dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh, S, work)


# ============================================================ stacks: one kernel call

cdef enum:        # columns of a stack's pointer table, one row per layer and direction
    _P_WIH = 0
    _P_WHH = 1
    _P_BIAS = 2   # forward: the folded bias; backward: unused
    _P_BN = 3     # GRU: b_hn
    _P_H0 = 4
    _P_C0 = 5
    _P_HN = 6     # backward: dh0
    _P_CN = 7     # backward: dc0
    _P_G = 8
    _P_S = 9
    _P_DHN = 10
    _P_DCN = 11
    _P_DWIH = 12
    _P_DWHH = 13
    _P_DBIH = 14
    _P_DBHH = 15
    _P_WORK = 16  # backward: (4, B, H): dh, dh_prev, dc, one row of dh_t
    _P_WHT = 17   # forward by blocks of units: W_hh^T (H, N*H)
    _P_N = 18

cdef enum:        # columns of a stack's layer table, one row per layer
    _L_IN = 0     # the layer's input: x, the indices, or the masked outputs below
    _L_Y = 1      # (T, B, D*H) the states of both directions (strided rows)
    _L_C = 2      # likewise the LSTM's cell states / the GRU's W_hn h + b_hn
    _L_MASK = 3   # forward: the dropout mask on Y before the next layer (0: none);
                  # backward: the mask of the layer below (on this layer's dx)
    _L_DY = 4     # backward: the gradient on Y (T, B, D*H)
    _L_DX = 5     # backward: the gradient on the input (0 for indices)
    _L_N = 6


cdef inline void* _p(const int64_t* tab, int row, int col, int ncol) noexcept nogil:
    return <void*><size_t>tab[row * ncol + col]


cdef inline bint _blocked(int D, int B, int H) noexcept nogil:
    """A unidirectional batched layer runs by blocks of TILE_N hidden units a step (the
    rounds of :func:`_stack_fwd_team`), whatever the thread count."""
    return D == 1 and B > 1 and H > TILE_N


cdef int _fwd_rounds(int L, int D, int T, int B, int H) noexcept nogil:
    """The rounds of a stack's forward: per layer 1, or (blocked) 1 + T."""
    return L * (1 + T) if _blocked(D, B, H) else L


cdef void _stack_fwd_team(int cell, int L, int D, int T, int B, int X, int H, bint index,
                          const int64_t* lens, const int64_t* P, const int64_t* Lt,
                          int* rounds, int stride, int* pairs, floating* tag) noexcept nogil:
    """One team thread's part of a stack's forward (``rounds``: :func:`_fwd_rounds`, or
    NULL for one thread; ``pairs``: per layer a pair's flags, or NULL). A batch-1
    unidirectional stack on two threads (``pairs``): each layer's loop on the pair
    (:func:`_forward_core`), thread 0 masking its output after it. Bidirectional: one round per layer, its items the layer's two
    directions, independent recurrences; each writes its columns of the layer's ``Y``
    and, with dropout, masks them into the next layer's input. Unidirectional with
    B > 1 and H > TILE_N (:func:`_blocked`): per layer a round of blocks of _ROWS rows of
    the input projection, then per step a round of blocks of TILE_N hidden units (their
    columns of the recurrent product, their cell step, their mask), as ``_rnn.pyx``'s
    ``_recurrence_team``. Otherwise one item per layer. A round starts when the
    previous one is complete; the blocks are fixed, so are the bits."""
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int k, d, r, Xk, q, s, t, c, u0, m, NH = _GATES[cell] * H, ri = 0, prevn = 0
    cdef int nrow = (T * B + _ROWS - 1) // _ROWS, nblk = (H + TILE_N - 1) // TILE_N
    cdef bint blocked = _blocked(D, B, H)
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t row, i, n = <Py_ssize_t>T * B
    cdef floating* Y
    cdef floating* msk
    cdef floating* out
    cdef const int64_t* ix
    cdef int* fl
    for k in range(L):
        Xk = X if k == 0 else D * H
        Y = <floating*>_p(Lt, k, _L_Y, _L_N)
        msk = <floating*>_p(Lt, k, _L_MASK, _L_N)
        out = <floating*>_p(Lt, k + 1, _L_IN, _L_N) if msk != NULL else NULL
        ix = <const int64_t*>_p(Lt, k, _L_IN, _L_N) if index and k == 0 else NULL
        if blocked:
            c = round_first(rounds, ri, stride, prevn, nrow, rank, size, own, &rd)
            while c >= 0:
                _project(cell, c * _ROWS, min(c * _ROWS + _ROWS, T * B), Xk, NH,
                         <floating*>_p(Lt, k, _L_IN, _L_N), ix,
                         <floating*>_p(P, k, _P_WIH, _P_N), <floating*>_p(P, k, _P_BIAS, _P_N),
                         <floating*>_p(P, k, _P_G, _P_N))
                c = round_then(rd, stride, nrow, rank, size, own)
            ri += 1
            prevn = nrow
            for t in range(T):
                c = round_first(rounds, ri, stride, prevn, nblk, rank, size, own, &rd)
                while c >= 0:
                    u0 = c * TILE_N
                    m = TILE_N if H - u0 > TILE_N else H - u0
                    _fwd_step(cell, t, T, B, H, u0, m, <floating*>_p(P, k, _P_WHH, _P_N),
                              <floating*>_p(P, k, _P_WHT, _P_N),
                              <floating*>_p(P, k, _P_BN, _P_N), <floating*>_p(P, k, _P_H0, _P_N),
                              <floating*>_p(P, k, _P_C0, _P_N), lens, False, H, Y,
                              <floating*>_p(Lt, k, _L_C, _L_N), <floating*>_p(P, k, _P_G, _P_N),
                              <floating*>_p(P, k, _P_HN, _P_N), <floating*>_p(P, k, _P_CN, _P_N),
                              <floating*>_p(P, k, _P_S, _P_N))
                    if out != NULL:          # inverted dropout: the next layer's input
                        for row in range(<Py_ssize_t>t * B, <Py_ssize_t>(t + 1) * B):
                            i = row * H + u0
                            for q in range(m):
                                out[i + q] = Y[i + q] * msk[i + q]
                    c = round_then(rd, stride, nblk, rank, size, own)
                ri += 1
                prevn = nblk
            continue
        fl = NULL
        if pairs != NULL:                    # batch 1: the layer's loop on the pair
            fl = pairs + k * _P_INTS
            if rank == 0 and k > 0 and pairs[(k - 1) * _P_INTS + _P_SOLO]:
                fr_store(&fl[_P_SOLO], 1)    # thread 1 stalled: the rest on thread 0
            d = 0                            # both threads: _forward_core
        else:
            d = round_first(rounds, ri, stride, prevn, D, rank, size, own, &rd)
        while d >= 0:
            r = k * D + d
            _forward_core(cell, T, B, Xk, H, <floating*>_p(Lt, k, _L_IN, _L_N), ix,
                          <floating*>_p(P, r, _P_WIH, _P_N), <floating*>_p(P, r, _P_WHH, _P_N),
                          <floating*>_p(P, r, _P_BIAS, _P_N), <floating*>_p(P, r, _P_BN, _P_N),
                          <floating*>_p(P, r, _P_H0, _P_N), <floating*>_p(P, r, _P_C0, _P_N),
                          lens, d == 1, D * H, Y + d * H,
                          <floating*>_p(Lt, k, _L_C, _L_N) + d * H,
                          <floating*>_p(P, r, _P_G, _P_N), <floating*>_p(P, r, _P_HN, _P_N),
                          <floating*>_p(P, r, _P_CN, _P_N), <floating*>_p(P, r, _P_S, _P_N),
                          fl)
            if out != NULL and (fl == NULL or rank == 0):    # inverted dropout: the
                # next layer's input (on the pair: thread 0, after the loop)
                for row in range(n):
                    i = row * D * H + d * H
                    for q in range(H):
                        out[i + q] = Y[i + q] * msk[i + q]
            d = -1 if pairs != NULL else round_then(rd, stride, D, rank, size, own)
        ri += 1
        prevn = D


cdef void _stack_bwd_team(int cell, int L, int D, int T, int B, int X, int H, bint index,
                          const int64_t* lens, const int64_t* P, const int64_t* Lt,
                          int* rounds, int stride, floating* tag) noexcept nogil:
    """One team thread's part of a stack's backward, top layer first (``rounds``: two
    per layer, or NULL). Round 2j (layer k = L-1-j): the directions' time loops (two
    independent recurrences); round 2j+1: the weight gradients of each direction in
    blocks of _GROWS gate rows (:func:`_bwd_grads`), and ``dx += dG_d W_ih_d`` for
    d = 0, 1 in blocks of _ROWS rows, then the dropout mask of the layer below on those
    rows (``dx`` masked is the ``dY`` of layer k-1). Fixed blocks: the same bits
    whatever the thread count."""
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int k, d, r, Xk, j, c, nr, nblk, NH = _GATES[cell] * H, prevn = 0, g0
    cdef int ng = (NH + _GROWS - 1) // _GROWS
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t i, i0, i1, n = <Py_ssize_t>T * B
    cdef floating* w
    cdef floating* m
    cdef floating* dx
    cdef Py_ssize_t BH = <Py_ssize_t>B * H
    nblk = <int>((n + _ROWS - 1) // _ROWS)
    for j in range(L):
        k = L - 1 - j
        Xk = X if k == 0 else D * H
        dx = <floating*>_p(Lt, k, _L_DX, _L_N)
        d = round_first(rounds, 2 * j, stride, prevn, D, rank, size, own, &rd)
        while d >= 0:
            r = k * D + d
            w = <floating*>_p(P, r, _P_WORK, _P_N)
            _backward_core(cell, T, B, Xk, H, <floating*>_p(Lt, k, _L_IN, _L_N),
                           <const int64_t*>_p(Lt, k, _L_IN, _L_N) if index and k == 0
                           else NULL,
                           <floating*>_p(P, r, _P_WIH, _P_N), <floating*>_p(P, r, _P_WHH, _P_N),
                           <floating*>_p(P, r, _P_H0, _P_N), <floating*>_p(P, r, _P_C0, _P_N),
                           lens, d == 1, D * H, <floating*>_p(Lt, k, _L_Y, _L_N) + d * H,
                           <floating*>_p(Lt, k, _L_C, _L_N) + d * H,
                           <floating*>_p(P, r, _P_G, _P_N),
                           <floating*>_p(Lt, k, _L_DY, _L_N) + d * H,
                           <floating*>_p(P, r, _P_DHN, _P_N), <floating*>_p(P, r, _P_DCN, _P_N),
                           NULL, <floating*>_p(P, r, _P_HN, _P_N),
                           <floating*>_p(P, r, _P_CN, _P_N), <floating*>_p(P, r, _P_DWIH, _P_N),
                           <floating*>_p(P, r, _P_DWHH, _P_N),
                           <floating*>_p(P, r, _P_DBIH, _P_N),
                           <floating*>_p(P, r, _P_DBHH, _P_N),
                           <floating*>_p(P, r, _P_S, _P_N), w, w + BH, w + 2 * BH, w + 3 * BH,
                           False)
            d = round_then(rd, stride, D, rank, size, own)
        nr = nblk if dx != NULL else 0       # index inputs: no dx
        c = round_first(rounds, 2 * j + 1, stride, D, D * ng + nr, rank, size, own, &rd)
        while c >= 0:
            if c < D * ng:                   # gate rows [g0, g1) of direction d's dW, db
                d = c // ng
                r = k * D + d
                g0 = (c % ng) * _GROWS
                _bwd_grads(cell, T, B, Xk, H, <floating*>_p(Lt, k, _L_IN, _L_N),
                           <const int64_t*>_p(Lt, k, _L_IN, _L_N) if index and k == 0
                           else NULL, <floating*>_p(P, r, _P_H0, _P_N), d == 1, D * H,
                           <floating*>_p(Lt, k, _L_Y, _L_N) + d * H,
                           <floating*>_p(Lt, k, _L_C, _L_N) + d * H,
                           <floating*>_p(P, r, _P_G, _P_N), <floating*>_p(P, r, _P_DWIH, _P_N),
                           <floating*>_p(P, r, _P_DWHH, _P_N),
                           <floating*>_p(P, r, _P_DBIH, _P_N),
                           <floating*>_p(P, r, _P_DBHH, _P_N), g0,
                           g0 + _GROWS if g0 + _GROWS < NH else NH)
                c = round_then(rd, stride, D * ng + nr, rank, size, own)
                continue
            c -= D * ng
            i0 = <Py_ssize_t>c * _ROWS
            i1 = i0 + _ROWS if i0 + _ROWS < n else n
            for d in range(D):
                r = k * D + d
                gemm(False, False, <int>(i1 - i0), Xk, NH, 1,
                     <floating*>_p(P, r, _P_G, _P_N) + i0 * NH, NH,
                     <floating*>_p(P, r, _P_WIH, _P_N), Xk, 1, dx + i0 * Xk, Xk)
            m = <floating*>_p(Lt, k, _L_MASK, _L_N)
            if m != NULL:                    # the dropout mask of the layer below
                for i in range(i0 * Xk, i1 * Xk):
                    dx[i] = dx[i] * m[i]
            c = round_then(rd, stride, D * ng + nr, rank, size, own)
        prevn = D * ng + nr


cdef void _stack_team(job_t* j, floating* tag) noexcept nogil:
    """Unpack a job of :func:`_stack_run` (i = cell, L, D, T, B, X, H; p = lens, P, Lt,
    rounds; q = stride, index, backward) for one dtype (``tag``: NULL, its type)."""
    if j.q[2]:
        _stack_bwd_team(j.i[0], j.i[1], j.i[2], j.i[3], j.i[4], j.i[5], j.i[6], j.q[1] != 0,
                        <const int64_t*>j.p[0], <const int64_t*>j.p[1],
                        <const int64_t*>j.p[2], <int*>j.p[3], <int>j.q[0], tag)
    else:
        _stack_fwd_team(j.i[0], j.i[1], j.i[2], j.i[3], j.i[4], j.i[5], j.i[6], j.q[1] != 0,
                        <const int64_t*>j.p[0], <const int64_t*>j.p[1],
                        <const int64_t*>j.p[2], <int*>j.p[3], <int>j.q[0], <int*>j.p[4],
                        tag)


cdef void _stack_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _stack_team[double](j, NULL)
    else:
        _stack_team[float](j, NULL)


cdef inline long long _key(long long B, long long H) noexcept nogil:
    """The shape a choice of the team is measured for."""
    return (B << 32) | H


cdef void _stack_run(bint backward, bint f64, int cell, int L, int D, int T, int B, int X,
                     int H, bint index, const int64_t* lens, const int64_t* P,
                     const int64_t* Lt) noexcept nogil:
    """A stack's forward or backward on the team (a bidirectional stack: the directions
    of a layer on two threads; a batch-1 unidirectional forward whose steps run in two
    parts, ``_usplit``: each layer's loop on the pair, kind ``_K_PAIR_FWD``) or on one
    thread, chosen per call by the measured costs (``team_begin``); SciPy's BLAS at one
    thread throughout. The bits do not depend on the choice."""
    cdef bint pair = (not backward and D == 1
                      and _usplit(cell, B, H, 8 if f64 else 4) < H)
    cdef int kind = _K_STACK_BWD if backward else (_K_PAIR_FWD if pair else _K_STACK_FWD)
    cdef int stride = 0, blas, k
    cdef long long t0
    cdef int nth = team_begin(kind, f64, _key(B, H),
                              pair or D == 2 or (_blocked(D, B, H) if not backward else B > 1),
                              &t0, &blas)
    cdef int* rounds = NULL
    cdef int* pairs = NULL
    if pair and nth > 1:                     # closed flags, one set per layer
        pairs = <int*>calloc(L * _P_INTS, sizeof(int))
        if pairs != NULL:
            for k in range(L):
                pairs[k * _P_INTS + _P_PHASE] = -1
    elif not pair:
        rounds = rounds_alloc(2 * L if backward else _fwd_rounds(L, D, T, B, H), nth, &stride)
    cdef job_t j
    j.f64 = f64
    j.i[0], j.i[1], j.i[2], j.i[3], j.i[4], j.i[5], j.i[6] = cell, L, D, T, B, X, H
    j.p[0], j.p[1], j.p[2], j.p[3], j.p[4] = lens, P, Lt, rounds, pairs
    j.q[0] = stride
    j.q[1] = index
    j.q[2] = backward
    fr_run(_stack_job, &j, 2 if pairs != NULL else (nth if rounds != NULL else 1))
    if pairs != NULL:
        for k in range(L):
            if pairs[k * _P_INTS + _P_SOLO]:
                fr_mark_stalled()
    free(rounds)
    free(pairs)
    team_end(kind, f64, nth if rounds != NULL or pairs != NULL else 1, t0, T, blas)


cdef int64_t _addr(object a) except? -1:
    """The address of a C-contiguous array's data (the buffer protocol: ~20x cheaper
    than ``a.ctypes.data``, which cost a small stack's call 10-20 us); valid while the
    caller holds ``a``."""
    cdef Py_buffer v
    PyObject_GetBuffer(a, &v, PyBUF_C_CONTIGUOUS)
    cdef int64_t p = <int64_t><size_t>v.buf
    PyBuffer_Release(&v)
    return p


cdef tuple _stack_shapes(int cell, object x, dict params, object hx, object cx,
                         object lengths, int L, int D):
    """Check a stack's arguments (after ``batch_first``); return
    ``(T, B, X, H, N, dt, index, lens)``."""
    if not 0 <= cell <= 3:
        raise ValueError(f"cell must be 0-3 (RNN_TANH, RNN_RELU, LSTM, GRU), got {cell}")
    if L < 1:
        raise ValueError(f"num_layers must be >= 1, got {L}")
    if not isinstance(hx, np.ndarray) or hx.ndim != 3:
        raise TypeError("hx must be a 3-D NumPy array (L*D, B, H)")
    dt = hx.dtype
    if dt != _F64 and dt != _F32:
        raise TypeError(f"hx must have dtype float32 or float64, got {dt}")
    if not isinstance(x, np.ndarray) or x.ndim not in (2, 3):
        raise TypeError("x must be a NumPy array: (T, B, X) floats or (T, B) indices")
    index = x.ndim == 2
    N = _GATES[cell]
    T, B = x.shape[:2]
    H = hx.shape[2]
    W0 = params.get("weight_ih_l0")
    if not isinstance(W0, np.ndarray) or W0.ndim != 2:
        raise ValueError("params must hold weight_ih_l0, a 2-D array")
    X = W0.shape[1] if index else x.shape[2]
    if min(T, B, X, H) < 1:
        raise ValueError(f"empty input: x {x.shape}, hx {hx.shape}")
    if max(T * B * max(X, N * H, D * H), N * H * max(X, D * H, H)) > _INT_MAX:
        raise ValueError(f"sizes too large for the BLAS: x {x.shape}, hx {hx.shape}")
    _check_x(x, index, T, B, X, dt)
    _arr("hx", hx, dt, (L * D, B, H), False)
    if cell == _LSTM:
        _arr("cx", cx, dt, (L * D, B, H), False)
    if lengths is None:
        lens = np.full(B, T, np.int64)
    else:
        lens = _arr("lengths", lengths, _I64, (B,), False)
        if lens.min() < 1 or lens.max() > T:
            raise ValueError(f"lengths must be in [1, {T}], got min {lens.min()}, "
                             f"max {lens.max()}")
    for k in range(L):
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            Xk = X if k == 0 else D * H
            _arr("weight_ih" + sfx, params.get("weight_ih" + sfx), dt, (N * H, Xk), False)
            _arr("weight_hh" + sfx, params.get("weight_hh" + sfx), dt, (N * H, H), False)
            if "bias_ih" + sfx in params or "bias_hh" + sfx in params:
                _arr("bias_ih" + sfx, params.get("bias_ih" + sfx), dt, (N * H,), False)
                _arr("bias_hh" + sfx, params.get("bias_hh" + sfx), dt, (N * H,), False)
    return T, B, X, H, N, dt, index, lens


def stack_forward(int cell, x, dict params, hx, cx, lengths, masks, int num_layers,
                  bint bidirectional, bint batch_first=False):
    """A stack of layers in one kernel call; see ``fastrnn.reference.stack_forward``
    (same arguments but ``kernels``, same results). Every layer writes both directions
    into one ``(T, B, D*H)`` buffer (strided rows), which the next layer reads as it is
    (or masked into a buffer of its own with dropout); no Python between layers."""
    if batch_first:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    cdef int L = num_layers, D = 2 if bidirectional else 1, k, d, r
    T, B, X, H, N, dt, index, lens = _stack_shapes(cell, x, params, hx, cx, lengths, L, D)
    if masks is not None:
        if len(masks) != L - 1:
            raise ValueError(f"masks must hold {L - 1} arrays, got {len(masks)}")
        for k in range(L - 1):
            _arr(f"masks[{k}]", masks[k], dt, (T, B, D * H), False)
    hn = np.empty_like(hx)
    cn = np.empty_like(hx) if cell == _LSTM else None
    c0s = cx if cell == _LSTM else hx
    P = np.zeros((L * D, _P_N), np.int64)
    Lt = np.zeros((L, _L_N), np.int64)
    keep = []                                # everything the pointers point into
    layers = []
    inp = x
    for k in range(L):
        Yk = np.empty((T, B, D * H), dt)
        Ck = np.empty((T, B, D * H), dt)
        Gk = np.empty((D, T, B, N * H), dt)
        Sk = np.empty((D, B, N * H), dt)
        Lt[k, _L_IN] = _addr(inp)
        Lt[k, _L_Y] = _addr(Yk)
        Lt[k, _L_C] = _addr(Ck)
        for d in range(D):
            r = k * D + d
            sfx = f"_l{k}" + ("_reverse" if d else "")
            b_ih = params.get("bias_ih" + sfx)
            b_hh = params.get("bias_hh" + sfx)
            if b_ih is None:
                b_ih = b_hh = np.zeros(N * H, dt)
            bias = b_ih + (b_hh if cell != _GRU else
                           np.concatenate([b_hh[:2 * H], np.zeros(H, dt)]))
            bn = b_hh[2 * H:] if cell == _GRU else b_hh
            keep += [bias, bn]
            if D == 1 and B > 1 and H > TILE_N:      # _blocked: the steps by blocks
                WhT = np.ascontiguousarray(params["weight_hh" + sfx].T)
                keep.append(WhT)
                P[r, _P_WHT] = _addr(WhT)
            for col, a in ((_P_WIH, params["weight_ih" + sfx]),
                           (_P_WHH, params["weight_hh" + sfx]), (_P_BIAS, bias), (_P_BN, bn),
                           (_P_H0, hx[r]), (_P_C0, c0s[r]), (_P_HN, hn[r]),
                           (_P_CN, (cn if cn is not None else hn)[r]), (_P_G, Gk[d]),
                           (_P_S, Sk[d])):
                P[r, col] = _addr(a)
        out = Yk
        if k + 1 < L and masks is not None:
            out = np.empty((T, B, D * H), dt)
            Lt[k, _L_MASK] = _addr(masks[k])
        layers.append((inp, Yk, Ck, Gk))
        keep.append(Sk)
        inp = out
    cdef const int64_t* pl = <const int64_t*><size_t>_addr(lens)
    cdef const int64_t* pP = <const int64_t*><size_t>_addr(P)
    cdef const int64_t* pL = <const int64_t*><size_t>_addr(Lt)
    cdef int cT = T, cB = B, cX = X, cH = H
    cdef bint f64 = dt == _F64, ixin = index
    with nogil:
        _stack_run(False, f64, cell, L, D, cT, cB, cX, cH, ixin, pl, pP, pL)
    y = layers[L - 1][1]
    if lengths is not None:                  # outputs past a sequence's end are zero
        y = y * (np.arange(T)[:, None] < lens[None, :])[:, :, None]
    if batch_first:
        y = np.ascontiguousarray(y.transpose(1, 0, 2))
    cache = dict(cell=cell, layers=layers, hx=hx, cx=cx, lens=lens, masks=masks,
                 num_layers=L, D=D, batch_first=batch_first, X=X, index=index)
    return y, hn, cn, cache


def stack_backward(dict cache, dict params, dy, dhn, dcn, dict grads):
    """Backward of :func:`stack_forward` in one kernel call (consumes ``cache``); see
    ``fastrnn.reference.stack_backward``. ``dx`` of layer k (masked) is the ``dY`` of
    layer k-1, each direction reading its columns of it in place."""
    cdef int cell = cache["cell"], D = cache["D"], L = cache["num_layers"], k, d, r
    layers, hx, cx, lens, masks = (cache["layers"], cache["hx"], cache["cx"], cache["lens"],
                                   cache["masks"])
    cdef bint index = cache["index"]
    T, B, H = layers[0][1].shape[0], layers[0][1].shape[1], hx.shape[2]
    X, N, dt = cache["X"], _GATES[cell], hx.dtype
    if cache["batch_first"]:
        dy = np.swapaxes(dy, 0, 1)
    dy = _arr("dy", np.ascontiguousarray(dy), dt, (T, B, D * H), False)
    zeros = np.zeros((L * D, B, H), dt)
    dhn = zeros if dhn is None else _arr("dhn", dhn, dt, (L * D, B, H), False)
    dcn = zeros if (dcn is None or cell != _LSTM) else _arr("dcn", dcn, dt, (L * D, B, H),
                                                             False)
    dh0 = np.empty_like(hx)
    dc0 = np.empty_like(hx) if cell == _LSTM else np.empty_like(hx)
    c0s = cx if cell == _LSTM else hx
    P = np.zeros((L * D, _P_N), np.int64)
    Lt = np.zeros((L, _L_N), np.int64)
    keep = []
    dout = dy
    dxs = [None] * L
    for k in range(L - 1, -1, -1):
        inp, Yk, Ck, Gk = layers[k]
        dinp = np.zeros((T, B, X if k == 0 else D * H), dt) if not (index and k == 0) \
            else None
        dxs[k] = dinp
        Lt[k, _L_IN] = _addr(inp)
        Lt[k, _L_Y] = _addr(Yk)
        Lt[k, _L_C] = _addr(Ck)
        Lt[k, _L_DY] = _addr(dout)
        if dinp is not None:
            Lt[k, _L_DX] = _addr(dinp)
        if k > 0 and masks is not None:
            Lt[k, _L_MASK] = _addr(masks[k - 1])
        Sk = np.empty((D, B, N * H), dt)
        Wk = np.empty((D, 4, B, H), dt)
        keep += [Sk, Wk]
        for d in range(D):
            r = k * D + d
            sfx = f"_l{k}" + ("_reverse" if d else "")
            if "bias_ih" + sfx in grads:
                db_ih, db_hh = grads["bias_ih" + sfx], grads["bias_hh" + sfx]
            else:
                db_ih, db_hh = np.zeros(N * H, dt), np.zeros(N * H, dt)
                keep += [db_ih, db_hh]
            for col, a in ((_P_WIH, params["weight_ih" + sfx]),
                           (_P_WHH, params["weight_hh" + sfx]), (_P_H0, hx[r]),
                           (_P_C0, c0s[r]), (_P_G, Gk[d]), (_P_S, Sk[d]), (_P_DHN, dhn[r]),
                           (_P_DCN, dcn[r]), (_P_HN, dh0[r]), (_P_CN, dc0[r]),
                           (_P_DBIH, db_ih), (_P_DBHH, db_hh), (_P_WORK, Wk[d])):
                P[r, col] = _addr(a)
            for col, name in ((_P_DWIH, "weight_ih"), (_P_DWHH, "weight_hh")):
                P[r, col] = _addr(_arr("grads[" + name + sfx + "]", grads[name + sfx], dt,
                                       params[name + sfx].shape, True))
        dout = dinp
    cdef const int64_t* pl = <const int64_t*><size_t>_addr(lens)
    cdef const int64_t* pP = <const int64_t*><size_t>_addr(P)
    cdef const int64_t* pL = <const int64_t*><size_t>_addr(Lt)
    cdef int cT = T, cB = B, cX = X, cH = H
    cdef bint f64 = dt == _F64
    with nogil:
        _stack_run(True, f64, cell, L, D, cT, cB, cX, cH, index, pl, pP, pL)
    dx = dxs[0]
    if cache["batch_first"] and dx is not None:
        dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
    return dx, dh0, (dc0 if cell == _LSTM else None)


# ============================================================ streaming: one step

cdef void _step_core(int cell, int L, int B, int X, int H, void** w, const floating* x,
                     const floating* h0, const floating* c0, floating* hn, floating* cn,
                     floating* G, floating* S, floating* Cs, floating* junk,
                     floating* bias, const floating* zb, const int64_t* lens,
                     int* fl) noexcept nogil:
    """One time step of ``L`` stacked layers: :func:`_forward_core` at T = 1 per layer,
    layer k+1 reading layer k's new state. ``w``: per layer ``W_ih, W_hh, b_ih, b_hh``
    (biases NULL: zeros ``zb``). States ``(L, B, H)``; ``cn`` LSTM only. ``fl``: NULL
    (one thread) or per layer a pair's closed flags, both threads calling (thread 0
    folds the biases before it opens a layer's flags)."""
    cdef int NH = _GATES[cell] * H, k, j, Xk = X
    cdef Py_ssize_t o
    cdef const floating* inp = x
    cdef const floating* bih
    cdef const floating* bhh
    cdef int* f = NULL
    for k in range(L):
        bih = <const floating*>w[4 * k + 2]
        bhh = <const floating*>w[4 * k + 3]
        if bih == NULL:
            bih = zb
            bhh = zb
        if fl != NULL:
            f = fl + k * _P_INTS
        if f == NULL or fr_team_rank() == 0:
            for j in range(NH):               # the biases folded as _fwd folds them
                bias[j] = bih[j] + (bhh[j] if cell != _GRU or j < 2 * H else 0)
            if f != NULL and k > 0 and fl[(k - 1) * _P_INTS + _P_SOLO]:
                fr_store(&f[_P_SOLO], 1)      # thread 1 stalled: the rest on thread 0
        o = <Py_ssize_t>k * B * H
        _forward_core(cell, 1, B, Xk, H, inp, NULL, <const floating*>w[4 * k],
                      <const floating*>w[4 * k + 1], bias, bhh + (2 * H if cell == _GRU else 0),
                      h0 + o, c0 + o, lens, False, H, hn + o, cn + o if cell == _LSTM else Cs,
                      G, junk, junk, S, f)
        inp = hn + o
        Xk = H


cdef void _step_job(void* a) noexcept nogil:
    """A :class:`Stepper` call on the pair (i = cell, L, B, X, H; p = w, x, h0, c0, hn,
    cn, G, S, Cs, junk, bias, zero, lens, flags)."""
    cdef job_t* j = <job_t*>a
    if j.f64:
        _step_core[double](j.i[0], j.i[1], j.i[2], j.i[3], j.i[4], <void**>j.p[0],
                           <const double*>j.p[1], <const double*>j.p[2],
                           <const double*>j.p[3], <double*>j.p[4], <double*>j.p[5],
                           <double*>j.p[6], <double*>j.p[7], <double*>j.p[8],
                           <double*>j.p[9], <double*>j.p[10], <const double*>j.p[11],
                           <const int64_t*>j.p[12], <int*>j.p[13])
    else:
        _step_core[float](j.i[0], j.i[1], j.i[2], j.i[3], j.i[4], <void**>j.p[0],
                          <const float*>j.p[1], <const float*>j.p[2], <const float*>j.p[3],
                          <float*>j.p[4], <float*>j.p[5], <float*>j.p[6], <float*>j.p[7],
                          <float*>j.p[8], <float*>j.p[9], <float*>j.p[10],
                          <const float*>j.p[11], <const int64_t*>j.p[12], <int*>j.p[13])


cdef void _step_run(bint f64, int cell, int L, int B, int X, int H, void** w,
                    const void* x, const void* h0, const void* c0, void* hn, void* cn,
                    void* G, void* S, void* Cs, void* junk, void* bias, const void* zero,
                    const int64_t* lens, int* flags) noexcept nogil:
    """A :class:`Stepper` call: on the pair (kind ``_K_PAIR_STEP``, when the steps run
    in two parts, ``_usplit``) or on one thread, by the measured costs; SciPy's BLAS at
    one thread. ``flags``: L pairs' flags, reset here."""
    cdef bint pair = _usplit(cell, B, H, 8 if f64 else 4) < H
    cdef long long t0
    cdef int blas, k
    cdef int nth = team_begin(_K_PAIR_STEP, f64, _key(B, H), pair, &t0, &blas)
    cdef job_t j
    if nth > 1:
        memset(flags, 0, L * _P_INTS * sizeof(int))
        for k in range(L):
            flags[k * _P_INTS + _P_PHASE] = -1
    j.f64 = f64
    j.i[0], j.i[1], j.i[2], j.i[3], j.i[4] = cell, L, B, X, H
    j.p[0], j.p[1], j.p[2], j.p[3], j.p[4], j.p[5] = w, x, h0, c0, hn, cn
    j.p[6], j.p[7], j.p[8], j.p[9], j.p[10], j.p[11] = G, S, Cs, junk, bias, zero
    j.p[12], j.p[13] = lens, flags if nth > 1 else NULL
    fr_run(_step_job, &j, 2 if nth > 1 else 1)
    team_end(_K_PAIR_STEP, f64, nth, t0, 1, blas)


cdef int _view(Py_buffer* v, object a, str name, char fmt, Py_ssize_t d0, Py_ssize_t d1,
               Py_ssize_t d2, bint written) except -1:
    """Acquire the buffer of ``a`` into ``v``: C-contiguous, of format ``fmt``, shape
    ``(d0, d1)`` or ``(d0, d1, d2)`` (``d2 > 0``); otherwise raise naming ``name``, holding
    nothing."""
    cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (PyBUF_WRITABLE if written else 0)
    cdef int ndim = 3 if d2 > 0 else 2
    try:
        PyObject_GetBuffer(a, v, flags)
    except (BufferError, TypeError, ValueError):
        raise ValueError(f"{name} must be a C-contiguous{' writeable' if written else ''} "
                         f"array, got {type(a).__name__}") from None
    if v.format[0] != fmt or v.format[1] != 0 or v.ndim != ndim or v.shape[0] != d0 \
            or v.shape[1] != d1 or (ndim == 3 and v.shape[2] != d2):
        got = tuple(v.shape[i] for i in range(v.ndim))
        fmt_got = v.format.decode()
        PyBuffer_Release(v)
        want = (d0, d1, d2)[:ndim]
        raise ValueError(f"{name} must have shape {want} and dtype "
                         f"{'float64' if fmt == b'd' else 'float32'}, got shape {got}, "
                         f"format {fmt_got!r}")
    return 0


cdef bint _finite(const void* p, Py_ssize_t n, bint f64):
    cdef Py_ssize_t i
    if f64:
        for i in range(n):
            if not isfinite((<const double*>p)[i]):
                return False
    else:
        for i in range(n):
            if not isfinite((<const float*>p)[i]):
                return False
    return True


cdef class Stepper:
    """One time step of every layer of a unidirectional stack, for ``fastrnn.nn``'s
    ``step``; the twin is ``fastrnn.reference.Stepper``.

    Built once per layer object and batch size: the weights are checked and bound, the
    scratch buffers allocated. A call checks ``x_t`` and the state (buffer protocol:
    shape, dtype, contiguity, finiteness), allocates the new state and runs
    :func:`_step_core` without the GIL: the per-step work of ``forward``.

    Parameters
    ----------
    cell : int, a cell code; batch, input_size, hidden_size, num_layers : int.
    bias : bool, the layers have biases.
    arrays : tuple, the parameters in ``fastrnn.nn``'s order (per layer ``weight_ih``,
        ``weight_hh`` and, with ``bias``, ``bias_ih``, ``bias_hh``), kept and bound.
    """

    cdef readonly int cell, num_layers, batch, input_size, hidden_size
    cdef readonly object dtype
    cdef readonly tuple arrays
    cdef char fmt
    cdef bint f64, busy
    cdef void** w
    cdef object work, lens_arr
    cdef void* G
    cdef void* S
    cdef void* Cs
    cdef void* junk
    cdef void* bsum
    cdef void* zero
    cdef int64_t* lens
    cdef int* flags

    def __cinit__(self, int cell, int batch, int input_size, int hidden_size, int num_layers,
                  bint bias, tuple arrays):
        self.w = NULL
        self.flags = NULL
        if not 0 <= cell <= 3:
            raise ValueError(f"cell must be 0-3 (RNN_TANH, RNN_RELU, LSTM, GRU), got {cell}")
        if batch < 1:
            raise ValueError(f"x_t must hold at least one row, got batch {batch}")
        if min(input_size, hidden_size, num_layers) < 1:
            raise ValueError("input_size, hidden_size and num_layers must be >= 1")
        cdef int per = 4 if bias else 2, N = _GATES[cell], H = hidden_size, k, i
        if len(arrays) != per * num_layers:
            raise ValueError(f"arrays must hold {per * num_layers} parameters, got "
                             f"{len(arrays)}")
        if max(batch * max(input_size, N * H), N * H * max(input_size, H),
               num_layers * batch * H) > _INT_MAX:
            raise ValueError("sizes too large for the BLAS")
        dt = arrays[0].dtype if isinstance(arrays[0], np.ndarray) else None
        if dt != _F64 and dt != _F32:
            raise TypeError(f"the weights must be float32 or float64 arrays, got {dt}")
        self.cell, self.batch, self.input_size, self.hidden_size = cell, batch, input_size, H
        self.num_layers, self.dtype, self.arrays = num_layers, dt, arrays
        self.f64 = dt == _F64
        self.fmt = b'd' if self.f64 else b'f'
        self.w = <void**>malloc(4 * num_layers * sizeof(void*))
        self.flags = <int*>calloc(num_layers * _P_INTS, sizeof(int))
        if self.w == NULL or self.flags == NULL:
            raise MemoryError()
        for k in range(num_layers):
            sfx = f"_l{k}"
            X = input_size if k == 0 else H
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            shapes = ((N * H, X), (N * H, H), (N * H,), (N * H,))
            for i in range(4):
                if i < per:
                    a = _arr(names[i] + sfx, arrays[per * k + i], dt, shapes[i], False)
                    self.w[4 * k + i] = <void*><size_t>a.ctypes.data
                else:
                    self.w[4 * k + i] = NULL
        # scratch: G, S (B, N*H); C, junk (B, H); the folded bias and zeros (N*H);
        # the zero state (L, B, H)
        cdef Py_ssize_t BNH = <Py_ssize_t>batch * N * H, BH = <Py_ssize_t>batch * H
        self.work = np.zeros(2 * BNH + 2 * BH + 2 * N * H + num_layers * BH, dt)
        cdef char* base = <char*><size_t>self.work.ctypes.data
        cdef Py_ssize_t item = dt.itemsize
        self.G = base
        self.S = base + BNH * item
        self.Cs = base + 2 * BNH * item
        self.junk = base + (2 * BNH + BH) * item
        self.bsum = base + (2 * BNH + 2 * BH) * item
        self.zero = base + (2 * BNH + 2 * BH + N * H) * item
        self.lens_arr = np.ones(batch, np.int64)
        self.lens = <int64_t*><size_t>self.lens_arr.ctypes.data

    def __dealloc__(self):
        free(self.w)
        free(self.flags)

    def current(self, dict params):
        """True when ``params.values()`` are the bound arrays (the same objects)."""
        if len(params) != len(self.arrays):
            return False
        cdef Py_ssize_t i = 0
        for v in params.values():
            if v is not self.arrays[i]:
                return False
            i += 1
        return True

    def step(self, x_t, h0, c0):
        """One step: ``x_t (B, input_size)``; ``h0``, ``c0`` ``(L, B, H)`` or None (zeros;
        ``c0`` LSTM only). Returns ``(y_t, h_n)``, for the LSTM ``(y_t, (h_n, c_n))``,
        ``y_t = h_n[L-1]``; new arrays."""
        cdef int L = self.num_layers, B = self.batch, H = self.hidden_size
        cdef bint lstm = self.cell == _LSTM
        cdef Py_buffer vx, vh, vc, vhn, vcn
        cdef bint gh = False, gc = False
        cdef const void* hp = self.zero
        cdef const void* cp = self.zero
        cdef Py_ssize_t n = <Py_ssize_t>L * B * H
        if self.busy:       # another thread is inside: a stepper with its own scratch
            return Stepper(self.cell, B, self.input_size, H, L,
                           len(self.arrays) == 4 * L, self.arrays).step(x_t, h0, c0)
        hn = np.empty((L, B, H), self.dtype)
        cn = np.empty((L, B, H), self.dtype) if lstm else None
        _view(&vx, x_t, "x_t", self.fmt, B, self.input_size, 0, False)
        try:
            if h0 is not None:
                _view(&vh, h0, "state" if not lstm else "state[0] (h)", self.fmt, L, B, H,
                      False)
                gh = True
                hp = vh.buf
            if lstm and c0 is not None:
                _view(&vc, c0, "state[1] (c)", self.fmt, L, B, H, False)
                gc = True
                cp = vc.buf
            if not _finite(vx.buf, <Py_ssize_t>B * self.input_size, self.f64):
                raise ValueError("x_t contains NaN or infinity")
            if (gh and not _finite(hp, n, self.f64)) or (gc and not _finite(cp, n, self.f64)):
                raise ValueError("state contains NaN or infinity")
            PyObject_GetBuffer(hn, &vhn, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
            if lstm:
                PyObject_GetBuffer(cn, &vcn, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
            self.busy = True
            with nogil:
                _step_run(self.f64, self.cell, L, B, self.input_size, H, self.w, vx.buf,
                          hp, cp, vhn.buf, vcn.buf if lstm else vhn.buf, self.G, self.S,
                          self.Cs, self.junk, self.bsum, self.zero, self.lens, self.flags)
            self.busy = False
            PyBuffer_Release(&vhn)
            if lstm:
                PyBuffer_Release(&vcn)
        finally:
            PyBuffer_Release(&vx)
            if gh:
                PyBuffer_Release(&vh)
            if gc:
                PyBuffer_Release(&vc)
        if lstm:
            return hn[L - 1], (hn, cn)
        return hn[L - 1], hn


include "_team_hooks.pxi"
