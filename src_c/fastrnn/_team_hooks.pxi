# The Python side of a kernel module's thread team (src_c/fastrnn/_team.h): included by
# _rnn.pyx and _lstm.pyx, each of which has its own pool and its own measured costs.

from fastrnn._common cimport (fr_adaptive, fr_max_threads, fr_pool, fr_set_blas_thread_functions,
                             fr_stall_ns, fr_team_calls)

cdef extern from "_team.h" nogil:
    ctypedef struct fr_slot_t:
        double cost[2]
        long long key
        long long calls
        long long next_explore
        int interval
    fr_slot_t fr_slots[16]


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
        for k in range(16):
            fr_slots[k].cost[0] = 0
            fr_slots[k].cost[1] = 0
            fr_slots[k].key = 0
            fr_slots[k].calls = 0
    return old


def _team_test_costs(int kind, bint dbl, long long key, double single, double team,
                     long long calls=1):
    """Test hook: set the measured costs (ns per step) of a kind, dtype and shape key,
    and the calls made so far (the 16th call explores)."""
    cdef int s = kind * 2 + dbl
    fr_slots[s].cost[0] = single
    fr_slots[s].cost[1] = team
    fr_slots[s].key = key
    fr_slots[s].calls = calls
    fr_slots[s].interval = 16
    fr_slots[s].next_explore = 16


def _team_costs(int kind, bint dbl):
    """The measured costs (ns per step, one thread and team; 0: not measured) and the
    exploring interval of a kind and dtype (for benchmarks and tests)."""
    cdef int s = kind * 2 + dbl
    return fr_slots[s].cost[0], fr_slots[s].cost[1], fr_slots[s].interval
