# The Python side of a kernel module's thread team (src_c/fastrnn/_team.h): included by
# _rnn.pyx, _lstm.pyx and _layers.pyx, each of which has its own pool and its own
# measured costs.

from libc.string cimport memset
from fastrnn._blas cimport fr_gemv_off
from fastrnn._common cimport (fr_adaptive, fr_max_threads, fr_pool, fr_set_blas_thread_functions,
                             fr_stall_ns, fr_team_calls)

cdef extern from "_team.h" nogil:
    ctypedef struct fr_slot_t:
        double ring[2][5]
        int count[2]
        int pos[2]
        int warm[2]
        long long key
        long long calls
        long long next_explore
        int interval
        int losses
        int burst
        int mode
        long long used
    enum: FR_START
    enum: FR_WAYS
    enum: FR_KINDS
    fr_slot_t fr_slots[1]
    fr_slot_t* fr_slot(int kind, int dbl, long long key)
    double fr_estimate(const fr_slot_t* s, int m)


def _gemv_test_hook(blas=None):
    """Test hook: ``blas`` true makes this module's batch-1 row products call BLAS even
    where ``_gemv.h`` applies. Returns the previous setting."""
    global fr_gemv_off
    old = bool(fr_gemv_off)
    if blas is not None:
        fr_gemv_off = 1 if blas else 0
    return old


def _connect_blas_threads(size_t get_address, size_t set_address):
    """Called once by ``fastrnn._config``: the addresses of ``get_num_threads`` and
    ``set_num_threads`` of the BLAS the kernels call (0: none); the kernels set it to
    one thread for the duration of a call."""
    fr_set_blas_thread_functions(get_address, set_address)


def _set_threads(int n):
    """Called by ``fastrnn._config``: the most threads a call may run on (>= 1)."""
    global fr_max_threads
    fr_max_threads = n if n >= 1 else 1


def _get_threads():
    """The most threads a call may run on."""
    return fr_max_threads


def _team_test_hook(adaptive=None, stall_ns=None, hold_ns=None, skip=None, reset=False):
    """Test hook: ``adaptive`` off makes every eligible call run on the team;
    ``stall_ns`` sets rank 0's stall margin; ``hold_ns`` makes a helper sleep after its
    first block or item of each job (a helper that lost its core); ``skip`` makes the
    helpers join no job (rank 0 alone in a team of two); ``reset`` forgets the measured
    costs. Returns the previous ``(adaptive, stall_ns, hold_ns, skip)`` and the calls
    run on the team per kind."""
    global fr_adaptive, fr_stall_ns
    cdef int k
    old = (bool(fr_adaptive), fr_stall_ns, fr_pool.hold_ns, bool(fr_pool.skip),
           [fr_team_calls[k] for k in range(8)])
    if skip is not None:
        fr_pool.skip = 1 if skip else 0
    if adaptive is not None:
        fr_adaptive = 1 if adaptive else 0
    if stall_ns is not None:
        fr_stall_ns = stall_ns
    if hold_ns is not None:
        fr_pool.hold_ns = hold_ns
    if reset:
        memset(fr_slots, 0, 2 * FR_KINDS * FR_WAYS * sizeof(fr_slot_t))
    return old


def _team_test_costs(int kind, bint dbl, long long key, double single, double team,
                     long long calls=1):
    """Test hook: make the measured costs of a kind, dtype and shape ``key`` (ns per
    step, one thread and team) each the cost of FR_START calls, with ``calls`` calls
    made so far (the 16th explores)."""
    cdef fr_slot_t* s = fr_slot(kind, dbl, key)
    cdef int i
    for i in range(FR_START):
        s.ring[0][i] = single
        s.ring[1][i] = team
    s.count[0] = s.count[1] = FR_START
    s.pos[0] = s.pos[1] = FR_START
    s.warm[0] = s.warm[1] = 1
    s.key = key
    s.calls = calls
    s.interval = 16
    s.next_explore = 16
    s.losses = 0
    s.burst = 0
    s.mode = 1 if team < 0.95 * single else 0


def _team_costs(int kind, bint dbl):
    """The estimated costs (ns per step, one thread and team: medians of the recent
    calls, 0: not measured) and the exploring interval of a kind and dtype, at the
    shape it ran last."""
    cdef fr_slot_t* s = &fr_slots[(kind * 2 + dbl) * FR_WAYS]
    cdef int w
    for w in range(1, FR_WAYS):
        if fr_slots[(kind * 2 + dbl) * FR_WAYS + w].used > s.used:
            s = &fr_slots[(kind * 2 + dbl) * FR_WAYS + w]
    return fr_estimate(s, 0), fr_estimate(s, 1), s.interval
