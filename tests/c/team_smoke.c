/* A smoke test of the kernels' thread pool (src_c/fastrnn/_team.h) on its own, for the
 * platforms the Python tests cannot reach here: .ci/run compiles it natively and for
 * Windows (mingw-w64) and runs the Windows build under wine when wine is there.
 *
 * Each job: every member adds its rank + 1 to a sum and counts itself in; rank 0 waits
 * (spinning, 1 s at most) until the helper has counted in; the helper then sleeps 2 ms
 * and counts a second time, which rank 0 waits for with fr_wait_count, so that it
 * spins, then blocks (futex / WaitOnAddress) and is woken by fr_count_done. After 100
 * jobs on two threads the helper must have joined nearly every job, the sums must add
 * up and the per-thread rank must read 0 outside jobs. Exit status 0 on success. */
#include <stdio.h>
#include "_team.h"

static int joined;          /* members of the current job that have counted in */
static int later;           /* the helper's second count, after its sleep */
static int sum;             /* sum of rank + 1 over every member of every job */

static void job(void *arg)
{
    int rank = fr_team_rank();
    long long t0;
    (void)arg;
    fr_fetch_add(&sum, rank + 1);
    fr_count_done(&joined);
    if (rank == 0) {
        t0 = fr_now_ns();
        while (fr_load(&joined) < 2 && fr_now_ns() - t0 < 1000000000LL)
            fr_cpu_pause();
        if (fr_load(&joined) >= 2)
            fr_wait_count(&later, 1);   /* spins 40 us, then blocks until woken */
    } else {
        fr_sleep_ns(2000000);
        fr_count_done(&later);
    }
}

int main(void)
{
    int k, helped = 0;
    fr_max_threads = 2;
    for (k = 0; k < 100; k++) {
        fr_store(&joined, 0);
        fr_store(&later, 0);
        fr_run(job, NULL, 2);
        helped += fr_load(&joined) >= 2 && fr_load(&later) == 1;
        if (fr_team_rank() != 0 || fr_team_size() != 1) {
            printf("rank/size not reset outside a job\n");
            return 1;
        }
    }
    printf("100 jobs, the helper joined %d; sum %d\n", helped, fr_load(&sum));
    if (helped < 95 || fr_load(&sum) != 100 + 2 * helped) return 1;
    return 0;
}
