/* The thread team of the kernels: a pool of helper threads, its waits, and the choice
 * between the team and one thread (src_c/fastrnn/_rnn.pyx, _lstm.pyx, _common.pxd).
 *
 * Private; included through the cdef extern blocks of the kernels. Each extension
 * module that includes it has its own pool (helpers are created on first use and
 * sleep when idle).
 *
 * Running a job: fr_run(fn, arg, n) calls fn(arg) on the calling thread (rank 0) and
 * offers it to n - 1 helpers (ranks 1 .. n-1; fr_team_rank() / fr_team_size() inside
 * fn). A helper joins only while the job is open: when the caller's own fn returns it
 * closes the job and waits only for helpers that did join and are still inside; a
 * helper that wakes late finds the job closed and goes back to sleep. So the work must
 * not depend on a helper arriving: the rounds (_common.pxd) and the pair (_lstm.pyx)
 * let any thread take the blocks or items of a member that has not started them. A
 * second caller while the pool is busy (another Python thread) runs its job alone.
 *
 * Waiting: every wait (a helper for work, a member for a round's count, the pair's
 * threads for each other) spins for a bounded time (FR_SPIN_NS) and then blocks
 * (futex on Linux, WaitOnAddress on Windows, a condition variable elsewhere), so a
 * thread whose partner lost its core stops burning one. Rank 0 marks the job "solo"
 * when it has waited much longer than its own work (fr_wait_count): members then take
 * no more blocks, and rank 0 does the rest of the call itself.
 *
 * Choosing: whether the team pays depends on the machine's load, which changes from
 * minute to minute. Each kind of call (per dtype and shape) keeps its recent costs per
 * step on the team and on one thread (fr_choose / fr_chosen). It starts with two
 * counted calls of each mode in turn (one sample each let one slow call decide for
 * the next 16), then runs the mode whose median is lower (the team only when clearly
 * so) and now and then a short burst of the other, as often as about 3 % of the time
 * allows by the estimates.
 * Which thread computes what never changes the numbers: results do not depend on the
 * thread count or the choice.
 *
 * The BLAS: the kernels call SciPy's BLAS at one thread (the team is the parallelism;
 * OpenBLAS's own threads busy-wait). fastrnn._config hands each module the addresses
 * of its get/set_num_threads; fr_blas_begin/fr_blas_end set 1 around a call.
 */
#ifndef FASTRNN_TEAM_H
#define FASTRNN_TEAM_H

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "_platform.h"      /* fr_cpu_pause, fr_thread_yield, windows.h on Windows */

/* thread-local storage: MSVC's spelling, GCC's and clang's (mingw included), C11's */
#if defined(_MSC_VER) && !defined(__clang__)
#  define FR_TLS __declspec(thread)
#elif defined(__GNUC__) || defined(__clang__)
#  define FR_TLS __thread
#else
#  define FR_TLS _Thread_local
#endif

#if defined(_WIN32)
#  if defined(_MSC_VER)
#    pragma comment(lib, "synchronization.lib")
#  endif
#else
#  include <pthread.h>
#  include <sched.h>
#  include <time.h>
#  if defined(__linux__) && !defined(FR_NO_FUTEX)   /* FR_NO_FUTEX: test the fallback */
#    include <linux/futex.h>
#    include <sys/syscall.h>
#    include <unistd.h>
#    define FR_FUTEX 1
#  endif
#endif

/* ------------------------------------------------------------------ primitives */

/* Sequentially consistent int atomics: a wait's check and a waker's check must see each
 * other (a waiter counts itself, then re-checks; a waker changes the word, then reads
 * the count: fr_notify), which release/acquire alone does not give. */
