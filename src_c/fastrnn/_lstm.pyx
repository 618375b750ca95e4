"""Compiled LSTM kernels: forward, backward through time, sampling, one training step.

Private. Reached through ``fastrnn._ext.kernels()``; the NumPy twin with the same
functions, signatures and in-place semantics is ``fastrnn.reference._lstm`` (read it
for the math; the gate order [f, i, c, o] is documented once at its top).

Forward lines, per step t and batch row (time-major, C-contiguous)::

    z_t = Wx x_t + Wh a_{t-1} + b                 G[t]  (B, 4H), blocks [f, i, c, o]
    f, i, o = sigmoid(z_f, z_i, z_o); cc = tanh(z_c)
    c_t = f * c_{t-1} + i * cc                    C (T, B, H)
    a_t = o * tanh(c_t)                           A (T, B, H)

The input projection and the bias are hoisted out of the time loop (a column gather of
``Wx`` for indices, one GEMM over all T*B rows for dense inputs, written into ``G``);
inside the loop only the recurrent product ``G[t] += A[t-1] @ Wh.T`` and the fused
gate math. Backward keeps the carry ``da_{t-1} += dz_t @ Wh`` and the gate derivatives
in the loop; ``db``, ``dWx`` and ``dx`` are single passes / GEMMs over all T*B rows
after it, ``dWh`` one GEMM after it at B = 1 and a product per step (``dz_t^T a_{t-1}``)
otherwise. At B = 1 the products are GEMVs on the calling thread; with B > 1 every
batched phase runs on the thread team of ``_team.h`` (rounds of 64-unit blocks, the
products as BLAS tiles small enough for OpenBLAS's no-packing kernels). The
transcendentals run through the vectorised ``vexpm`` / ``vtanh`` of ``fastrnn._math``
(~2 ulp, see ``_vecmath.h``) on contiguous gate blocks.

Every public function is a thin ``def`` wrapper: it checks that all float arrays share
one dtype (float32 or float64; ``TypeError`` naming the argument otherwise) and calls
the fused ``cdef`` implementation, which checks every shape and index range with the
GIL (``ValueError`` naming the argument) before any ``nogil`` code runs. When a buffer
cannot be taken (wrong dtype, ndim, non-contiguous, read-only), the wrapper re-examines
the arguments and names the offending one.
"""

import operator

import numpy as np

from cython cimport floating
from libc.math cimport exp, log, logf, isfinite, INFINITY
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset

from fastrnn._blas cimport (TILE_N, gemm, gemm_tiles, gemv, gemv_rows,
                             gemv_rows_own, gemv_t_rows)
from fastrnn._common cimport (OUT_ROWS, _P_INTS, _P_SOLO, _P_X, _pair_done, _pair_end,
                              _pair_finish, _pair_mine, _pair_next, _pair_phase, fr_blas_begin, fr_blas_end, fr_call_stalled,
                              fr_cas, fr_choose, fr_chosen, fr_load, fr_mark_stalled,
                              fr_max_threads, fr_member_hold, fr_notify, fr_now_ns,
                              fr_pause_or_block, fr_run, fr_stall_ns, fr_store,
                              fr_team_rank, fr_team_size, fr_wait_count, gather_ix,
                              gather_scatter, job_t, output_run, round_first, round_then,
                              rounds_alloc, sample_pick, softmax_xent_core, team_begin,
                              team_end, transpose)
from fastrnn._math cimport lstm_gates, lstm_gates_bwd, vclip, vclip_sgd, vexpm, vtanh


cdef object _F64 = np.dtype(np.float64)
cdef object _F32 = np.dtype(np.float32)
cdef object _I64 = np.dtype(np.int64)
cdef object _NDARRAY = np.ndarray
cdef tuple _BUFFER_ERRORS = (ValueError, TypeError, BufferError)
cdef Py_ssize_t _INT_MAX = 2147483647


# ============================================================ scalar math (nogil)

cdef inline floating _log(floating x) noexcept nogil:
    """``log`` in the precision of ``floating``."""
    if floating is float:
        return logf(x)
    else:
        return log(x)


# ================================================================ argument checks

cdef object _float_dtype(tuple args, tuple spec):
    """Return the one float dtype shared by the float arguments of ``args``.

    ``spec`` holds ``(name, ndim, kind, written)`` per argument, ``kind`` being
    ``'f'`` (model float), ``'i'`` (int64 indices) or ``'d'`` (always float64).
    Raises ``TypeError`` naming the argument for ``None``, a non-float dtype or
    mixed float32/float64.
    """
    cdef object dt = None
    cdef object first = None
    cdef Py_ssize_t k
    for k in range(len(spec)):
        a = args[k]
        s = spec[k]
        if a is None:
            raise TypeError(f"{s[0]} must be a NumPy array, got None")
        if s[2] != "f":
            continue
        d = getattr(a, "dtype", None)
        if d is not _F64 and d is not _F32:
            if d is None:
                raise TypeError(f"{s[0]} must be a float32 or float64 NumPy array, "
                                f"got {type(a).__name__}")
            if d == _F64:
                d = _F64
            elif d == _F32:
                d = _F32
            else:
                raise TypeError(f"{s[0]} must have dtype float32 or float64, got {d}")
        if dt is None:
            dt = d
            first = s[0]
        elif d is not dt:
            raise TypeError(f"mixed float dtypes: {first} is {dt} but {s[0]} is {d}; "
                            "pass every float array in one dtype")
    return dt


cdef int _diagnose(tuple args, tuple spec, object dt) except -1:
    """Find the argument whose buffer could not be taken and raise a named error.

    Returns 0 (and the caller re-raises the original error) when every argument
    looks right, e.g. when the original error was already a named shape error.
    """
    cdef Py_ssize_t k
    for k in range(len(spec)):
        a = args[k]
        name, ndim, kind, written = spec[k]
        if not isinstance(a, _NDARRAY):
            raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
        want = _I64 if kind == "i" else (_F64 if kind == "d" else dt)
        if a.dtype != want:
            raise TypeError(f"{name} must have dtype {want}, got {a.dtype}")
        if a.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (np.ascontiguousarray), "
                             f"got strides {a.strides}")
        if written and not a.flags.writeable:
            raise ValueError(f"{name} is written by the kernel but is read-only")
    return 0


cdef int _chk1(str name, str sym, Py_ssize_t s0, Py_ssize_t e0) except -1:
    """Raise ``ValueError`` unless a 1-D shape ``(s0,)`` equals ``(e0,)``."""
    if s0 != e0:
        raise ValueError(f"{name} must have shape {sym} = ({e0},), got ({s0},)")
    return 0


cdef int _chk2(str name, str sym, Py_ssize_t s0, Py_ssize_t s1,
               Py_ssize_t e0, Py_ssize_t e1) except -1:
    """Raise ``ValueError`` unless a 2-D shape equals ``(e0, e1)``."""
    if s0 != e0 or s1 != e1:
        raise ValueError(f"{name} must have shape {sym} = ({e0}, {e1}), got ({s0}, {s1})")
    return 0


cdef int _chk3(str name, str sym, Py_ssize_t s0, Py_ssize_t s1, Py_ssize_t s2,
               Py_ssize_t e0, Py_ssize_t e1, Py_ssize_t e2) except -1:
    """Raise ``ValueError`` unless a 3-D shape equals ``(e0, e1, e2)``."""
    if s0 != e0 or s1 != e1 or s2 != e2:
        raise ValueError(f"{name} must have shape {sym} = ({e0}, {e1}, {e2}), "
                         f"got ({s0}, {s1}, {s2})")
    return 0


cdef int _chk_dims(Py_ssize_t T, Py_ssize_t B, Py_ssize_t H, Py_ssize_t Xn,
                   Py_ssize_t Yn) except -1:
    """Every dimension >= 1 and every BLAS dimension product within a C int."""
    if T < 1:
        raise ValueError(f"the sequence is empty (T = {T}); T must be >= 1")
    if B < 1:
        raise ValueError(f"the batch is empty (B = {B}); B must be >= 1")
    if H < 1:
        raise ValueError(f"the hidden size is {H} (Wh has shape (4H, H)); H must be >= 1")
    if Xn < 1:
        raise ValueError(f"the input size X is {Xn}; X must be >= 1")
    if Yn < 1:
        raise ValueError(f"the output size Y is {Yn}; Y must be >= 1")
    cdef Py_ssize_t widest = max(4 * H, Xn, Yn)
    if T * B > _INT_MAX // widest or 4 * H > _INT_MAX // max(H, Xn, Yn):
        raise ValueError(f"sizes T={T}, B={B}, H={H}, X={Xn}, Y={Yn} exceed the "
                         "32-bit BLAS index range")
    return 0


cdef int _chk_index(str name, const int64_t* v, Py_ssize_t T, Py_ssize_t B,
                    Py_ssize_t hi) except -1:
    """Raise ``ValueError`` unless ``-1 <= v < hi`` for all T*B entries."""
    cdef Py_ssize_t r
    cdef bint bad = False
    with nogil:
        for r in range(T * B):
            if v[r] < -1 or v[r] >= hi:
                bad = True
                break
    if bad:
        raise ValueError(f"{name}[{r // B}, {r % B}] = {v[r]} is outside [-1, {hi - 1}] "
                         "(-1 means no input / masked target)")
    return 0


cdef int _chk_cell(Py_ssize_t H, Py_ssize_t Xn, str wx_name,
                   Py_ssize_t wx0, Py_ssize_t wx1, Py_ssize_t wh0, Py_ssize_t wh1,
                   Py_ssize_t b0) except -1:
    """Wh (4H, H), Wx (4H, X) (or dWx), b (4H,)."""
    _chk2("Wh", "(4H, H)", wh0, wh1, 4 * H, H)
    _chk2(wx_name, "(4H, X)", wx0, wx1, 4 * H, Xn)
    _chk1("b", "(4H,)", b0, 4 * H)
    return 0


# ==================================================================== cores (nogil)

cdef void _project_dense(int N, int G4, int Xn, const floating* x, const floating* Wx,
                         const floating* b, floating* G) noexcept nogil:
    """G (N, 4H) = x (N, X) @ Wx.T + b: one GEMM over all T*B rows."""
    cdef Py_ssize_t r, k
    cdef floating* row
    gemm(False, True, N, G4, Xn, 1, x, Xn, Wx, Xn, 0, G, G4)
    for r in range(N):
        row = G + r * G4
        for k in range(G4):
            row[k] = row[k] + b[k]


