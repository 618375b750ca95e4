# cython: language_level=3
"""Inline cores shared by the kernels: the index-input gather and its gradient, fused softmax +
cross-entropy, clip, SGD, sampling pick, the team of the batched recurrences.

Private; cimported by ``fastrnn._ops``, ``fastrnn._rnn`` and ``fastrnn._lstm`` (inline:
compiled into each module, no runtime import between extension modules).
"""

from cython cimport floating
from libc.math cimport isfinite, INFINITY
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy


from fastrnn._blas cimport TILE_N, gemm
from fastrnn._math cimport fexp, flog, vexpm, vclip


cdef extern from "_team.h" nogil:
    ctypedef void (*fr_job_fn)(void* arg) noexcept nogil
    void fr_run(fr_job_fn fn, void* arg, int n)
    int fr_team_size()
    int fr_team_rank()
    int fr_team_solo()
    void fr_set_blas_thread_functions(size_t get_address, size_t set_address)
    int fr_blas_begin()
    void fr_blas_end(int n)
    int fr_choose(int kind, int dbl, long long key, long long* t0)
    void fr_chosen(int kind, int dbl, int n, long long t0, double work)
    int fr_claim(int* counter, int n)
    int fr_peek(const int* counter)
    void fr_count_done(int* counter)
    void fr_wait_count(int* counter, int n)
    void fr_round_mark()
    void fr_mark_stalled()
    int fr_call_stalled()
    void fr_member_hold()
    void fr_store(int* p, int v)
    int fr_load(const int* p)
    int fr_cas(int* p, int expected, int desired)
    void fr_notify(int* p)
    void fr_pause_or_block(int* p, int v, long long* t0, unsigned* k)
    void fr_wait_change(int* p, int v, long long spin_ns, int* blocked)
    long long fr_now_ns()
    int fr_max_threads
    int fr_adaptive
    long long fr_stall_ns
    long long fr_team_calls[8]
    ctypedef struct fr_pool_t:
        int waiters
        int idle
        long long hold_ns
        int skip
    fr_pool_t fr_pool


# A kernel call that can run on the team: SciPy's BLAS at one thread for the call, and
# the thread count by the measured costs (fr_choose in _team.h); ``eligible`` false:
# one thread, nothing measured. ``team_end`` records the cost (``work``: the steps).
cdef inline int team_begin(int kind, bint dbl, long long key, bint eligible, long long* t0,
                           int* blas) noexcept nogil:
    blas[0] = fr_blas_begin()
    t0[0] = 0
    if not eligible:
        return 1
    return fr_choose(kind, dbl, key, t0)


cdef inline void team_end(int kind, bint dbl, int nth, long long t0, double work,
                          int blas) noexcept nogil:
    fr_chosen(kind, dbl, nth, t0, work)
    fr_blas_end(blas)


# Arguments of a job run by fr_run (the team functions of the kernels unpack them)
ctypedef struct job_t:
    int i[8]
    Py_ssize_t q[4]
    const void* p[20]
    double d[2]
    bint f64


# Rounds of the team (see _team.h). A round of ``nblk`` blocks is ``stride`` ints: one
# 64-byte line per thread of the team (the blocks claimed from its range so far, plus
# ARRIVED once the thread has entered the round), then a line with the count of blocks
# finished. A NULL round means one thread: every block in order. A thread claims its
# own blocks one at a time, then blocks of ranges whose owners have not arrived (a
# descheduled thread, or one sharing its core, leaves its work to the others); once
# rank 0 has found a member stalled (``fr_team_solo``), members finish their own range
# of the round they are in and enter no more rounds, and rank 0 takes every block left,
# arrived owners' too. (A member does not drop the rest of its range: rank 0 may already
# be waiting for the round to complete.)
cdef enum:
    LINE = 16                  # ints per 64-byte line
    ARRIVED = 1 << 20
    CLAIMS = ARRIVED - 1