#define FR_PAUSE() fr_cpu_pause()
#if defined(_MSC_VER) && !defined(__clang__)
static inline int fr_load(const int *p) { return *(volatile const int *)p; }  /* x86/x64: acquire */
static inline void fr_store(int *p, int v) { _InterlockedExchange((volatile long *)p, v); }
static inline int fr_fetch_add(int *p, int v) { return _InterlockedExchangeAdd((volatile long *)p, v); }
static inline int fr_cas(int *p, int expected, int desired)
{
    return _InterlockedCompareExchange((volatile long *)p, desired, expected) == expected;
}
#  define fr_peek fr_load
#else
static inline int fr_load(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline int fr_peek(const int *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fr_store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int fr_fetch_add(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int fr_cas(int *p, int expected, int desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}
#endif

/* Nanoseconds of a monotonic clock (only differences are used). */
static inline long long fr_now_ns(void)
{
#if defined(_WIN32)
    static LARGE_INTEGER freq;
    LARGE_INTEGER c;
    if (!freq.QuadPart) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&c);
    return (long long)((double)c.QuadPart * 1e9 / (double)freq.QuadPart);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
#endif
}

/* Block while *p == v (or until ~1 ms passed, or a spurious wake): the caller loops. */
#if !defined(FR_FUTEX) && !defined(_WIN32)
static pthread_mutex_t fr_cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fr_cv = PTHREAD_COND_INITIALIZER;
#endif

static inline void fr_block(int *p, int v)
{
#if defined(FR_FUTEX)
    struct timespec ts = {0, 1000000};
    syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
#elif defined(_WIN32)
    WaitOnAddress((volatile VOID *)p, &v, sizeof(int), 1);
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 1000000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec += 1; ts.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&fr_cv_lock);
    if (fr_load(p) == v) pthread_cond_timedwait(&fr_cv, &fr_cv_lock, &ts);
    pthread_mutex_unlock(&fr_cv_lock);
#endif
}

static inline void fr_wake(int *p)
{
#if defined(FR_FUTEX)
    syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#elif defined(_WIN32)
    WakeByAddressAll((PVOID)p);
#else
    (void)p;
    pthread_mutex_lock(&fr_cv_lock);
    pthread_cond_broadcast(&fr_cv);
    pthread_mutex_unlock(&fr_cv_lock);
#endif
}

/* ------------------------------------------------------------------- the pool */

#define FR_MAX_THREADS 64
#define FR_SPIN_NS 40000LL          /* spin this long before blocking */
#define FR_IDLE_SPIN_NS 50000LL     /* a helper between jobs */
#define FR_OPEN 0x40000000

typedef void (*fr_job_fn)(void *arg);

typedef struct {
    int busy;            /* 1 while a caller runs a job (one caller at a time) */
    int nhelpers;        /* helpers created */
    int gen;             /* jobs published; the helpers' futex word */
    int state;           /* FR_OPEN | helpers inside the job */
    int idle;            /* helpers blocked between jobs (on gen) */
    int waiters;         /* members blocked in a job (on a count or a flag) */
    int closer;          /* the caller blocked until the helpers inside leave */
    int solo;            /* the job's rank 0 found a member stalled */
    fr_job_fn fn;
    void *arg;
    int size;
    int forked;          /* atfork handler registered */
    long long hold_ns;   /* test hook: a helper sleeps this long after its first block */
    int skip;            /* test hook: helpers join no job (as if never scheduled) */
} fr_pool_t;
static fr_pool_t fr_pool;

static FR_TLS int fr_tl_rank = 0;
static FR_TLS int fr_tl_size = 1;
static FR_TLS long long fr_tl_round_ns = 0;   /* when the member entered its last round */
static FR_TLS int fr_tl_hold = 0;             /* test hook armed for this job */
static FR_TLS int fr_tl_stalled = 0;          /* a member stalled in this kernel call */

/* A member of a job of this kernel call stalled (rank 0 went solo): the call's later
 * jobs run on one thread (one stall per call at most, not one per job). Cleared when
 * the next kernel call begins (fr_blas_begin). */
static inline void fr_mark_stalled(void) { fr_tl_stalled = 1; }
static inline int fr_call_stalled(void) { return fr_tl_stalled; }

static inline int fr_team_rank(void) { return fr_tl_rank; }
static inline int fr_team_size(void) { return fr_tl_size; }
static inline int fr_team_solo(void) { return fr_peek(&fr_pool.solo); }

/* Wake the members blocked on *p in a job (after the caller changed *p). */
static inline void fr_notify(int *p)
{
    if (fr_load(&fr_pool.waiters) > 0) fr_wake(p);
}

/* Wait until *p != v: spin for `spin_ns`, then block (counted in *blocked). */
static inline void fr_wait_change(int *p, int v, long long spin_ns, int *blocked)
{
    long long t0 = 0;
    unsigned k = 0;
    while (fr_load(p) == v) {
        if ((++k & 63u) == 0) {
            long long t = fr_now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > spin_ns) {
                fr_fetch_add(blocked, 1);
                if (fr_load(p) == v) fr_block(p, v);
                fr_fetch_add(blocked, -1);
                continue;
            }
        }
        FR_PAUSE();
    }
}