# ------------------------------------------------------------ batch 1 on two threads

# From PAIR_MIN_H hidden units on, a batch-1 step multiplies Wh a_{t-1} in two parts,
# the rows of gates [f, i] and of gates [cc, o] (``_zsplit``), and activates its units
# in two ranges (``_unit_split``), in every batch-1 pass (forward, backward, training
# step, sampling), so that the numbers are the same whether one thread computes both
# parts or a pair of threads one each (a BLAS's GEMV may sum an entry in another order
# depending on the rows around it in the call): sampling's states equal forward()'s bit
# for bit, and no result depends on the thread count. Where _gemv.h multiplies (AVX-512F,
# H <= 128), no row depends on the others in the call, and one thread multiplies all
# rows at once (``_zsplit_run``). From that size those passes run
# on a pair of threads (below) when the BLAS setting allows two (the automatic policy
# asks for them: fastrnn._config.auto_count); below it a step is too short for the
# synchronisation to pay.
cdef int _PAIR_MIN_H = 96
PAIR_MIN_H = _PAIR_MIN_H


cdef inline int _zsplit(int H) noexcept nogil:
    """The first row of the second part of a batch-1 step's ``Wh a`` (4H: one part)."""
    return 2 * H if H >= _PAIR_MIN_H else 4 * H