cdef inline void block_range(int nblk, int s, int size, int* lo, int* hi) noexcept nogil:
    """The range of blocks ``[lo, hi)`` of thread ``s`` of ``size`` (equal shares)."""
    lo[0] = <int>((<long long>nblk * s) // size)
    hi[0] = <int>((<long long>nblk * (s + 1)) // size)


cdef inline void round_start(int* rd, int nblk, int rank, int size, int* own) noexcept nogil:
    """Enter a round: ``own`` = the caller's range [lo, hi) (emptied once exhausted);
    mark it arrived."""
    if rd == NULL:
        own[0] = 0
        own[1] = nblk
        return
    block_range(nblk, rank, size, &own[0], &own[1])
    fr_claim(&rd[rank * LINE], ARRIVED)


cdef inline int _steal(int* rd, int s, int nblk, int size) noexcept nogil:
    """Claim a block of thread ``s``'s range, or -1 when none is left."""
    cdef int lo, hi, i
    block_range(nblk, s, size, &lo, &hi)
    while (fr_peek(&rd[s * LINE]) & CLAIMS) < hi - lo:
        i = fr_claim(&rd[s * LINE], 1) & CLAIMS
        if i < hi - lo:
            return lo + i
    return -1


cdef inline int round_next(int* rd, int nblk, int rank, int size, int* own) noexcept nogil:
    """The caller's next block of the round, or -1: its own blocks first, then blocks of
    ranges whose owners have not arrived (every range's, for rank 0 of a solo job; none
    for the other members of a solo job)."""
    cdef int k, s, i
    cdef bint solo
    if rd == NULL:
        if own[0] < own[1]:
            own[0] += 1
            return own[0] - 1
        return -1
    if own[0] < own[1]:
        i = fr_claim(&rd[rank * LINE], 1) & CLAIMS
        if i < own[1] - own[0]:
            if rank != 0:
                fr_member_hold()
            return own[0] + i
        own[1] = own[0]                 # exhausted
    solo = fr_team_solo()
    if solo and rank != 0:
        return -1
    for k in range(1, size):
        s = (rank + k) % size
        if solo or not (fr_peek(&rd[s * LINE]) & ARRIVED):
            i = _steal(rd, s, nblk, size)
            if i >= 0:
                return i
    return -1


cdef inline int round_first(int* rounds, int k, int stride, int nprev, int nitems,
                            int rank, int size, int* own, int** rd) noexcept nogil:
    """Enter round ``k`` of ``rounds`` (NULL: one thread): wait until round k-1's
    ``nprev`` items are done, take the caller's range of the ``nitems`` items; returns
    its first item (-1: none) and the round in ``rd[0]``. A member of a solo job
    returns -1 at once."""
    rd[0] = NULL
    if rounds != NULL:
        if rank != 0 and fr_team_solo():
            return -1
        rd[0] = rounds + k * stride
        if k > 0:
            fr_wait_count(rd[0] - LINE, nprev)
        fr_round_mark()
    round_start(rd[0], nitems, rank, size, own)
    return round_next(rd[0], nitems, rank, size, own)


cdef inline int round_then(int* rd, int stride, int nitems, int rank, int size,
                           int* own) noexcept nogil:
    """Count the caller's item of round ``rd`` as done; returns its next (-1: none)."""
    if rd != NULL:
        fr_count_done(rd + stride - LINE)
    return round_next(rd, nitems, rank, size, own)


cdef inline int* rounds_alloc(int nrounds, int nth, int* stride) noexcept nogil:
    """Zeroed counters for ``nrounds`` rounds of a team of ``nth``; NULL (one thread)
    when nth is 1 or the allocation fails. The callers run their job with
    ``fr_run(..., nth if rounds != NULL else 1)`` and free the counters after it."""
    stride[0] = (nth + 1) * LINE
    if nth <= 1:
        return NULL
    return <int*>calloc(<size_t>nrounds * stride[0], sizeof(int))


# The pair (batch-1 loops on two threads): thread 0 runs a batch-1 loop as one thread
# would; at each step it offers thread 1 items (numbered 0, 1, 2, ... in loop order)
# and does one itself when thread 1 has not claimed it by the time thread 0 needs it, so a thread 1 that arrives
# late or loses its core to another process costs no waiting (thread 0 then works as
# one thread). Item i may start once items < i are done and thread 0 has finished its
# phase i (its work that item i reads). The flags, each on its own 64-byte line, are
# ``_P_INTS`` zeroed ints (int offsets):
cdef enum:
    _P_TICKET = 0      # items claimed so far
    _P_DONE = 16       # items finished (they finish in order)
    _P_PHASE = 32      # thread 0's phases finished
    _P_X = 48          # sampling: the input of the step begun last
    _P_FIN = 64        # 1 once the loop is over
    _P_SOLO = 80       # 1 once thread 0 has found thread 1 stalled: no more items for it
    _P_INTS = 96


# A thread 1 that loses its core (to another process, or to the hypervisor) while it
# holds an item makes thread 0 wait for it. When a wait lasts longer than twice thread
# 0's own part of the phase plus ``fr_stall_ns`` (200 us: longer than an interrupt,
# shorter than a time slice), thread 0 takes every later item of the call itself.
# Users: ``_lstm.pyx``'s batch-1 passes, ``_layers.pyx``'s batch-1 layers.


cdef inline int _pair_next(int* fl, int nitems) noexcept nogil:
    """Thread 1: claim the next of the loop's ``nitems`` items once it may start; -1
    once the loop is over (or thread 0 has taken over the rest). It waits for thread
    0's next phase: spinning, then blocked (thread 0 changes ``_P_PHASE`` after every
    item it does itself and at the end)."""
    cdef long long t0 = 0
    cdef unsigned k = 0
    cdef int i, ph
    while True:
        ph = fr_load(&fl[_P_PHASE])
        if fr_load(&fl[_P_FIN]) or fr_load(&fl[_P_SOLO]):
            return -1
        i = fr_load(&fl[_P_TICKET])
        if (i < nitems and fr_load(&fl[_P_DONE]) >= i and ph >= i
                and fr_cas(&fl[_P_TICKET], i, i + 1)):
            fr_member_hold()
            return i
        fr_pause_or_block(&fl[_P_PHASE], ph, &t0, &k)


cdef inline bint _pair_mine(int* fl, int i, long long* tph) noexcept nogil:
    """Thread 0 needs item i: True if it claimed it (it then does it and calls
    ``_pair_done``), else it waits until thread 1 has done it. ``fl`` NULL (one thread,
    the same loop): True. ``tph``: when thread 0's current phase began (``fr_now_ns``),
    set to the end of the wait; a wait much longer than that phase marks thread 1 as
    stalled (``_P_SOLO``)."""
    cdef long long t0, t1
    if fl == NULL or fr_cas(&fl[_P_TICKET], i, i + 1):
        return True
    t0 = fr_now_ns()
    fr_wait_count(&fl[_P_DONE], i + 1)
    t1 = fr_now_ns()
    if t1 - t0 > 2 * (t0 - tph[0]) + fr_stall_ns:
        fr_store(&fl[_P_SOLO], 1)
    tph[0] = t1
    return False


cdef inline void _pair_end(int* fl) noexcept nogil:
    """Thread 0's loop is over: thread 1 returns (no-op for one thread). No item is left
    to claim (the ticket jumps past every item), and the phase changes to wake it."""
    if fl != NULL:
        fr_store(&fl[_P_FIN], 1)
        fr_store(&fl[_P_TICKET], 2147483647)
        fr_store(&fl[_P_PHASE], fr_load(&fl[_P_PHASE]) + 1)
        fr_notify(&fl[_P_PHASE])


cdef inline void _pair_done(int* fl, int i) noexcept nogil:
    """Item i is finished (no-op for one thread)."""
    if fl != NULL:
        fr_store(&fl[_P_DONE], i + 1)
        fr_notify(&fl[_P_DONE])


cdef inline void _pair_phase(int* fl, int m) noexcept nogil:
    """Thread 0 has finished its phase m (no-op for one thread)."""
    if fl != NULL:
        fr_store(&fl[_P_PHASE], m)
        fr_notify(&fl[_P_PHASE])


cdef inline void _pair_finish(int kind, bint dbl, int* fl, long long t0,
                              double steps) noexcept nogil:
    """Record the cost of the pass begun by ``_pair_begin`` and free the flags (a pass
    whose thread 1 stalled leaves the rest of the kernel call to one thread)."""
    if fl != NULL and fl[_P_SOLO]:
        fr_mark_stalled()
    fr_chosen(kind, dbl, 2 if fl != NULL else 1, t0, steps)
    free(fl)


cdef inline void transpose(int R, int C, const floating* A, floating* AT) noexcept nogil:
    """``AT (C, R) = A (R, C).T``, both C-contiguous, in 32 x 32 blocks."""
    cdef int i0, j0, i, j, i1, j1
    for i0 in range(0, R, 32):
        i1 = i0 + 32 if i0 + 32 < R else R
        for j0 in range(0, C, 32):
            j1 = j0 + 32 if j0 + 32 < C else C
            for i in range(i0, i1):
                for j in range(j0, j1):
                    AT[j * R + i] = A[i * C + j]


cdef inline void gather_ix(int N, int W, int Xn, const int64_t* X, const floating* M,
                           const floating* b, floating* out, int k0=0,
                           int k1=-1) noexcept nogil:
    """The input projection of index inputs: ``out[r] = b + M[:, X[r]]`` (``b`` alone where
    ``X[r] == -1``), r over N = T*B rows of width W (H for the RNN, 4H for the LSTM);
    ``M`` is (W, Xn), row-major. Only columns [k0, k1) (default: all) are written.

    With more rows than inputs, the sums ``b + M[:, x]`` are formed once per input in
    a transposed table (contiguous rows) and copied: the same values, without a strided
    column gather per row."""
    cdef Py_ssize_t r, k
    cdef int64_t ix
    cdef floating* row
    cdef floating* tbl = NULL
    if k1 < 0:
        k1 = W
    cdef int n = k1 - k0
    if N > Xn:
        tbl = <floating*>malloc(<size_t>Xn * n * sizeof(floating))
    if tbl != NULL:
        for k in range(k0, k1):
            for r in range(Xn):
                tbl[r * n + k - k0] = b[k] + M[k * Xn + r]
        for r in range(N):
            ix = X[r]
            if ix >= 0:
                memcpy(out + r * W + k0, tbl + ix * n, <size_t>n * sizeof(floating))
            else:
                memcpy(out + r * W + k0, b + k0, <size_t>n * sizeof(floating))
        free(tbl)
        return
    for r in range(N):
        row = out + r * W
        ix = X[r]
        if ix >= 0:
            for k in range(k0, k1):
                row[k] = b[k] + M[k * Xn + ix]
        else:
            for k in range(k0, k1):
                row[k] = b[k]


cdef inline void scatter_add_ix(int N, int W, int Xn, const int64_t* X, const floating* dZ,
                                floating* dM, int k0=0, int k1=-1) noexcept nogil:
    """Gradient of :func:`gather_ix`: ``dM[:, X[r]] += dz_r`` (rows with X == -1 skipped),
    rows [k0, k1) of ``dM`` (default: all).

    With more rows than inputs, the rows are summed per input into a transposed
    accumulator (contiguous adds), which is added to ``dM`` once."""
    cdef Py_ssize_t r, k
    cdef int64_t ix
    cdef const floating* row
    cdef floating* acc = NULL
    cdef floating* arow
    if k1 < 0:
        k1 = W
    cdef int n = k1 - k0
    if N > Xn:
        acc = <floating*>calloc(<size_t>Xn * n, sizeof(floating))
    if acc != NULL:
        for r in range(N):
            ix = X[r]
            if ix >= 0:
                row = dZ + r * W + k0
                arow = acc + ix * n
                for k in range(n):
                    arow[k] += row[k]
        for k in range(k0, k1):
            for r in range(Xn):
                dM[k * Xn + r] += acc[r * n + k - k0]
        free(acc)
        return
    for r in range(N):
        ix = X[r]
        if ix >= 0:
            row = dZ + r * W
            for k in range(k0, k1):
                dM[k * Xn + ix] += row[k]


# columns of a block of the team's gather / scatter rounds
cdef enum:
    COL_BLOCK = 256


cdef inline void gather_scatter_team(bint scatter, int N, int W, int Xn, const int64_t* X,
                                     const floating* M, const floating* b,
                                     floating* Z, floating* dM, int* rounds,
                                     int stride) noexcept nogil:
    """One team thread's part of :func:`gather_ix` (``Z`` = out) or, with ``scatter``,
    of :func:`scatter_add_ix` (``Z`` = dZ, into ``dM``): one round of blocks of
    COL_BLOCK columns (``rounds``: 1 round, or NULL for one thread)."""
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nblk = (W + COL_BLOCK - 1) // COL_BLOCK, c, k0, k1
    cdef int own[2]
    cdef int* rd
    c = round_first(rounds, 0, stride, 0, nblk, rank, size, own, &rd)
    while c >= 0:
        k0 = c * COL_BLOCK
        k1 = k0 + COL_BLOCK if W - k0 > COL_BLOCK else W
        if scatter:
            scatter_add_ix(N, W, Xn, X, Z, dM, k0, k1)
        else:
            gather_ix(N, W, Xn, X, M, b, Z, k0, k1)
        c = round_then(rd, stride, nblk, rank, size, own)


cdef inline void gather_scatter(bint scatter, int nth, int N, int W, int Xn,
                                const int64_t* X, const floating* M, const floating* b,
                                floating* Z, floating* dM) noexcept nogil:
    """:func:`gather_ix` (``Z`` = out) or, with ``scatter``, :func:`scatter_add_ix` (``Z``
    = dZ, into ``dM``) on a team of ``nth`` threads, in blocks of columns (the same
    numbers as one call)."""
    cdef int stride
    cdef int* rounds = rounds_alloc(1, nth, &stride)
    if rounds == NULL:          # one thread (batch 1 among others): one call, no region
        if scatter:
            scatter_add_ix(N, W, Xn, X, Z, dM)
        else:
            gather_ix(N, W, Xn, X, M, b, Z)
        return
    cdef job_t j
    j.f64 = floating is double
    j.i[0], j.i[1], j.i[2], j.i[3], j.i[4] = scatter, N, W, Xn, stride
    j.p[0], j.p[1], j.p[2], j.p[3], j.p[4], j.p[5] = X, M, b, Z, dM, rounds
    fr_run(_gather_scatter_job, &j, nth)
    free(rounds)


cdef inline void _gather_scatter_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        gather_scatter_team[double](j.i[0], j.i[1], j.i[2], j.i[3], <const int64_t*>j.p[0],
                                    <const double*>j.p[1], <const double*>j.p[2],
                                    <double*>j.p[3], <double*>j.p[4], <int*>j.p[5], j.i[4])
    else:
        gather_scatter_team[float](j.i[0], j.i[1], j.i[2], j.i[3], <const int64_t*>j.p[0],
                                   <const float*>j.p[1], <const float*>j.p[2],
                                   <float*>j.p[3], <float*>j.p[4], <int*>j.p[5], j.i[4])


cdef inline double softmax_xent_core(int N, int H, int V, const floating* A,
                                     const floating* Wya, const floating* by,
                                     const int64_t* Y, floating* P,
                                     bint backward, floating* dWya, floating* dby,
                                     floating* dA, bint add_dA=True) noexcept nogil:
    """Output layer over N rows: ``P = softmax(A @ Wya.T + by)``, summed cross-entropy.

    Parameters
    ----------
    N, H, V : rows (T*B), hidden size, output size.
    A : IN (N, H); Wya : IN (V, H); by : IN (V,); Y : IN (N,) targets, -1 = masked.
    P : OUT (N, V) probabilities, or ``dz = p - onehot(y)`` (zero rows where masked)
        when ``backward``.
    dWya (V, H), dby (V,) : accumulated when ``backward``.
    dA (N, H) : ``dz @ Wya`` is added to it when ``backward`` (``add_dA``), or written
        over it (``add_dA=False``: the training steps, which would otherwise zero it).

    Returns the loss ``sum_{rows, y >= 0} log(sum exp(z - max)) - (z_y - max)``.
    """
    cdef Py_ssize_t r, k
    cdef floating* row
    cdef floating m, z, zy, s, e
    cdef int64_t y
    cdef double loss = 0
    # logits: one GEMM over all rows (P = A @ Wya^T)
    gemm(False, True, N, V, H, 1, A, H, Wya, H, 0, P, V)
    for r in range(N):
        row = P + r * V
        y = Y[r]
        m = row[0] + by[0]
        for k in range(V):
            row[k] = row[k] + by[k]
            if row[k] > m:
                m = row[k]
        zy = row[y] - m if y >= 0 else 0
        vexpm(row, V, m)                   # row = exp(z - max)
        s = 0
        for k in range(V):
            s = s + row[k]
        if y >= 0:
            loss += <double>flog(s) - <double>zy
        for k in range(V):
            row[k] = row[k] / s
        if backward:
            # z = Wya a + by, L = -log softmax(z)[y]  ->  dz = p - onehot(y)
            if y >= 0:
                row[y] -= 1
            else:
                for k in range(V):
                    row[k] = 0
    if backward:
        gemm(True, False, V, H, N, 1, P, V, A, H, 1, dWya, H)       # dWya += dz^T A
        for r in range(N):                                           # dby += sum_rows dz
            row = P + r * V
            for k in range(V):
                dby[k] += row[k]
        # dA (+)= dz @ Wya
        gemm(False, False, N, H, V, 1, P, V, Wya, H, 1 if add_dA else 0, dA, H)
    return loss


# rows of a block of the output layer's first round in a batched training step
cdef enum:
    OUT_ROWS = 256


cdef inline void output_team(int N, int H, int V, const floating* A, const floating* Wy,
                       const floating* by, const int64_t* Y, floating* P, floating* dWy,
                       floating* dby, floating* dA, double* losses, int* rounds,
                       int stride) noexcept nogil:
    """One team thread's part of the output layer of a batched training step of either
    cell (the work of ``softmax_xent_core`` in blocks; ``rounds``: 2 rounds, or NULL for one thread).
    Round 0, per block of OUT_ROWS rows: logits, softmax, the block's loss in
    ``losses[block]``, dz = p - onehot(y) in place in P (zero rows where masked) and
    its rows of dA = dz @ Wy (written). Round 1, per block of 64 units: those columns
    of dWy += dz^T A; block 0 also dby += the column sums of dz."""
    cdef int rank = fr_team_rank(), size = fr_team_size()
    cdef int nrb = (N + OUT_ROWS - 1) // OUT_ROWS, nblk = (H + TILE_N - 1) // TILE_N
    cdef int own[2]
    cdef int* rd
    cdef int c, n, u0
    cdef Py_ssize_t r0, r, k
    cdef int64_t y
    cdef floating* row
    c = round_first(rounds, 0, stride, 0, nrb, rank, size, own, &rd)
    while c >= 0:
        r0 = <Py_ssize_t>c * OUT_ROWS
        n = OUT_ROWS if N - r0 > OUT_ROWS else <int>(N - r0)
        losses[c] = softmax_xent_core(n, H, V, A + r0 * H, Wy, by, Y + r0, P + r0 * V,
                                      False, NULL, NULL, NULL)
        for r in range(r0, r0 + n):
            # z = Wy a + by, L = -log softmax(z)[y]  ->  dz = p - onehot(y)
            row = P + r * V
            y = Y[r]
            if y >= 0:
                row[y] -= 1
            else:
                for k in range(V):
                    row[k] = 0
        gemm(False, False, n, H, V, 1, P + r0 * V, V, Wy, H, 0, dA + r0 * H, H)
        c = round_then(rd, stride, nrb, rank, size, own)
    c = round_first(rounds, 1, stride, nrb, nblk, rank, size, own, &rd)
    while c >= 0:
        u0 = c * TILE_N
        n = TILE_N if H - u0 > TILE_N else H - u0
        gemm(True, False, V, n, N, 1, P, V, A + u0, H, 1, dWy + u0, H)
        if c == 0:
            for r in range(N):
                row = P + r * V
                for k in range(V):
                    dby[k] += row[k]
        c = round_then(rd, stride, nblk, rank, size, own)


cdef inline void output_run(int nth, int N, int H, int V, const floating* A,
                            const floating* Wy, const floating* by, const int64_t* Y,
                            floating* P, floating* dWy, floating* dby, floating* dA,
                            double* losses) noexcept nogil:
    """The output layer of a batched training step on a team of ``nth`` threads
    (``output_team``; one thread when the counters cannot be allocated); ``losses``
    receives the loss of each block of OUT_ROWS rows."""
    cdef int stride
    cdef int* rounds = rounds_alloc(2, nth, &stride)
    cdef job_t j
    j.f64 = floating is double
    j.i[0], j.i[1], j.i[2], j.i[3] = N, H, V, stride
    j.p[0], j.p[1], j.p[2], j.p[3], j.p[4] = A, Wy, by, Y, P
    j.p[5], j.p[6], j.p[7], j.p[8], j.p[9] = dWy, dby, dA, losses, rounds
    fr_run(_output_job, &j, nth if rounds != NULL else 1)
    free(rounds)


cdef inline void _output_job(void* a) noexcept nogil:
    cdef job_t* j = <job_t*>a
    if j.f64:
        output_team[double](j.i[0], j.i[1], j.i[2], <const double*>j.p[0],
                            <const double*>j.p[1], <const double*>j.p[2],
                            <const int64_t*>j.p[3], <double*>j.p[4], <double*>j.p[5],
                            <double*>j.p[6], <double*>j.p[7], <double*>j.p[8],
                            <int*>j.p[9], j.i[3])
    else:
        output_team[float](j.i[0], j.i[1], j.i[2], <const float*>j.p[0],
                           <const float*>j.p[1], <const float*>j.p[2],
                           <const int64_t*>j.p[3], <float*>j.p[4], <float*>j.p[5],
                           <float*>j.p[6], <float*>j.p[7], <double*>j.p[8],
                           <int*>j.p[9], j.i[3])


cdef inline void clip_core(floating* g, Py_ssize_t n, floating m) noexcept nogil:
    """Clip n entries in place to [-m, m] (NaN stays NaN, like np.clip)."""
    vclip(g, n, m)


cdef inline void sgd_core(floating* p, const floating* g, Py_ssize_t n,
                          floating lr) noexcept nogil:
    """``p += -lr * g`` over n entries (the course's update, bit for bit)."""
    cdef Py_ssize_t i
    cdef floating nlr = -lr
    for i in range(n):
        p[i] = p[i] + nlr * g[i]


cdef inline double kth_smallest(double* w, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Quickselect: the value of rank ``k`` (0-based, ascending) of ``w[:n]``; permutes w."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j
    cdef double pivot, tmp
    while lo < hi:
        pivot = w[lo + (hi - lo) // 2]
        i = lo
        j = hi
        while i <= j:
            while i <= hi and w[i] < pivot:
                i += 1
            while j >= lo and w[j] > pivot:
                j -= 1
            if i <= j:
                tmp = w[i]
                w[i] = w[j]
                w[j] = tmp
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return w[k]
    return w[k]


cdef inline double _max_d(const double* z, int V) noexcept nogil:
    """The largest of z[0:V] (V >= 1) in four independent chains (the maximum does not
    depend on the order; a NaN is never picked over a number, as with one chain)."""
    cdef double m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0]
    cdef int k = 1
    while k + 3 < V:
        m0 = z[k] if z[k] > m0 else m0
        m1 = z[k + 1] if z[k + 1] > m1 else m1
        m2 = z[k + 2] if z[k + 2] > m2 else m2
        m3 = z[k + 3] if z[k + 3] > m3 else m3
        k += 4
    while k < V:
        m0 = z[k] if z[k] > m0 else m0
        k += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


cdef inline double _sum_d(const double* z, int V) noexcept nogil:
    """sum(z[0:V]) in NumPy's pairwise order for V <= 128 (eight running sums combined as
    ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest; one sum for V < 8)."""
    cdef double r[8]
    cdef double s = 0
    cdef int i, j, n8
    if V < 8:
        for i in range(V):
            s += z[i]
        return s
    for j in range(8):
        r[j] = z[j]
    n8 = V - V % 8
    i = 8
    while i < n8:
        for j in range(8):
            r[j] += z[i + j]
        i += 8
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(n8, V):
        s += z[i]
    return s


cdef inline int sample_pick(const floating* logits, int V, double temperature,
                            int top_k, double u, double* work) noexcept nogil:
    """Pick an index from ``softmax(logits / temperature)`` by inverse CDF of ``u``.

    Mirrors ``np.random.choice(V, p=p)`` given its uniform draw ``u``: float64
    ``cdf = cumsum(p)``, ``cdf /= cdf[-1]``, first index with ``cdf > u``.
    ``temperature == 0`` returns the (first) argmax; ``0 < top_k < V`` keeps only the
    ``top_k`` largest logits. ``work`` is scratch of 2*V doubles.
    """
    cdef int k, best = 0
    cdef double m, s, c, total, kth
    cdef double* z = work
    cdef double* srt = work + V
    if temperature == 0:
        for k in range(1, V):
            if logits[k] > logits[best]:
                best = k
        return best
    for k in range(V):
        z[k] = <double>logits[k] if temperature == 1 else <double>logits[k] / temperature
    if 0 < top_k < V:
        for k in range(V):
            srt[k] = z[k]
        kth = kth_smallest(srt, V, V - top_k)       # the top_k-th largest value
        for k in range(V):
            if z[k] < kth:
                z[k] = -INFINITY
    m = _max_d(z, V)
    vexpm(z, V, m)                 # e = exp(z - max), vectorised
    s = _sum_d(z, V)
    for k in range(V):
        z[k] = z[k] / s            # p
    c = 0
    for k in range(V):             # cdf[k], kept in place
        c += z[k]
        z[k] = c
    total = c
    for k in range(V):
        if z[k] / total > u:
            return k
    return V - 1