/* One turn of a wait for *p to change: a pause for the first FR_SPIN_NS (*t0, *k:
 * the wait's start and turns, zero at first), then blocked. */
static inline void fr_pause_or_block(int *p, int v, long long *t0, unsigned *k)
{
    if ((++*k & 63u) == 0) {
        long long t = fr_now_ns();
        if (!*t0) *t0 = t;
        else if (t - *t0 > FR_SPIN_NS) {
            fr_fetch_add(&fr_pool.waiters, 1);
            if (fr_load(p) == v) fr_block(p, v);
            fr_fetch_add(&fr_pool.waiters, -1);
            return;
        }
    }
    FR_PAUSE();
}

static void fr_sleep_ns(long long ns)
{
#if defined(_WIN32)
    Sleep((DWORD)(ns / 1000000));
#else
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, NULL);
#endif
}

#if defined(_WIN32)
static DWORD WINAPI fr_helper_main(LPVOID p)
#else
static void *fr_helper_main(void *p)
#endif
{
    /* seen = -1: a helper created for a job looks at it at once (it may have been
     * published before the thread ran) */
    int rank = (int)(size_t)p, seen = -1, s;
    for (;;) {
        fr_wait_change(&fr_pool.gen, seen, FR_IDLE_SPIN_NS, &fr_pool.idle);
        seen = fr_load(&fr_pool.gen);
        if (fr_pool.skip) continue;
        /* join only an open job; fn/arg/size are stable while we are inside */
        for (s = fr_load(&fr_pool.state); s & FR_OPEN; s = fr_load(&fr_pool.state))
            if (fr_cas(&fr_pool.state, s, s + 1)) break;
        if (!(s & FR_OPEN)) continue;
        if (rank < fr_pool.size) {
            fr_tl_hold = fr_pool.hold_ns > 0;
            fr_tl_rank = rank;
            fr_tl_size = fr_pool.size;
            fr_pool.fn(fr_pool.arg);
            fr_tl_rank = 0;
            fr_tl_size = 1;
            fr_tl_hold = 0;
        }
        s = fr_fetch_add(&fr_pool.state, -1);
        if (s == 1 && fr_load(&fr_pool.closer) > 0)    /* the last one out, awaited */
            fr_wake(&fr_pool.state);
    }
#if defined(_WIN32)
    return 0;
#else
    return NULL;
#endif
}

#if !defined(_WIN32)
static void fr_after_fork_child(void)
{
    /* the helpers do not exist in a forked child: start afresh */
    fr_pool.busy = 0;
    fr_pool.nhelpers = 0;
    fr_pool.state = 0;
    fr_pool.idle = 0;
    fr_pool.waiters = 0;
    fr_pool.closer = 0;
    fr_pool.solo = 0;
}
#endif

/* Make sure n - 1 helpers exist (called by the pool's one caller); returns how many. */
static int fr_grow(int n)
{
    if (n > FR_MAX_THREADS) n = FR_MAX_THREADS;
#if !defined(_WIN32)
    if (!fr_pool.forked) {
        pthread_atfork(NULL, NULL, fr_after_fork_child);
        fr_pool.forked = 1;
    }
#endif
    while (fr_pool.nhelpers < n - 1) {
        size_t rank = (size_t)fr_pool.nhelpers + 1;
#if defined(_WIN32)
        HANDLE h = CreateThread(NULL, 0, fr_helper_main, (LPVOID)rank, 0, NULL);
        if (!h) break;
        CloseHandle(h);
#else
        pthread_t th;
        pthread_attr_t at;
        int err;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        err = pthread_create(&th, &at, fr_helper_main, (void *)rank);
        pthread_attr_destroy(&at);
        if (err) break;
#endif
        fr_pool.nhelpers++;
    }
    return fr_pool.nhelpers + 1;
}