cdef inline int _unit_split(int H) noexcept nogil:
    """The first unit of the second part of a batch-1 step's units (H: one part): a
    multiple of 16, so that each part's entries fall on the same side of the vector
    loops' tails as in one call (see FR_MAP in _vecmath.h)."""
    return (H // 2) // 16 * 16 if H >= _PAIR_MIN_H else H


cdef inline int _threads(int kind, bint dbl, Py_ssize_t B, Py_ssize_t H, long long* t0,
                         int* blas) noexcept nogil:
    """The thread count of a call (``team_begin``): a batched call's by the measured
    costs; at batch 1 from ``_PAIR_MIN_H`` units every thread the setting allows (each
    pass then chooses between the pair and one thread: ``_pair_begin``)."""
    cdef int n = team_begin(kind, dbl, _key(B, H), B > 1, t0, blas)
    if B == 1 and H >= _PAIR_MIN_H:
        n = fr_max_threads
    return n


cdef inline void _zgemv(int H, int r0, int r1, const floating* Wh, const floating* a,
                        floating* z, bint rev) noexcept nogil:
    """``z[r0:r1] += Wh[r0:r1] @ a`` (rows of the stacked gates); ``rev``: the rows last
    to first (odd steps: the rows the previous step read last are still in L1)."""
    gemv_rows(r1 - r0, H, Wh + <Py_ssize_t>r0 * H, a, z + r0, rev)


cdef inline int _zsplit_run(int H, int* fl) noexcept nogil:
    """The rows thread 0 multiplies first in a batch-1 step: part 0 of ``_zsplit`` on a
    pair, or where BLAS multiplies (its sums can depend on the rows around them: the
    parts keep one thread's bits equal to a pair's); all rows otherwise (``_gemv.h``)."""
    if fl == NULL and gemv_rows_own(H):
        return 4 * H
    return _zsplit(H)


cdef inline void _dagemv(int H, int r0, int r1, const floating* Wh, const floating* dz,
                         floating beta, floating* da) noexcept nogil:
    """``da = beta * da + dz[r0:r1] @ Wh[r0:r1]`` (rows of the stacked gates)."""
    gemv_t_rows(r1 - r0, H, Wh + <Py_ssize_t>r0 * H, dz + r0, beta, da)


cdef inline void _vadd(floating* y, const floating* x, int n) noexcept nogil:
    """``y += x`` over n entries."""
    cdef int j
    for j in range(n):
        y[j] = y[j] + x[j]


# The pair's flags and waits (``_pair_next`` .. ``_pair_finish``) are in _common.pxd.
# Whether a pair pays depends on how fast the other core answers, which on a shared
# machine changes from minute to minute (a cross-core round trip of 50 to 500 ns here,
# and none at all while another process holds the core). So each kind of batch-1 pass
# (``_K_PAIR_*``), per dtype and H, keeps an estimate of its cost per step on a pair and
# on one thread and runs the cheaper (fr_choose in _team.h, as the batched calls of
# ``_K_FORWARD`` .. ``_K_TRAIN`` do). The numbers never depend on the choice.
cdef enum:
    _K_FORWARD = 0        # batched calls (B > 1) on the team
    _K_BACKWARD = 1
    _K_TRAIN = 2
    _K_PAIR_FORWARD = 3   # batch-1 passes on the pair
    _K_PAIR_BACKWARD = 4
    _K_PAIR_SAMPLE = 5
K_PAIR_SAMPLE = _K_PAIR_SAMPLE


cdef inline long long _key(long long B, long long H) noexcept nogil:
    """The shape a choice of the team is measured for."""
    return (B << 32) | H


cdef inline int* _pair_begin(int kind, bint dbl, int H, long long* t0) noexcept nogil:
    """Zeroed flags when this batch-1 pass of H units (float64 when ``dbl``) runs on a
    pair (else NULL: one thread): H >= ``_PAIR_MIN_H`` and the pair chosen by the
    measured costs (fr_choose), unless a pass of this kernel call already found thread 1
    stalled. The caller runs its job on two threads when not NULL and ends with
    ``_pair_finish``; ``t0``: the start (0: not eligible)."""
    t0[0] = 0
    if H < _PAIR_MIN_H or fr_call_stalled() or fr_choose(kind, dbl, H, t0) < 2:
        return NULL
    return <int*>calloc(_P_INTS, sizeof(int))


cdef void _fwd_item(int i, int H, const floating* Wh, const floating* a0,
                    const floating* c0, floating* A, floating* C, floating* G,
                    floating* TC) noexcept nogil:
    """Item i of the batch-1 forward on a pair, step t = i // 2: even, part 1 of
    ``G[t] += Wh a_{t-1}`` (``_zsplit``); odd, the gates of the units [us, H)."""
    cdef int t = i >> 1, G4 = 4 * H, us = _unit_split(H)
    cdef floating* g = G + <Py_ssize_t>t * G4
    cdef floating* tc = NULL
    cdef Py_ssize_t o = <Py_ssize_t>t * H + us
    if i % 2 == 0:
        _zgemv(H, _zsplit(H), G4, Wh, a0 if t == 0 else A + (t - 1) * H, g, t & 1)
    else:
        if TC != NULL:
            tc = TC + o
        lstm_gates(g + us, (c0 if t == 0 else C + (t - 1) * H) + us, C + o, A + o, H - us,
                   tc, H)


cdef void _fwd_run(int T, int H, const floating* Wh, const floating* a0,
                   const floating* c0, floating* A, floating* C, floating* G,
                   floating* TC, int* fl) noexcept nogil:
    """The batch-1 recurrence of :func:`_recurrence`, on one thread (``fl`` NULL) or on
    a pair (both threads call it): step t, thread 0 multiplies part 0 of ``_zsplit``
    (phase 2t + 1) and activates the units [0, us) (phase 2t + 2); items 2t and 2t + 1
    are the other parts (``_fwd_item``). One thread activates all units in one call and,
    where ``_gemv.h`` multiplies, multiplies all rows in one call (``_zsplit_run``; the
    same bits)."""
    cdef int t, i, G4 = 4 * H, us = _unit_split(H), zs = _zsplit_run(H, fl)
    cdef floating* g
    cdef floating* tc = NULL
    cdef long long tph = 0               # thread 0's phase start (_pair_mine)
    if fl != NULL and fr_team_rank() != 0:
        i = _pair_next(fl, 2 * T)
        while i >= 0:
            _fwd_item(i, H, Wh, a0, c0, A, C, G, TC)
            _pair_done(fl, i)
            i = _pair_next(fl, 2 * T)
        return
    tph = fr_now_ns() if fl != NULL else 0
    for t in range(T):
        i = 2 * t
        g = G + <Py_ssize_t>t * G4
        # z_t = (Wx x_t + b) + a_{t-1} @ Wh.T, in the parts of _zsplit
        _zgemv(H, 0, zs, Wh, a0 if t == 0 else A + (t - 1) * H, g, t & 1)
        _pair_phase(fl, i + 1)
        if zs < G4 and _pair_mine(fl, i, &tph):
            _fwd_item(i, H, Wh, a0, c0, A, C, G, TC)
            _pair_done(fl, i)
        if TC != NULL:
            tc = TC + <Py_ssize_t>t * H
        lstm_gates(g, c0 if t == 0 else C + (t - 1) * H, C + t * H, A + t * H,
                   H if fl == NULL else us, tc, H)
        _pair_phase(fl, i + 2)
        if fl != NULL and _pair_mine(fl, i + 1, &tph):
            _fwd_item(i + 1, H, Wh, a0, c0, A, C, G, TC)
            _pair_done(fl, i + 1)
    _pair_end(fl)


cdef void _bwd_step(int t, int T, int H, int u0, int u1, const floating* c0,
                    const floating* C, floating* G, floating* dA, const floating* TC,
                    const floating* P1, floating* dc) noexcept nogil:
    """The cell backward of step t for the units [u0, u1): first ``dA[t] += P1`` there
    (part 1 of the carry from step t + 1, ``_bwd_carry``; none at t = T - 1 or when
    ``P1`` is NULL: one part), then their dz in G[t] and their dc."""
    cdef Py_ssize_t o = <Py_ssize_t>t * H + u0
    if t < T - 1 and P1 != NULL:
        _vadd(dA + o, P1 + u0, u1 - u0)
    lstm_gates_bwd(G + <Py_ssize_t>t * 4 * H + u0, dA + o, TC + o,
                   (c0 if t == 0 else C + (t - 1) * H) + u0, dc + u0, u1 - u0, H)


cdef void _bwd_carry(int part, int t, int H, const floating* Wh, const floating* G,
                     floating* dA, floating* da0, floating* P1) noexcept nogil:
    """Part ``part`` of the carry ``dz_t @ Wh`` over the rows of ``_zsplit``: part 0
    added to ``dA[t-1]`` (``da0 =`` at t = 0), part 1 into ``P1``, added by the next
    ``_bwd_step`` (by the caller after step 0)."""
    cdef int zs = _zsplit(H)
    cdef const floating* g = G + <Py_ssize_t>t * 4 * H
    if part == 1:
        _dagemv(H, zs, 4 * H, Wh, g, 0, P1)
    elif t > 0:
        _dagemv(H, 0, zs, Wh, g, 1, dA + (t - 1) * H)
    else:
        _dagemv(H, 0, zs, Wh, g, 0, da0)


cdef inline void _clip_update(floating* W, floating* dW, Py_ssize_t n, floating clip,
                              floating lr) noexcept nogil:
    """The training step's update of n entries: clip dW to [-clip, clip] (clip > 0),
    then ``W += -lr * dW`` (lr != 0); nothing for ``W`` NULL."""
    if W == NULL:
        return
    if lr != 0:
        vclip_sgd(W, dW, n, clip, lr)
    elif clip > 0:
        vclip(dW, n, clip)


cdef void _bwd_item(int i, int T, int H, const floating* Wh, const floating* a0,
                    const floating* c0, const floating* A, const floating* C, floating* G,
                    floating* dA, floating* TC, floating* da0, floating* dc, floating* P1,
                    floating* dWh, floating* db, floating* Wu, floating clip,
                    floating lr) noexcept nogil:
    """Item i of :func:`_bwd_run`: 2k, the cell backward of step T - 1 - k for the
    units [us, H); 2k + 1, part 1 of that step's carry; 2T, rows [zs, 4H) of dWh, db
    (and of the update of ``Wu``)."""
    cdef int t = T - 1 - (i >> 1), zs = _zsplit(H)
    if i == 2 * T:
        _param_grads(T, 1, H, zs, 4 * H, a0, A, G, dWh, db, TC)
        _clip_update(Wu + <Py_ssize_t>zs * H if Wu != NULL else NULL,
                     dWh + <Py_ssize_t>zs * H, <Py_ssize_t>(4 * H - zs) * H, clip, lr)
    elif i % 2 == 0:
        _bwd_step(t, T, H, _unit_split(H), H, c0, C, G, dA, TC, P1, dc)
    else:
        _bwd_carry(1, t, H, Wh, G, dA, da0, P1)


cdef void _bwd_run(int T, int H, const floating* Wh, const floating* a0,
                   const floating* c0, const floating* A, const floating* C, floating* G,
                   floating* dA, floating* TC, floating* da0, floating* dc, floating* P1,
                   floating* dWh, floating* db, floating* Wu, floating clip, floating lr,
                   int* fl) noexcept nogil:
    """The batch-1 loop of :func:`_bptt`, then dWh and db, on one thread (``fl`` NULL)
    or on a pair (both threads call it). Step t, k = T - 1 - t: thread 0 runs the cell
    backward of the units [0, us) (phase 2k + 1) and part 0 of the carry (phase
    2k + 2); item 2k is the cell backward of the units [us, H) and item 2k + 1 part 1
    of the carry (``_bwd_step``, ``_bwd_carry``). After the loop thread 0 forms rows
    [0, zs) of dWh and db, item 2T rows [zs, 4H) (``_param_grads``), and each its rows
    of the training step's update of ``Wu`` (= Wh, or NULL: none; ``_clip_update``):
    the thread that multiplies a part of Wh keeps it in its core's cache from step to
    step. One thread runs the cell backward of all units in one call (the same bits)."""
    cdef int t, i, k, n = 2 * T + 1, us = _unit_split(H), zs = _zsplit(H)
    cdef long long tph = 0               # thread 0's phase start (_pair_mine)
    if fl != NULL and fr_team_rank() != 0:
        i = _pair_next(fl, n)
        while i >= 0:
            _bwd_item(i, T, H, Wh, a0, c0, A, C, G, dA, TC, da0, dc, P1, dWh, db, Wu,
                      clip, lr)
            _pair_done(fl, i)
            i = _pair_next(fl, n)
        return
    tph = fr_now_ns() if fl != NULL else 0
    for k in range(T):
        t = T - 1 - k
        i = 2 * k
        _bwd_step(t, T, H, 0, H if fl == NULL else us, c0, C, G, dA, TC, P1, dc)
        _pair_phase(fl, i + 1)
        if fl != NULL and _pair_mine(fl, i, &tph):
            _bwd_item(i, T, H, Wh, a0, c0, A, C, G, dA, TC, da0, dc, P1, dWh, db, Wu,
                      clip, lr)
            _pair_done(fl, i)
        _bwd_carry(0, t, H, Wh, G, dA, da0, P1)
        _pair_phase(fl, i + 2)
        if zs < 4 * H and _pair_mine(fl, i + 1, &tph):
            _bwd_item(i + 1, T, H, Wh, a0, c0, A, C, G, dA, TC, da0, dc, P1, dWh, db,
                      Wu, clip, lr)
            _pair_done(fl, i + 1)
    _param_grads(T, 1, H, 0, zs, a0, A, G, dWh, db, TC)
    _clip_update(Wu, dWh, <Py_ssize_t>zs * H, clip, lr)
    if zs < 4 * H and _pair_mine(fl, n - 1, &tph):
        _bwd_item(n - 1, T, H, Wh, a0, c0, A, C, G, dA, TC, da0, dc, P1, dWh, db,
                  Wu, clip, lr)
        _pair_done(fl, n - 1)
    _pair_end(fl)


cdef void _recurrence_team(int T, int B, int H, const floating* WhT, const floating* a0,
                           const floating* c0, floating* A, floating* C, floating* G,
                           floating* TC, int* rounds, int stride) noexcept nogil:
    """One team thread's part of the batched recurrence (``rounds``: T rounds, or NULL
    for one thread; see _team.h). Round t, per block of 64 units [u0, u0 + n): the
    block's columns of G[t] += A[t-1] @ Wh.T in every gate (``WhT`` (H, 4H) is
    ``Wh.T``; tiled products), then the block's gates. Round t starts when round t-1
    is complete (A[t-1], which every block's product reads)."""
    cdef int G4 = 4 * H, BH = B * H, u0, n, q, c
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nblk = (H + TILE_N - 1) // TILE_N
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t t, bb, o
    cdef const floating* ap
    cdef const floating* cp
    cdef floating* g
    for t in range(T):
        ap = a0 if t == 0 else A + (t - 1) * BH
        cp = c0 if t == 0 else C + (t - 1) * BH
        g = G + t * B * G4
        c = round_first(rounds, t, stride, nblk, nblk, rank, size, own, &rd)
        while c >= 0:
            u0 = c * TILE_N
            n = TILE_N if H - u0 > TILE_N else H - u0
            for q in range(4):
                gemm_tiles(False, B, n, H, ap, H, WhT + q * H + u0, G4, 1, g + q * H + u0, G4)
            for bb in range(B):
                o = t * BH + bb * H + u0
                lstm_gates(g + bb * G4 + u0, cp + bb * H + u0, C + o, A + o, n,
                           TC + o if TC != NULL else NULL, H)
            c = round_then(rd, stride, nblk, rank, size, own)


cdef void _fwd_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _fwd_run[double](j.i[0], j.i[1], <const double*>j.p[0], <const double*>j.p[1],
                         <const double*>j.p[2], <double*>j.p[3], <double*>j.p[4],
                         <double*>j.p[5], <double*>j.p[6], <int*>j.p[7])
    else:
        _fwd_run[float](j.i[0], j.i[1], <const float*>j.p[0], <const float*>j.p[1],
                        <const float*>j.p[2], <float*>j.p[3], <float*>j.p[4],
                        <float*>j.p[5], <float*>j.p[6], <int*>j.p[7])


cdef void _recurrence_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _recurrence_team[double](j.i[0], j.i[1], j.i[2], <const double*>j.p[0],
                                 <const double*>j.p[1], <const double*>j.p[2],
                                 <double*>j.p[3], <double*>j.p[4], <double*>j.p[5],
                                 <double*>j.p[6], <int*>j.p[7], j.i[3])
    else:
        _recurrence_team[float](j.i[0], j.i[1], j.i[2], <const float*>j.p[0],
                                <const float*>j.p[1], <const float*>j.p[2],
                                <float*>j.p[3], <float*>j.p[4], <float*>j.p[5],
                                <float*>j.p[6], <int*>j.p[7], j.i[3])


cdef void _recurrence(int T, int B, int H, const floating* Wh, const floating* a0,
                      const floating* c0, floating* A, floating* C,
                      floating* G, floating* TC, int nth) noexcept nogil:
    """Per step: G[t] += A[t-1] @ Wh.T, then gates, C[t], A[t]; G[t] <- [f, i, cc, o].

    ``TC`` (T*B*H), when not NULL, receives ``tanh(C)`` for the backward pass. With
    B > 1 the steps run on a team of ``nth`` threads (``_recurrence_team``); with B = 1,
    ``nth`` >= 2 and H >= ``_PAIR_MIN_H`` on a pair (``_fwd_run``)."""
    cdef floating* WhT
    cdef int* rounds
    cdef int stride
    cdef int* fl
    cdef long long t0
    cdef job_t jb
    jb.f64 = floating is double
    if B == 1:
        fl = _pair_begin(_K_PAIR_FORWARD, floating is double, H, &t0) if nth > 1 else NULL
        if fl != NULL:
            jb.i[0], jb.i[1] = T, H
            jb.p[0], jb.p[1], jb.p[2], jb.p[3], jb.p[4], jb.p[5], jb.p[6], jb.p[7] = (
                Wh, a0, c0, A, C, G, TC, fl)
            fr_run(_fwd_job, &jb, 2)
        else:
            _fwd_run(T, H, Wh, a0, c0, A, C, G, TC, <int*>NULL)
        if nth > 1:
            _pair_finish(_K_PAIR_FORWARD, floating is double, fl, t0, T)
        return
    WhT = <floating*>malloc(<size_t>4 * H * H * sizeof(floating))
    if WhT != NULL:
        transpose(4 * H, H, Wh, WhT)
        rounds = rounds_alloc(T, nth, &stride)
        jb.i[0], jb.i[1], jb.i[2], jb.i[3] = T, B, H, stride
        jb.p[0], jb.p[1], jb.p[2], jb.p[3], jb.p[4], jb.p[5], jb.p[6], jb.p[7] = (
            WhT, a0, c0, A, C, G, TC, rounds)
        fr_run(_recurrence_job, &jb, nth if rounds != NULL else 1)
        free(rounds)
        free(WhT)
        return
    cdef Py_ssize_t t, bb, j
    cdef int G4 = 4 * H
    cdef int BH = B * H
    cdef const floating* ap
    cdef const floating* cp
    cdef floating* g
    cdef floating* at
    cdef floating* ct
    cdef floating* tct = NULL
    for t in range(T):
        ap = a0 if t == 0 else A + (t - 1) * BH
        cp = c0 if t == 0 else C + (t - 1) * BH
        g = G + t * B * G4
        # z_t = (Wx x_t + b) + a_{t-1} @ Wh.T (batches whose team could not start)
        gemm(False, True, B, G4, H, 1, ap, H, Wh, H, 1, g, G4)
        at = A + t * BH
        ct = C + t * BH
        if TC != NULL:
            tct = TC + t * BH
        for bb in range(B):
            # f, i, o = sigmoid(z_f, z_i, z_o); cc = tanh(z_c) (in place in G);
            # c_t = f * c_{t-1} + i * cc; a_t = o * tanh(c_t)
            lstm_gates(g, cp, ct, at, H, tct)
            g += G4
            cp += H
            at += H
            ct += H
            if tct != NULL:
                tct += H


cdef void _bptt_team(int T, int B, int H, const floating* Wh, const floating* a0,
                     const floating* c0, const floating* A, const floating* C, floating* G,
                     floating* dA, floating* dWh, floating* db, floating* da0,
                     floating* dc0, floating* TC, int* rounds, int stride) noexcept nogil:
    """One team thread's part of the batched backward pass (``rounds``: T + 2 rounds, or
    NULL for one thread; see _team.h), per block of 64 units [u0, u0 + n):
    round 0: the block's gate derivatives of step T-1 (dz in place in G, carry dc0);
    round k = T - t (t = T-1 .. 0): the block's rows of dWh += dz_t^T a_{t-1} (its
    dz_t columns, in every gate) and columns of dA[t-1] += dz_t @ Wh (tiled products;
    dz_t is complete with round k-1), then at once its gate derivatives of step t-1,
    which need only its columns of dA[t-1]; at t = 0, da0 = dz_0 @ Wh;
    round T + 1, one item per gate q: entries [qH, (q+1)H) of db (``_bias_grads``).
    (dWh per step: as tiles the products run 1.1-2.5x faster than as one product over
    all T*B rows of the strided gate columns, measured at the batched cases.)"""
    cdef int G4 = 4 * H, BH = B * H, u0, n, c, k, m, q
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nblk = (H + TILE_N - 1) // TILE_N
    cdef int own[2]
    cdef int* rd
    cdef Py_ssize_t t
    cdef floating* gt
    for k in range(T + 2):
        t = T - k
        m = nblk if k <= T else 4               # the last round: one item per gate
        c = round_first(rounds, k, stride, nblk, m, rank, size, own, &rd)
        while c >= 0:
            u0 = c * TILE_N
            n = TILE_N if H - u0 > TILE_N else H - u0
            if k == 0:
                _gates_bwd_block(T - 1, B, H, u0, n, c0, C, G, dA, dc0, TC)
            elif k <= T:
                gt = G + t * B * G4
                # z_t = ... + a_{t-1} @ Wh.T  ->  the block's rows of dWh += dz_t^T a_{t-1}
                for q in range(4):
                    gemm_tiles(True, n, H, B, gt + q * H + u0, G4,
                               a0 if t == 0 else A + (t - 1) * BH, H, 1,
                               dWh + (q * H + u0) * H, H)
                if t > 0:
                    gemm_tiles(False, B, n, G4, gt, G4, Wh + u0, H, 1, dA + (t - 1) * BH + u0, H)
                    _gates_bwd_block(t - 1, B, H, u0, n, c0, C, G, dA, dc0, TC)
                else:
                    gemm_tiles(False, B, n, G4, gt, G4, Wh + u0, H, 0, da0 + u0, H)
            else:                   # tanh(C) in TC is read no more: its head sums db
                _bias_grads(T * B, H, c * H, (c + 1) * H, G, db, TC)
            c = round_then(rd, stride, m, rank, size, own)


cdef inline void _gates_bwd_block(Py_ssize_t t, int B, int H, int u0, int n,
                                  const floating* c0, const floating* C, floating* G,
                                  const floating* dA, floating* dc0,
                                  const floating* TC) noexcept nogil:
    """The gate derivatives of step t for units [u0, u0 + n) of every batch row."""
    cdef Py_ssize_t bb, o
    cdef int G4 = 4 * H, BH = B * H
    cdef const floating* cp = c0 if t == 0 else C + (t - 1) * BH
    cdef floating* gt = G + t * B * G4
    for bb in range(B):
        o = t * BH + bb * H + u0
        lstm_gates_bwd(gt + bb * G4 + u0, dA + o, TC + o, cp + bb * H + u0,
                       dc0 + bb * H + u0, n, H)


cdef void _bias_grads(Py_ssize_t N, int H, int r0, int r1, const floating* G,
                      floating* db, floating* acc) noexcept nogil:
    """Entries [r0, r1) of ``db`` (of the 4H gate rows): z_t = ... + b  ->  db += the
    column sums of dz over the N rows of ``G`` (summed first, row by row, into the same
    entries of ``acc`` (4H))."""
    cdef int G4 = 4 * H
    cdef Py_ssize_t r, k
    cdef const floating* g
    for k in range(r0, r1):
        acc[k] = 0
    for r in range(N):
        g = G + r * G4
        for k in range(r0, r1):
            acc[k] = acc[k] + g[k]
    for k in range(r0, r1):
        db[k] += acc[k]


cdef void _param_grads(int T, int B, int H, int r0, int r1, const floating* a0,
                       const floating* A, const floating* G, floating* dWh, floating* db,
                       floating* acc) noexcept nogil:
    """Rows [r0, r1) of ``dWh`` and entries of ``db`` (of the 4H gate rows) from dz in
    ``G``: z_t = ... + a_{t-1} @ Wh.T  ->  dWh += dz_0^T a0 + dz_{1:}^T A[:-1];
    z_t = ... + b  ->  db += the column sums of dz (summed first, row by row, into the
    same entries of ``acc`` (4H))."""
    cdef int G4 = 4 * H, n = r1 - r0
    cdef Py_ssize_t r, k
    cdef const floating* g
    gemm(True, False, n, H, B, 1, G + r0, G4, a0, H, 1, dWh + r0 * H, H)
    if T > 1:
        gemm(True, False, n, H, (T - 1) * B, 1, G + B * G4 + r0, G4, A, H, 1,
             dWh + r0 * H, H)
    _bias_grads(T * B, H, r0, r1, G, db, acc)


cdef void _bptt_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _bptt_team[double](j.i[0], j.i[1], j.i[2], <const double*>j.p[0],
                           <const double*>j.p[1], <const double*>j.p[2],
                           <const double*>j.p[3], <const double*>j.p[4], <double*>j.p[5],
                           <double*>j.p[6], <double*>j.p[7], <double*>j.p[8],
                           <double*>j.p[9], <double*>j.p[10], <double*>j.p[11],
                           <int*>j.p[12], j.i[3])
    else:
        _bptt_team[float](j.i[0], j.i[1], j.i[2], <const float*>j.p[0],
                          <const float*>j.p[1], <const float*>j.p[2],
                          <const float*>j.p[3], <const float*>j.p[4], <float*>j.p[5],
                          <float*>j.p[6], <float*>j.p[7], <float*>j.p[8],
                          <float*>j.p[9], <float*>j.p[10], <float*>j.p[11],
                          <int*>j.p[12], j.i[3])


cdef void _bwd_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        _bwd_run[double](j.i[0], j.i[1], <const double*>j.p[0], <const double*>j.p[1],
                         <const double*>j.p[2], <const double*>j.p[3],
                         <const double*>j.p[4], <double*>j.p[5], <double*>j.p[6],
                         <double*>j.p[7], <double*>j.p[8], <double*>j.p[9],
                         <double*>j.p[10], <double*>j.p[11], <double*>j.p[12],
                         <double*>j.p[13], j.d[0], j.d[1], <int*>j.p[14])
    else:
        _bwd_run[float](j.i[0], j.i[1], <const float*>j.p[0], <const float*>j.p[1],
                        <const float*>j.p[2], <const float*>j.p[3],
                        <const float*>j.p[4], <float*>j.p[5], <float*>j.p[6],
                        <float*>j.p[7], <float*>j.p[8], <float*>j.p[9],
                        <float*>j.p[10], <float*>j.p[11], <float*>j.p[12],
                        <float*>j.p[13], <float>j.d[0], <float>j.d[1], <int*>j.p[14])


cdef void _bptt(int T, int B, int H, const floating* Wh, const floating* a0,
                const floating* c0, const floating* A, const floating* C, floating* G,
                floating* dA, const floating* dcT, floating* dWh, floating* db,
                floating* da0, floating* dc0, floating* TC, int nth,
                bint tc_ready=False, floating* Wu=NULL, floating clip=0,
                floating lr=0) noexcept nogil:
    """Backward through time; G (activated gates) -> dZ in place. At batch 1, ``Wu``
    (the training step's Wh, or NULL) is also clipped and updated (``_clip_update``).

    ``dc0`` carries the cell-state gradient (starting from ``dcT``, which may be the
    same buffer); ``dA[t-1]`` receives the carry ``dz_t @ Wh``; ``dWh`` and ``db`` are
    accumulated after the loop. ``TC`` is scratch of T*B*H + 5H entries: ``tanh(C)``
    (kept by the forward pass when ``tc_ready``, else computed here in one vectorised
    pass), then the column sums for ``db`` (the first 4H), and at batch 1 part 1 of
    the carry (``_bwd_carry``, the last H).
    """
    cdef Py_ssize_t t, bb, j, r, k
    cdef int G4 = 4 * H
    cdef int BH = B * H
    cdef const floating* cp
    cdef const floating* ct
    cdef floating* g
    cdef floating* gt
    cdef floating* da
    cdef floating* dc
    if dc0 != dcT:
        memcpy(dc0, dcT, <size_t>BH * sizeof(floating))
    if not tc_ready:
        memcpy(TC, C, <size_t>T * BH * sizeof(floating))
        vtanh(TC, <Py_ssize_t>T * BH)
    # per unit j, with tc = tanh(c_t) (lstm_gates_bwd, vectorised):
    # a_t = o * tanh(c_t)  ->  dc_t += da_t * o * (1 - tc^2)
    # o = sigmoid(z_o)     ->  dz_o = da_t tc o (1 - o)
    # cc = tanh(z_c)       ->  dz_c = dc_t i (1 - cc^2)
    # i = sigmoid(z_i)     ->  dz_i = dc_t cc i (1 - i)
    # f = sigmoid(z_f)     ->  dz_f = dc_t c_{t-1} f (1 - f)
    # c_t = f c_{t-1} + i cc  ->  dc_{t-1} = dc_t f
    # and z_t = ... + a_{t-1} @ Wh.T  ->  da_{t-1} += dz_t @ Wh (da0 = dz_0 @ Wh)
    cdef int* rounds
    cdef int stride
    cdef int* fl
    cdef job_t jb
    jb.f64 = floating is double
    if B > 1:                 # the team also forms dWh and db
        rounds = rounds_alloc(T + 2, nth, &stride)
        jb.i[0], jb.i[1], jb.i[2], jb.i[3] = T, B, H, stride
        jb.p[0], jb.p[1], jb.p[2], jb.p[3], jb.p[4], jb.p[5], jb.p[6] = Wh, a0, c0, A, C, G, dA
        jb.p[7], jb.p[8], jb.p[9], jb.p[10], jb.p[11], jb.p[12] = dWh, db, da0, dc0, TC, rounds
        fr_run(_bptt_job, &jb, nth if rounds != NULL else 1)
        free(rounds)
        return
    # batch 1: the carry dz_t @ Wh in the two parts of _zsplit (part 1 via P1, the last
    # H entries of TC), the cell backward in the two ranges of _unit_split, dWh and db
    # in the two parts of _zsplit: on a pair, or in the same parts on one thread
    cdef int zs = _zsplit(H)
    cdef floating* P1 = TC + <Py_ssize_t>T * H + 4 * H if zs < G4 else NULL
    cdef long long t0
    fl = _pair_begin(_K_PAIR_BACKWARD, floating is double, H, &t0) if nth > 1 else NULL
    if fl != NULL:
        jb.i[0], jb.i[1] = T, H
        jb.p[0], jb.p[1], jb.p[2], jb.p[3], jb.p[4], jb.p[5], jb.p[6], jb.p[7] = (
            Wh, a0, c0, A, C, G, dA, TC)
        jb.p[8], jb.p[9], jb.p[10], jb.p[11], jb.p[12], jb.p[13], jb.p[14] = (
            da0, dc0, P1, dWh, db, Wu, fl)
        jb.d[0], jb.d[1] = clip, lr
        fr_run(_bwd_job, &jb, 2)
    else:
        _bwd_run(T, H, Wh, a0, c0, A, C, G, dA, TC, da0, dc0, P1, dWh, db, Wu, clip, lr,
                 <int*>NULL)
    if nth > 1:
        _pair_finish(_K_PAIR_BACKWARD, floating is double, fl, t0, T)
    if zs < G4:
        _vadd(da0, P1, H)


cdef void _dense_grads(int N, int G4, int Xn, const floating* x, const floating* Wx,
                       const floating* dZ, floating* dWx, floating* dx) noexcept nogil:
    """z_t = Wx x_t + ...  ->  dWx += dZ^T x (one GEMM), dx = dZ @ Wx (one GEMM)."""
    gemm(True, False, G4, Xn, N, 1, dZ, G4, x, Xn, 1, dWx, Xn)
    gemm(False, False, N, Xn, G4, 1, dZ, G4, Wx, Xn, 0, dx, Xn)


# the largest per-call cache of b + Wx[:, x] rows that lstm_sample allocates (4 MiB)
cdef size_t _SAMPLE_TABLE_BYTES = 4 << 20

cdef inline void _load_input(int G4, int r0, int r1, int Xn, const floating* Wx,
                             const floating* b, int64_t xi, floating* tbl,
                             unsigned char* built, floating* z) noexcept nogil:
    """``z[r0:r1] = (b + Wx[:, xi])[r0:r1]`` (``b`` for ``xi == -1``), as the forward
    pass's gather. ``tbl`` (X rows of 4H, or NULL) caches those sums per input the first
    time it is drawn (``built[x]`` zeroed by the caller, one flag array per row range):
    a repeated input then costs a contiguous copy, not a strided column gather."""
    cdef floating* row
    if xi >= 0 and tbl != NULL:
        row = tbl + xi * G4
        if not built[xi]:
            gather_ix(1, G4, Xn, &xi, Wx, b, row, r0, r1)
            built[xi] = 1
        memcpy(z + r0, row + r0, <size_t>(r1 - r0) * sizeof(floating))
    else:
        gather_ix(1, G4, Xn, &xi, Wx, b, z, r0, r1)


cdef inline Py_ssize_t _pick(int H, int V, const floating* Wy, const floating* by,
                             const floating* a, double temperature, Py_ssize_t top_k,
                             double u, floating* logits, double* pz) noexcept nogil:
    """The next index from ``softmax(Wy a + by)`` (see ``sample_pick``)."""
    memcpy(logits, by, <size_t>V * sizeof(floating))
    gemv_rows(V, H, Wy, a, logits)        # by + Wy a: the sum is by[k] + (Wy a)[k]
    return sample_pick(logits, <int>V, temperature, <int>top_k, u, pz)


cdef Py_ssize_t _sample_run(int H, int Xn, int V, const floating* Wx, const floating* Wh,
                            const floating* b, const floating* Wy, const floating* by,
                            floating* a, floating* c, Py_ssize_t x, const double* u,
                            double temperature, Py_ssize_t top_k, Py_ssize_t stop,
                            int64_t* out, Py_ssize_t n, floating* z, floating* logits,
                            floating* w, double* pz, floating* tbl,
                            unsigned char* built, int* fl) noexcept nogil:
    """The sampling loop of :func:`lstm_sample`, on one thread (``fl`` NULL) or on a
    pair (both threads call it; ``fl[_P_X]`` holds x0 on entry); returns the count
    (thread 0).

    Scratch: ``z`` (4H), ``logits`` (Y), ``w`` (H) in the model dtype, ``pz`` (2Y
    doubles, the scratch of ``sample_pick``), ``tbl`` / ``built`` (see
    ``_load_input``; two flag arrays of X, one per part of the rows). z_t = (b + Wx x_t)
    + Wh a_{t-1} in the forward pass's order (its products add into the gathered G, in
    the rows of ``_zsplit_run``), so sampling reproduces forward()'s states bit for bit. The
    new c_t goes to ``w`` and ``c`` in turn; the caller copies the last one to ``c`` (in
    ``w`` when the count is odd). On a pair, step s: thread 0 loads and multiplies part
    0 (rows of gates [f, i]) and activates the units [0, us); item 2s is part 1 (those
    rows of the table and of Wh then stay in thread 1's core's cache), item 2s + 1 the
    units [us, H); thread 0 picks the next index."""
    cdef int G4 = 4 * H, zs = _zsplit_run(H, fl), us = _unit_split(H), i
    cdef Py_ssize_t step, idx, count = n
    cdef floating* cp = c          # c_{t-1}; the new c goes to the other buffer
    cdef floating* cn = w
    cdef floating* tmp
    cdef int64_t xi
    cdef long long tph = 0               # thread 0's phase start (_pair_mine)
    if fl != NULL and fr_team_rank() != 0:
        i = _pair_next(fl, <int>(2 * n))
        while i >= 0:
            step = i >> 1
            if i % 2 == 0:
                xi = fr_load(&fl[_P_X])
                _load_input(G4, zs, G4, Xn, Wx, b, xi, tbl, built + Xn, z)
                _zgemv(H, zs, G4, Wh, a, z, step & 1)
            else:
                cp = c if step % 2 == 0 else w
                cn = w if step % 2 == 0 else c
                lstm_gates(z + us, cp + us, cn + us, a + us, H - us, <floating*>NULL, H)
            _pair_done(fl, i)
            i = _pair_next(fl, <int>(2 * n))
        return 0
    tph = fr_now_ns() if fl != NULL else 0
    for step in range(n):
        i = <int>(2 * step)
        if fl != NULL:
            fr_store(&fl[_P_X], <int>x)
        _pair_phase(fl, i)                       # step s begun: x_s known
        _load_input(G4, 0, zs, Xn, Wx, b, x, tbl, built, z)
        _zgemv(H, 0, zs, Wh, a, z, step & 1)
        _pair_phase(fl, i + 1)
        if zs < G4 and _pair_mine(fl, i, &tph):
            _load_input(G4, zs, G4, Xn, Wx, b, x, tbl, built + Xn, z)
            _zgemv(H, zs, G4, Wh, a, z, step & 1)
            _pair_done(fl, i)
        lstm_gates(z, cp, cn, a, H if fl == NULL else us, <floating*>NULL, H)
        if fl != NULL and _pair_mine(fl, i + 1, &tph):
            lstm_gates(z + us, cp + us, cn + us, a + us, H - us, <floating*>NULL, H)
            _pair_done(fl, i + 1)
        tmp = cp
        cp = cn
        cn = tmp
        idx = _pick(H, V, Wy, by, a, temperature, top_k, u[step], logits, pz)
        out[step] = idx
        x = idx
        if idx == stop:
            count = step + 1
            break
    _pair_end(fl)
    return count


# =========================================================== implementations (GIL)

cdef int _forward_ix(const int64_t[:, ::1] X, const floating[:, ::1] Wx,
                     const floating[:, ::1] Wh, const floating[::1] b,
                     const floating[:, ::1] a0, const floating[:, ::1] c0,
                     floating[:, :, ::1] A, floating[:, :, ::1] C,
                     floating[:, :, ::1] G) except -1:
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], H = Wh.shape[1], Xn = Wx.shape[1]
    _chk_dims(T, B, H, Xn, 1)
    _chk_cell(H, Xn, "Wx", Wx.shape[0], Wx.shape[1], Wh.shape[0], Wh.shape[1], b.shape[0])
    _chk_states(T, B, H, a0, c0, A, C, G)
    _chk_index("X", &X[0, 0], T, B, Xn)
    cdef long long t0
    cdef int blas
    cdef int nth = _threads(_K_FORWARD, floating is double, B, H, &t0, &blas)
    try:
        with nogil:
            gather_scatter(False, nth if B > 1 else 1, <int>(T * B), <int>(4 * H),
                           <int>Xn, &X[0, 0], &Wx[0, 0], &b[0], &G[0, 0, 0], NULL)
            _recurrence(<int>T, <int>B, <int>H, &Wh[0, 0], &a0[0, 0], &c0[0, 0],
                        &A[0, 0, 0], &C[0, 0, 0], &G[0, 0, 0], NULL, nth)
    finally:
        team_end(_K_FORWARD, floating is double, nth, t0, T, blas)
    return 0


cdef int _forward_dense(const floating[:, :, ::1] x, const floating[:, ::1] Wx,
                        const floating[:, ::1] Wh, const floating[::1] b,
                        const floating[:, ::1] a0, const floating[:, ::1] c0,
                        floating[:, :, ::1] A, floating[:, :, ::1] C,
                        floating[:, :, ::1] G) except -1:
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], H = Wh.shape[1], Xn = x.shape[2]
    _chk_dims(T, B, H, Xn, 1)
    _chk_cell(H, Xn, "Wx", Wx.shape[0], Wx.shape[1], Wh.shape[0], Wh.shape[1], b.shape[0])
    _chk_states(T, B, H, a0, c0, A, C, G)
    cdef long long t0
    cdef int blas
    cdef int nth = _threads(_K_FORWARD, floating is double, B, H, &t0, &blas)
    try:
        with nogil:
            _project_dense(<int>(T * B), <int>(4 * H), <int>Xn, &x[0, 0, 0], &Wx[0, 0],
                           &b[0], &G[0, 0, 0])
            _recurrence(<int>T, <int>B, <int>H, &Wh[0, 0], &a0[0, 0], &c0[0, 0],
                        &A[0, 0, 0], &C[0, 0, 0], &G[0, 0, 0], NULL, nth)
    finally:
        team_end(_K_FORWARD, floating is double, nth, t0, T, blas)
    return 0