/* Run fn(arg) on a team of up to n threads (the caller is rank 0); see the top. */
static inline void fr_run(fr_job_fn fn, void *arg, int n)
{
    int s;
    if (n > 1 && !fr_tl_stalled && fr_cas(&fr_pool.busy, 0, 1)) {
        n = fr_grow(n);
        if (n > 1) {
            fr_pool.fn = fn;
            fr_pool.arg = arg;
            fr_pool.size = n;
            fr_store(&fr_pool.solo, 0);
            fr_store(&fr_pool.state, FR_OPEN);
            fr_fetch_add(&fr_pool.gen, 1);
            if (fr_load(&fr_pool.idle) > 0) fr_wake(&fr_pool.gen);
            fr_tl_rank = 0;
            fr_tl_size = n;
            fn(arg);
            fr_tl_size = 1;
            if (fr_peek(&fr_pool.solo)) fr_tl_stalled = 1;
            s = fr_fetch_add(&fr_pool.state, -FR_OPEN) - FR_OPEN;   /* close */
            while (s != 0) {                /* helpers still inside */
                fr_wait_change(&fr_pool.state, s, FR_SPIN_NS, &fr_pool.closer);
                s = fr_load(&fr_pool.state);
            }
            fr_store(&fr_pool.busy, 0);
            return;
        }
        fr_store(&fr_pool.busy, 0);
    }
    fr_tl_rank = 0;
    fr_tl_size = 1;
    fn(arg);
}

/* ---------------------------------------------------------------------- waits */

/* Rank 0 marks a member stalled after waiting this much longer than twice its own work
 * in the round (longer than an interrupt, shorter than a time slice). */
static long long fr_stall_ns = 200000;

/* Work-claiming counters (see the rounds in _common.pxd). */
static inline int fr_claim(int *counter, int n)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return fr_fetch_add(counter, n);
#else
    return __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
#endif
}

/* One more block of a round finished (a release: whoever sees the count complete sees
 * what the block wrote), and a wake for whoever blocks on the count. */
static inline void fr_count_done(int *counter)
{
    fr_fetch_add(counter, 1);
    fr_notify(counter);
}

/* Mark the start of the caller's round (for the stall test of fr_wait_count). */
static inline void fr_round_mark(void) { fr_tl_round_ns = fr_now_ns(); }

/* Test hook (fr_pool.hold_ns): a helper that has just taken its first block or item
 * of a job sleeps, as one that lost its core would. */
static inline void fr_member_hold(void)
{
    if (fr_tl_hold) {
        fr_tl_hold = 0;
        fr_sleep_ns(fr_pool.hold_ns);
    }
}

/* Wait until *counter >= n: spin (for as long as the caller's own part of the round
 * took, at least FR_SPIN_NS, at most 1 ms: the others' parts are as long), then block.
 * Rank 0 of a team that waits much longer than its own part of the round took marks
 * the job solo (fr_team_solo). */
static inline void fr_wait_count(int *counter, int n)
{
    long long t0 = 0, t, own = 0, spin = FR_SPIN_NS;
    unsigned k = 0;
    int v;
    while ((v = fr_load(counter)) < n) {
        if ((++k & 63u) == 0) {
            t = fr_now_ns();
            if (!t0) {
                t0 = t;
                own = t0 - fr_tl_round_ns;
                spin = own < FR_SPIN_NS ? FR_SPIN_NS : own > 1000000 ? 1000000 : own;
            } else {
                if (fr_tl_rank == 0 && fr_tl_size > 1 && !fr_peek(&fr_pool.solo)
                        && t - t0 > 2 * own + fr_stall_ns)
                    fr_store(&fr_pool.solo, 1);
                if (t - t0 > spin) {
                    fr_fetch_add(&fr_pool.waiters, 1);
                    if (fr_load(counter) == v) fr_block(counter, v);
                    fr_fetch_add(&fr_pool.waiters, -1);
                    continue;
                }
            }
        }
        FR_PAUSE();
    }
}