cdef int _chk_states(Py_ssize_t T, Py_ssize_t B, Py_ssize_t H,
                     const floating[:, ::1] a0, const floating[:, ::1] c0,
                     const floating[:, :, ::1] A, const floating[:, :, ::1] C,
                     const floating[:, :, ::1] G) except -1:
    """a0, c0 (B, H); A, C (T, B, H); G (T, B, 4H)."""
    _chk2("a0", "(B, H)", a0.shape[0], a0.shape[1], B, H)
    _chk2("c0", "(B, H)", c0.shape[0], c0.shape[1], B, H)
    _chk3("A", "(T, B, H)", A.shape[0], A.shape[1], A.shape[2], T, B, H)
    _chk3("C", "(T, B, H)", C.shape[0], C.shape[1], C.shape[2], T, B, H)
    _chk3("G", "(T, B, 4H)", G.shape[0], G.shape[1], G.shape[2], T, B, 4 * H)
    return 0


cdef int _chk_grads(Py_ssize_t T, Py_ssize_t B, Py_ssize_t H,
                    const floating[:, :, ::1] dA, const floating[:, ::1] dcT,
                    const floating[:, ::1] dWh, const floating[::1] db,
                    const floating[:, ::1] da0, const floating[:, ::1] dc0,
                    str dcT_name="dcT") except -1:
    """dA (T, B, H); dcT, da0, dc0 (B, H); dWh (4H, H); db (4H,)."""
    _chk3("dA", "(T, B, H)", dA.shape[0], dA.shape[1], dA.shape[2], T, B, H)
    _chk2(dcT_name, "(B, H)", dcT.shape[0], dcT.shape[1], B, H)
    _chk2("dWh", "(4H, H)", dWh.shape[0], dWh.shape[1], 4 * H, H)
    _chk1("db", "(4H,)", db.shape[0], 4 * H)
    _chk2("da0", "(B, H)", da0.shape[0], da0.shape[1], B, H)
    _chk2("dc0", "(B, H)", dc0.shape[0], dc0.shape[1], B, H)
    return 0


cdef int _backward_ix(const int64_t[:, ::1] X, const floating[:, ::1] Wh,
                      const floating[:, ::1] a0, const floating[:, ::1] c0,
                      const floating[:, :, ::1] A, const floating[:, :, ::1] C,
                      floating[:, :, ::1] G, floating[:, :, ::1] dA,
                      const floating[:, ::1] dcT, floating[:, ::1] dWx,
                      floating[:, ::1] dWh, floating[::1] db, floating[:, ::1] da0,
                      floating[:, ::1] dc0) except -1:
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], H = Wh.shape[1], Xn = dWx.shape[1]
    _chk_dims(T, B, H, Xn, 1)
    _chk2("Wh", "(4H, H)", Wh.shape[0], Wh.shape[1], 4 * H, H)
    _chk2("dWx", "(4H, X)", dWx.shape[0], dWx.shape[1], 4 * H, Xn)
    _chk_states(T, B, H, a0, c0, A, C, G)
    _chk_grads(T, B, H, dA, dcT, dWh, db, da0, dc0)
    _chk_index("X", &X[0, 0], T, B, Xn)
    cdef floating* TC = <floating*>malloc(<size_t>(T * B * H + 5 * H) * sizeof(floating))
    if TC == NULL:
        raise MemoryError("cannot allocate the tanh(C) scratch of the LSTM backward")
    cdef long long t0
    cdef int blas
    cdef int nth = _threads(_K_BACKWARD, floating is double, B, H, &t0, &blas)
    try:
        with nogil:
            _bptt(<int>T, <int>B, <int>H, &Wh[0, 0], &a0[0, 0], &c0[0, 0], &A[0, 0, 0],
                  &C[0, 0, 0], &G[0, 0, 0], &dA[0, 0, 0], &dcT[0, 0], &dWh[0, 0], &db[0],
                  &da0[0, 0], &dc0[0, 0], TC, nth)
            gather_scatter(True, nth if B > 1 else 1, <int>(T * B), <int>(4 * H),
                           <int>Xn, &X[0, 0], NULL, NULL, &G[0, 0, 0], &dWx[0, 0])
    finally:
        team_end(_K_BACKWARD, floating is double, nth, t0, T, blas)
        free(TC)
    return 0


cdef int _backward_dense(const floating[:, :, ::1] x, const floating[:, ::1] Wx,
                         const floating[:, ::1] Wh, const floating[:, ::1] a0,
                         const floating[:, ::1] c0, const floating[:, :, ::1] A,
                         const floating[:, :, ::1] C, floating[:, :, ::1] G,
                         floating[:, :, ::1] dA, const floating[:, ::1] dcT,
                         floating[:, ::1] dWx, floating[:, ::1] dWh, floating[::1] db,
                         floating[:, ::1] da0, floating[:, ::1] dc0,
                         floating[:, :, ::1] dx) except -1:
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], H = Wh.shape[1], Xn = x.shape[2]
    _chk_dims(T, B, H, Xn, 1)
    _chk2("Wh", "(4H, H)", Wh.shape[0], Wh.shape[1], 4 * H, H)
    _chk2("Wx", "(4H, X)", Wx.shape[0], Wx.shape[1], 4 * H, Xn)
    _chk2("dWx", "(4H, X)", dWx.shape[0], dWx.shape[1], 4 * H, Xn)
    _chk3("dx", "(T, B, X)", dx.shape[0], dx.shape[1], dx.shape[2], T, B, Xn)
    _chk_states(T, B, H, a0, c0, A, C, G)
    _chk_grads(T, B, H, dA, dcT, dWh, db, da0, dc0)
    cdef floating* TC = <floating*>malloc(<size_t>(T * B * H + 5 * H) * sizeof(floating))
    if TC == NULL:
        raise MemoryError("cannot allocate the tanh(C) scratch of the LSTM backward")
    cdef long long t0
    cdef int blas
    cdef int nth = _threads(_K_BACKWARD, floating is double, B, H, &t0, &blas)
    try:
        with nogil:
            _bptt(<int>T, <int>B, <int>H, &Wh[0, 0], &a0[0, 0], &c0[0, 0], &A[0, 0, 0],
                  &C[0, 0, 0], &G[0, 0, 0], &dA[0, 0, 0], &dcT[0, 0], &dWh[0, 0], &db[0],
                  &da0[0, 0], &dc0[0, 0], TC, nth)
            _dense_grads(<int>(T * B), <int>(4 * H), <int>Xn, &x[0, 0, 0], &Wx[0, 0],
                         &G[0, 0, 0], &dWx[0, 0], &dx[0, 0, 0])
    finally:
        team_end(_K_BACKWARD, floating is double, nth, t0, T, blas)
        free(TC)
    return 0


cdef void _sample_job(void* a) noexcept nogil:
    """The pair's sampling loop; thread 0 stores the count."""
    cdef job_t* j = <job_t*>a
    cdef int H = j.i[0]
    cdef Py_ssize_t n
    if j.f64:
        n = _sample_run[double](
            H, j.i[1], j.i[2], <const double*>j.p[0], <const double*>j.p[1],
            <const double*>j.p[2], <const double*>j.p[3], <const double*>j.p[4],
            <double*>j.p[5], <double*>j.p[6], j.q[0], <const double*>j.p[7], j.d[0],
            j.q[1], j.q[2], <int64_t*>j.p[8], j.q[3], <double*>j.p[9],
            <double*>j.p[9] + 5 * H, <double*>j.p[9] + 4 * H, <double*>j.p[10],
            <double*>j.p[11], <unsigned char*>j.p[12], <int*>j.p[13])
    else:
        n = _sample_run[float](
            H, j.i[1], j.i[2], <const float*>j.p[0], <const float*>j.p[1],
            <const float*>j.p[2], <const float*>j.p[3], <const float*>j.p[4],
            <float*>j.p[5], <float*>j.p[6], j.q[0], <const double*>j.p[7], j.d[0],
            j.q[1], j.q[2], <int64_t*>j.p[8], j.q[3], <float*>j.p[9],
            <float*>j.p[9] + 5 * H, <float*>j.p[9] + 4 * H, <double*>j.p[10],
            <float*>j.p[11], <unsigned char*>j.p[12], <int*>j.p[13])
    if fr_team_rank() == 0:
        (<Py_ssize_t*>j.p[14])[0] = n