/* ------------------------------------------------------------------ the choice */

#define FR_KINDS 8
#define FR_EXPLORE_FIRST 16   /* the first exploration: at the 16th call */
#define FR_EXPLORE_MIN 8
#define FR_EXPLORE_MAX 1024
#define FR_BUDGET 0.03        /* explorations may cost ~3 % of the time, by the estimates */
#define FR_RING 5            /* costs kept per mode: the estimate is their median */
#define FR_BURST 3           /* calls of the other mode per exploration */
#define FR_MARGIN 0.95       /* the team runs when it costs < 95 % of one thread */
#define FR_START 2           /* counted calls of each mode before the first choice */

typedef struct {
    double ring[2][FR_RING];  /* ns per step of recent calls: [0] one thread, [1] the team */
    int count[2], pos[2];
    int warm[2];              /* the mode's first call ran (not counted: a cold start) */
    long long key;            /* the shape the costs are for */
    long long calls, next_explore;
    int interval;
    int losses;               /* explorations lost in a row */
    int burst;                /* calls of the exploring burst still to run (0: none) */
    int mode;                 /* the mode the slot runs outside a burst (1: the team) */
    long long used;           /* when the slot was last looked up (fr_slot_clock) */
} fr_slot_t;

#define FR_WAYS 4            /* shapes remembered per kind and dtype */
static fr_slot_t fr_slots[2 * FR_KINDS * FR_WAYS];   /* [(kind * 2 + float64) * FR_WAYS] */
static long long fr_slot_clock = 0;
static FR_TLS fr_slot_t *fr_tl_slot = 0;        /* the slot of this thread's call */
static long long fr_team_calls[FR_KINDS];     /* calls that ran on the team (tests) */
static int fr_adaptive = 1;                    /* 0: every eligible call on the team */
static int fr_max_threads = 1;                 /* the thread setting (fastrnn._config) */