cdef Py_ssize_t _sample(const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                        const floating[::1] b, const floating[:, ::1] Wy,
                        const floating[::1] by, floating[::1] a, floating[::1] c,
                        Py_ssize_t x0, const double[::1] u, double temperature,
                        Py_ssize_t top_k, Py_ssize_t stop, int64_t[::1] out) except -1:
    cdef Py_ssize_t H = Wh.shape[1], Xn = Wx.shape[1], V = Wy.shape[0]
    cdef Py_ssize_t n = out.shape[0], count = 0
    _chk_dims(1, 1, H, Xn, V)
    _chk_cell(H, Xn, "Wx", Wx.shape[0], Wx.shape[1], Wh.shape[0], Wh.shape[1], b.shape[0])
    _chk2("Wy", "(Y, H)", Wy.shape[0], Wy.shape[1], V, H)
    _chk1("by", "(Y,)", by.shape[0], V)
    _chk1("a", "(H,)", a.shape[0], H)
    _chk1("c", "(H,)", c.shape[0], H)
    if V > Xn:
        raise ValueError(f"Wy has Y = {V} rows but Wx only X = {Xn} columns: each "
                         "sampled index is fed back as the next input, so Y <= X")
    if x0 < -1 or x0 >= Xn:
        raise ValueError(f"x0 = {x0} is outside [-1, {Xn - 1}] (-1 means no input)")
    if u.shape[0] < n:
        raise ValueError(f"u must hold at least one uniform per output (N = {n}), "
                         f"got shape ({u.shape[0]},)")
    if not (temperature >= 0) or not isfinite(temperature):
        raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = all), got {top_k}")
    if n == 0:
        return 0
    # two threads (``_sample_run``) for several characters of a model whose step
    # multiplies Wh in two parts, when the BLAS setting allows them
    cdef int blas = fr_blas_begin()
    # z (4H), w (H), logits (Y)
    cdef floating* fbuf = <floating*>malloc(<size_t>(5 * H + V) * sizeof(floating))
    cdef double* dbuf = <double*>malloc(<size_t>(2 * V) * sizeof(double))
    cdef long long t0 = 0
    cdef int* flags = (_pair_begin(_K_PAIR_SAMPLE, floating is double, <int>H, &t0)
                       if 1 < n < (1 << 30) else NULL)
    cdef job_t j
    # the per-input cache of b + Wx[:, x]: only for several characters and a table of at
    # most _SAMPLE_TABLE_BYTES (rows are filled on first use, so a large vocabulary
    # costs no more than the inputs actually drawn)
    cdef floating* tbl = NULL
    cdef unsigned char* built = NULL
    if n > 1 and <size_t>Xn * 4 * H * sizeof(floating) <= _SAMPLE_TABLE_BYTES:
        tbl = <floating*>malloc(<size_t>Xn * 4 * H * sizeof(floating))
        built = <unsigned char*>calloc(<size_t>(2 * Xn), 1)
        if tbl == NULL or built == NULL:      # fall back to the column gather
            free(tbl)
            free(built)
            tbl = NULL
            built = NULL
    try:
        if fbuf == NULL or dbuf == NULL:
            raise MemoryError("lstm_sample: cannot allocate scratch")
        with nogil:
            if flags != NULL:
                flags[_P_X] = <int>x0          # item 0 may start before thread 0 stores it
                j.f64 = floating is double
                j.i[0], j.i[1], j.i[2] = <int>H, <int>Xn, <int>V
                j.p[0], j.p[1], j.p[2], j.p[3], j.p[4] = &Wx[0, 0], &Wh[0, 0], &b[0], &Wy[0, 0], &by[0]
                j.p[5], j.p[6], j.p[7], j.p[8] = &a[0], &c[0], &u[0], &out[0]
                j.p[9], j.p[10], j.p[11], j.p[12], j.p[13] = fbuf, dbuf, tbl, built, flags
                j.p[14] = &count
                j.d[0] = temperature
                j.q[0], j.q[1], j.q[2], j.q[3] = x0, top_k, stop, n
                fr_run(_sample_job, &j, 2)
            else:
                count = _sample_run(<int>H, <int>Xn, <int>V, &Wx[0, 0], &Wh[0, 0], &b[0],
                                    &Wy[0, 0], &by[0], &a[0], &c[0], x0, &u[0], temperature,
                                    top_k, stop, &out[0], n, fbuf, fbuf + 5 * H,
                                    fbuf + 4 * H, dbuf, tbl, built, <int*>NULL)
            if count % 2:                  # the last c_t is in the scratch buffer
                memcpy(&c[0], fbuf + 4 * H, <size_t>H * sizeof(floating))
    finally:
        fr_blas_end(blas)
        free(fbuf)
        free(dbuf)
        if t0 != 0:
            _pair_finish(_K_PAIR_SAMPLE, floating is double, flags, t0, count)
        free(tbl)
        free(built)
    return count


cdef double _train_step_ix(const int64_t[:, ::1] X, const int64_t[:, ::1] Y,
                           floating[:, ::1] Wx, floating[:, ::1] Wh, floating[::1] b,
                           floating[:, ::1] Wy, floating[::1] by,
                           const floating[:, ::1] a0, const floating[:, ::1] c0,
                           floating[:, :, ::1] A, floating[:, :, ::1] C,
                           floating[:, :, ::1] G, floating[:, :, ::1] P,
                           floating[:, :, ::1] dA, floating[:, ::1] dWx,
                           floating[:, ::1] dWh, floating[::1] db, floating[:, ::1] dWy,
                           floating[::1] dby, floating[:, ::1] da0, floating[:, ::1] dc0,
                           double clip, double lr) except? -1:
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], H = Wh.shape[1]
    cdef Py_ssize_t Xn = Wx.shape[1], V = Wy.shape[0]
    cdef double loss
    cdef floating fclip = <floating>clip
    cdef floating flr = <floating>lr
    _chk_dims(T, B, H, Xn, V)
    _chk2("Y", "(T, B)", Y.shape[0], Y.shape[1], T, B)
    _chk_cell(H, Xn, "Wx", Wx.shape[0], Wx.shape[1], Wh.shape[0], Wh.shape[1], b.shape[0])
    _chk2("Wy", "(Y, H)", Wy.shape[0], Wy.shape[1], V, H)
    _chk1("by", "(Y,)", by.shape[0], V)
    _chk_states(T, B, H, a0, c0, A, C, G)
    _chk3("P", "(T, B, Y)", P.shape[0], P.shape[1], P.shape[2], T, B, V)
    _chk_grads(T, B, H, dA, dc0, dWh, db, da0, dc0, "dc0")
    _chk2("dWx", "(4H, X)", dWx.shape[0], dWx.shape[1], 4 * H, Xn)
    _chk2("dWy", "(Y, H)", dWy.shape[0], dWy.shape[1], V, H)
    _chk1("dby", "(Y,)", dby.shape[0], V)
    _chk_index("X", &X[0, 0], T, B, Xn)
    _chk_index("Y", &Y[0, 0], T, B, V)
    cdef int iT = <int>T, iB = <int>B, iH = <int>H, N = <int>(T * B), G4 = <int>(4 * H)
    cdef int iX = <int>Xn, iV = <int>V
    cdef floating* TC = <floating*>malloc(<size_t>(T * B * H + 5 * H) * sizeof(floating))
    if TC == NULL:
        raise MemoryError("cannot allocate the scratch of the LSTM training step")
    cdef long long t0
    cdef int blas
    cdef int nth = _threads(_K_TRAIN, floating is double, B, H, &t0, &blas)
    cdef int k
    # the losses of the output layer's row blocks (batched steps)
    cdef double* losses = <double*>calloc(<size_t>((N + OUT_ROWS - 1) // OUT_ROWS),
                                          sizeof(double))
    if losses == NULL:
        team_end(_K_TRAIN, floating is double, nth, t0, T, blas)
        free(TC)
        raise MemoryError("cannot allocate the scratch of the LSTM training step")
    try:
        with nogil:
            memset(&dWx[0, 0], 0, <size_t>G4 * iX * sizeof(floating))
            memset(&dWh[0, 0], 0, <size_t>G4 * iH * sizeof(floating))
            memset(&db[0], 0, <size_t>G4 * sizeof(floating))
            memset(&dWy[0, 0], 0, <size_t>iV * iH * sizeof(floating))
            memset(&dby[0], 0, <size_t>iV * sizeof(floating))
            gather_scatter(False, nth if B > 1 else 1, N, G4, iX, &X[0, 0], &Wx[0, 0],
                           &b[0], &G[0, 0, 0], NULL)
            _recurrence(iT, iB, iH, &Wh[0, 0], &a0[0, 0], &c0[0, 0], &A[0, 0, 0],
                        &C[0, 0, 0], &G[0, 0, 0], TC, nth)     # keeps tanh(C) in TC
            # dA = dz @ Wy, written (not added): the only gradient on the states so far
            if iB > 1:
                output_run(nth, N, iH, iV, &A[0, 0, 0], &Wy[0, 0], &by[0], &Y[0, 0],
                           &P[0, 0, 0], &dWy[0, 0], &dby[0], &dA[0, 0, 0], losses)
                loss = 0
                for k in range((N + OUT_ROWS - 1) // OUT_ROWS):     # in block order
                    loss += losses[k]
            else:
                loss = softmax_xent_core(N, iH, iV, &A[0, 0, 0], &Wy[0, 0], &by[0],
                                         &Y[0, 0], &P[0, 0, 0], True, &dWy[0, 0], &dby[0],
                                         &dA[0, 0, 0], False)
            if isfinite(loss):          # else: nothing clipped or updated
                # no gradient reaches the final cell state: dcT = 0 (dc0 is the carry)
                memset(&dc0[0, 0], 0, <size_t>iB * iH * sizeof(floating))
                # at batch 1 the backward also updates Wh (each thread its rows)
                _bptt(iT, iB, iH, &Wh[0, 0], &a0[0, 0], &c0[0, 0], &A[0, 0, 0],
                      &C[0, 0, 0], &G[0, 0, 0], &dA[0, 0, 0], &dc0[0, 0], &dWh[0, 0],
                      &db[0], &da0[0, 0], &dc0[0, 0], TC, nth, True,
                      &Wh[0, 0] if iB == 1 else NULL, fclip, flr)
                gather_scatter(True, nth if B > 1 else 1, N, G4, iX, &X[0, 0], NULL, NULL,
                               &G[0, 0, 0], &dWx[0, 0])
                _clip_update(&Wx[0, 0], &dWx[0, 0], <Py_ssize_t>G4 * iX, fclip, flr)
                if iB > 1:
                    _clip_update(&Wh[0, 0], &dWh[0, 0], <Py_ssize_t>G4 * iH, fclip, flr)
                _clip_update(&b[0], &db[0], G4, fclip, flr)
                _clip_update(&Wy[0, 0], &dWy[0, 0], <Py_ssize_t>iV * iH, fclip, flr)
                _clip_update(&by[0], &dby[0], iV, fclip, flr)
    finally:
        team_end(_K_TRAIN, floating is double, nth, t0, T, blas)
        free(TC)
        free(losses)
    return loss


# ================================================================ public kernels

cdef tuple _SPEC_FWD_IX = (
    ("X", 2, "i", False), ("Wx", 2, "f", False), ("Wh", 2, "f", False),
    ("b", 1, "f", False), ("a0", 2, "f", False), ("c0", 2, "f", False),
    ("A", 3, "f", True), ("C", 3, "f", True), ("G", 3, "f", True))

cdef tuple _SPEC_FWD_DENSE = (("x", 3, "f", False),) + _SPEC_FWD_IX[1:]

cdef tuple _SPEC_BWD_IX = (
    ("X", 2, "i", False), ("Wh", 2, "f", False), ("a0", 2, "f", False),
    ("c0", 2, "f", False), ("A", 3, "f", False), ("C", 3, "f", False),
    ("G", 3, "f", True), ("dA", 3, "f", True), ("dcT", 2, "f", False),
    ("dWx", 2, "f", True), ("dWh", 2, "f", True), ("db", 1, "f", True),
    ("da0", 2, "f", True), ("dc0", 2, "f", True))

cdef tuple _SPEC_BWD_DENSE = (
    ("x", 3, "f", False), ("Wx", 2, "f", False)) + _SPEC_BWD_IX[1:] + (
    ("dx", 3, "f", True),)

cdef tuple _SPEC_SAMPLE = (
    ("Wx", 2, "f", False), ("Wh", 2, "f", False), ("b", 1, "f", False),
    ("Wy", 2, "f", False), ("by", 1, "f", False), ("a", 1, "f", True),
    ("c", 1, "f", True), ("u", 1, "d", False), ("out", 1, "i", True))

cdef tuple _SPEC_TRAIN = (
    ("X", 2, "i", False), ("Y", 2, "i", False), ("Wx", 2, "f", True),
    ("Wh", 2, "f", True), ("b", 1, "f", True), ("Wy", 2, "f", True),
    ("by", 1, "f", True), ("a0", 2, "f", False), ("c0", 2, "f", False),
    ("A", 3, "f", True), ("C", 3, "f", True), ("G", 3, "f", True),
    ("P", 3, "f", True), ("dA", 3, "f", True), ("dWx", 2, "f", True),
    ("dWh", 2, "f", True), ("db", 1, "f", True), ("dWy", 2, "f", True),
    ("dby", 1, "f", True), ("da0", 2, "f", True), ("dc0", 2, "f", True))


def lstm_forward_ix(X, Wx, Wh, b, a0, c0, A, C, G):
    """LSTM forward over character indices (gate blocks [f, i, c, o]).

    Parameters
    ----------
    X : IN (T, B) int64 indices into the columns of ``Wx``; -1 = zero input.
    Wx : IN (4H, X); Wh : IN (4H, H); b : IN (4H,).
    a0, c0 : IN (B, H) initial hidden and cell states.
    A, C : OUT (T, B, H) hidden states a_1..a_T and cell states c_1..c_T.
    G : OUT (T, B, 4H) activated gates [f, i, cc, o] (kept for backward).

    All float arrays float32 or float64 (one dtype), C-contiguous.
    """
    cdef tuple args = (X, Wx, Wh, b, a0, c0, A, C, G)
    dt = _float_dtype(args, _SPEC_FWD_IX)
    try:
        if dt is _F64:
            _forward_ix[double](X, Wx, Wh, b, a0, c0, A, C, G)
        else:
            _forward_ix[float](X, Wx, Wh, b, a0, c0, A, C, G)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_FWD_IX, dt)
        raise


def lstm_forward_dense(x, Wx, Wh, b, a0, c0, A, C, G):
    """LSTM forward over dense inputs ``x`` IN (T, B, X); otherwise as :func:`lstm_forward_ix`.

    The input projection of all T*B rows is one GEMM before the time loop.
    """
    cdef tuple args = (x, Wx, Wh, b, a0, c0, A, C, G)
    dt = _float_dtype(args, _SPEC_FWD_DENSE)
    try:
        if dt is _F64:
            _forward_dense[double](x, Wx, Wh, b, a0, c0, A, C, G)
        else:
            _forward_dense[float](x, Wx, Wh, b, a0, c0, A, C, G)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_FWD_DENSE, dt)
        raise


def lstm_backward_ix(X, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0):
    """LSTM backward through time for index inputs.

    Parameters
    ----------
    X : IN (T, B) int64 indices (-1 = zero input); Wh : IN (4H, H).
    a0, c0 : IN (B, H); A, C : IN (T, B, H) states from the forward pass.
    G : IN/OUT (T, B, 4H): the activated gates on entry, the pre-activation gate
        gradients ``dZ`` [dz_f, dz_i, dz_c, dz_o] on return.
    dA : IN/OUT (T, B, H): upstream gradient on every hidden state; scratch (holds the
        total gradient on each a_t on return).
    dcT : IN (B, H) upstream gradient on the final cell state (may be ``dc0`` itself).
    dWx (4H, X), dWh (4H, H), db (4H,) : accumulated (``+=``); X = ``dWx.shape[1]``.
    da0, dc0 : OUT (B, H) gradients on the initial states.
    """
    cdef tuple args = (X, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0)
    dt = _float_dtype(args, _SPEC_BWD_IX)
    try:
        if dt is _F64:
            _backward_ix[double](X, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0)
        else:
            _backward_ix[float](X, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_BWD_IX, dt)
        raise


def lstm_backward_dense(x, Wx, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0, dx):
    """LSTM BPTT for dense inputs: as :func:`lstm_backward_ix` plus ``x`` IN (T, B, X),
    ``Wx`` IN (4H, X) and ``dx`` OUT (T, B, X) (``dWx += dZ^T x`` and ``dx = dZ @ Wx``
    are one GEMM each)."""
    cdef tuple args = (x, Wx, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db, da0, dc0, dx)
    dt = _float_dtype(args, _SPEC_BWD_DENSE)
    try:
        if dt is _F64:
            _backward_dense[double](x, Wx, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db,
                                    da0, dc0, dx)
        else:
            _backward_dense[float](x, Wx, Wh, a0, c0, A, C, G, dA, dcT, dWx, dWh, db,
                                   da0, dc0, dx)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_BWD_DENSE, dt)
        raise


cdef Py_ssize_t _as_int(str name, object v) except? -1:
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an integer, got bool {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}") from None


def lstm_sample(Wx, Wh, b, Wy, by, a, c, x0, u, temperature, top_k, stop, out):
    """Generate characters one step at a time, feeding each pick back as the next input.

    Parameters
    ----------
    Wx (4H, X), Wh (4H, H), b (4H,), Wy (Y, H), by (Y,) : IN model parameters; Y <= X.
    a, c : IN/OUT (H,) hidden and cell state; hold the last state on return.
    x0 : int, first input index (-1 = zero input).
    u : IN (>= N,) float64 uniforms in [0, 1), one per character (pre-drawn).
    temperature : float >= 0; logits are divided by it; ``0`` picks the argmax.
    top_k : int >= 0; keep only the k largest logits (0 = all).
    stop : int; stop after emitting this index (-1 = never).
    out : OUT (N,) int64 indices.

    Returns
    -------
    n : int, the number of characters written to ``out``.
    """
    cdef tuple args = (Wx, Wh, b, Wy, by, a, c, u, out)
    dt = _float_dtype(args, _SPEC_SAMPLE)
    cdef Py_ssize_t ix0 = _as_int("x0", x0)
    cdef Py_ssize_t k = _as_int("top_k", top_k)
    cdef Py_ssize_t st = _as_int("stop", stop)
    try:
        temp = float(temperature)
    except (TypeError, ValueError):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__} "
                        f"{temperature!r}") from None
    try:
        if dt is _F64:
            return _sample[double](Wx, Wh, b, Wy, by, a, c, ix0, u, temp, k, st, out)
        else:
            return _sample[float](Wx, Wh, b, Wy, by, a, c, ix0, u, temp, k, st, out)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_SAMPLE, dt)
        raise


def lstm_train_step_ix(X, Y, Wx, Wh, b, Wy, by, a0, c0, A, C, G, P, dA,
                       dWx, dWh, db, dWy, dby, da0, dc0, clip, lr):
    """One full LSTM training step on index sequences, in place.

    Zero the gradients; forward (``A``, ``C``, ``G``); summed cross-entropy of the
    softmax output layer against ``Y``; BPTT (zero gradient on the final cell state);
    clip every parameter gradient to ``[-clip, clip]`` when ``clip > 0``; SGD
    ``p += -lr * g`` when ``lr != 0``. Shapes as in ``fastrnn.reference.lstm_train_step_ix``:
    X, Y (T, B) int64 (-1 = no input / masked target); Wx (4H, X), Wh (4H, H), b (4H,),
    Wy (Y, H), by (Y,) IN/OUT; a0, c0 IN (B, H); A, C OUT (T, B, H); G OUT (T, B, 4H)
    (gate gradients on return); P OUT (T, B, Y) (output-layer ``dz`` on return);
    dA OUT (T, B, H) scratch; dWx, dWh, db, dWy, dby OUT gradients (clipped);
    da0, dc0 OUT (B, H) (not clipped).

    Returns
    -------
    loss : float, the summed cross-entropy before the update. A non-finite loss is
        returned, not raised (the caller decides).
    """
    cdef tuple args = (X, Y, Wx, Wh, b, Wy, by, a0, c0, A, C, G, P, dA,
                       dWx, dWh, db, dWy, dby, da0, dc0)
    dt = _float_dtype(args, _SPEC_TRAIN)
    cdef double fclip, flr
    try:
        fclip = clip
        flr = lr
    except TypeError:
        raise TypeError(f"clip and lr must be numbers, got {clip!r}, {lr!r}") from None
    try:
        if dt is _F64:
            return _train_step_ix[double](X, Y, Wx, Wh, b, Wy, by, a0, c0, A, C, G, P, dA,
                                          dWx, dWh, db, dWy, dby, da0, dc0, fclip, flr)
        else:
            return _train_step_ix[float](X, Y, Wx, Wh, b, Wy, by, a0, c0, A, C, G, P, dA,
                                         dWx, dWh, db, dWy, dby, da0, dc0, fclip, flr)
    except _BUFFER_ERRORS:
        _diagnose(args, _SPEC_TRAIN, dt)
        raise


include "_team_hooks.pxi"