/* The median of a mode's recent costs (0: none yet). */
static inline double fr_estimate(const fr_slot_t *s, int m)
{
    double v[FR_RING], t;
    int n = s->count[m], i, j;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {              /* insertion sort of at most FR_RING */
        t = s->ring[m][i];
        for (j = i; j > 0 && v[j - 1] > t; j--) v[j] = v[j - 1];
        v[j] = t;
    }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The mode the measured costs favour (1: the team), with FR_MARGIN against it. */
static inline int fr_better(const fr_slot_t *s)
{
    double one = fr_estimate(s, 0), team = fr_estimate(s, 1);
    return team > 0 && one > 0 ? team < FR_MARGIN * one : s->mode;
}

/* The thread count for a call of `kind` (dtype `dbl`, shape `key`) that could run on
 * the team: fr_max_threads or 1. The slot runs the mode its recent costs favour (the
 * median of each mode's last FR_RING calls, the team only when clearly cheaper) and
 * now and then a burst of FR_BURST calls of the other one (fr_chosen sets when); a
 * burst's median ignores one call that lost its core. *t0 receives the start time for
 * fr_chosen (0 when the call is not eligible: nothing to measure). */
/* The slot of a kind, dtype and shape: one of FR_WAYS, so that a program alternating
 * a few shapes (training and evaluation batches) keeps the costs of each; a new shape
 * takes the way looked up least recently. */
static inline fr_slot_t *fr_slot(int kind, int dbl, long long key)
{
    fr_slot_t *set = &fr_slots[(2 * kind + (dbl != 0)) * FR_WAYS], *s = set;
    int w;
    for (w = 0; w < FR_WAYS; w++) {
        if (set[w].key == key) {
            s = &set[w];
            break;
        }
        if (set[w].used < s->used) s = &set[w];
    }
    if (s->key != key) {
        memset(s, 0, sizeof *s);
        s->key = key;
        s->interval = FR_EXPLORE_FIRST;
        s->next_explore = FR_EXPLORE_FIRST;
        s->mode = 1;                              /* the team first, then one thread */
    }
    s->used = ++fr_slot_clock;
    return s;
}

static inline int fr_choose(int kind, int dbl, long long key, long long *t0)
{
    fr_slot_t *s;
    int team;
    *t0 = 0;
    if (fr_max_threads < 2) return 1;
    s = fr_tl_slot = fr_slot(kind, dbl, key);
    s->calls++;
    if (!fr_adaptive) team = 1;
    else if (s->count[0] < FR_START || s->count[1] < FR_START)
        team = s->count[1] <= s->count[0];     /* the start: the modes in turn */
    else {
        if (!s->burst && s->calls >= s->next_explore) s->burst = FR_BURST;
        team = s->burst ? !s->mode : s->mode;
    }
    *t0 = fr_now_ns();
    if (team) fr_team_calls[kind]++;
    return team ? fr_max_threads : 1;
}

/* Record the cost per step of a call begun by fr_choose (n: the count it returned;
 * work: its steps; a mode's first call in a slot is not counted: a cold start). At the
 * end of a burst, keep the mode the costs now favour and set the next burst so that
 * bursts cost about FR_BUDGET of the time by the estimates (a burst of the other mode
 * costs FR_BURST calls times its extra cost: the closer the two, the sooner; a mode
 * that looked worse only because of a passing load is tried again soon), twice as late
 * for each burst lost in a row (estimates can mislead), within [8, 1024] calls. */
static inline void fr_chosen(int kind, int dbl, int n, long long t0, double work)
{
    fr_slot_t *s = fr_tl_slot;                   /* set by this thread's fr_choose */
    int m = n > 1, won, k;
    double gap, calls;
    (void)kind;
    (void)dbl;
    if (!t0 || work <= 0 || !s) return;
    if (!s->warm[m]) {                           /* cold caches, a new thread: skip */
        s->warm[m] = 1;
        return;
    }
    s->ring[m][s->pos[m]] = (double)(fr_now_ns() - t0) / work;
    s->pos[m] = (s->pos[m] + 1) % FR_RING;
    if (s->count[m] < FR_RING) s->count[m]++;
    if (s->count[0] < FR_START || s->count[1] < FR_START) return;
    if (s->burst && --s->burst == 0) {
        won = fr_better(s) != s->mode;           /* the other mode won */
        s->mode = fr_better(s);
        s->losses = won ? 0 : (s->losses < 7 ? s->losses + 1 : 7);
        gap = fr_estimate(s, !s->mode) / fr_estimate(s, s->mode) - 1;
        calls = FR_BURST * (gap > 0 ? gap : 0) / FR_BUDGET;
        for (k = 0; k < s->losses && calls < FR_EXPLORE_MAX; k++) calls *= 2;
        s->interval = calls < FR_EXPLORE_MIN ? FR_EXPLORE_MIN :
                      calls > FR_EXPLORE_MAX ? FR_EXPLORE_MAX : (int)calls;
        s->next_explore = s->calls + s->interval;
    } else if (!s->burst) {
        s->mode = fr_better(s);
    }
}

/* ------------------------------------------------------------------- the BLAS */

typedef int (*fr_get_fn)(void);
typedef void (*fr_set_fn)(int);
static fr_get_fn fr_blas_get_fn = 0;           /* one pair per extension module */
static fr_set_fn fr_blas_set_fn = 0;

static inline void fr_set_blas_thread_functions(size_t get_address, size_t set_address)
{
    fr_blas_get_fn = (fr_get_fn)get_address;
    fr_blas_set_fn = (fr_set_fn)set_address;
}

/* A kernel call begins: SciPy's BLAS at one thread for the call (returns the count to
 * restore), and no stall seen in it yet. */
static inline int fr_blas_begin(void)
{
    int n = fr_blas_get_fn ? fr_blas_get_fn() : 1;
    fr_tl_stalled = 0;
    if (n > 1 && fr_blas_set_fn) fr_blas_set_fn(1);
    return n;
}

static inline void fr_blas_end(int n)
{
    if (n > 1 && fr_blas_set_fn) fr_blas_set_fn(n);
}

#endif
