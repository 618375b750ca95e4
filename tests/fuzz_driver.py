"""Fuzz driver: thousands of hostile calls to the public API, counted by outcome.

Usage (from the checkout root)::

    python tests/fuzz_driver.py --calls 15000 --seed 0      # the issue's floor
    python tests/fuzz_driver.py --calls 2000 --seed 1234    # any seed

Call ``i`` is built from ``numpy.random.default_rng([seed, i])`` (tests/fuzzcalls.py), so
any call can be replayed alone (``--first i --calls 1 -v``). The calls run in a worker
subprocess: a worker that dies is a *crash* (the driver restarts one after that call), a
call that does not finish within ``--timeout`` seconds is a *hang* (killed, restarted).
Counts printed: ok, rejected (ValueError/TypeError naming a hostile argument), and the
failures crash, hang, garbage, other (exception types), unnamed, disagree: all must be 0.
Exit status 1 when one is not. tests/test_fuzz.py runs a CI slice of it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = ("crash", "hang", "garbage", "other", "unnamed", "disagree")


def worker(seed, first, last):
    """Run calls ``first..last-1``; print one JSON line per call (flushed)."""
    sys.path.insert(0, HERE)
    import fuzzcalls

    print(json.dumps({"ready": True}), flush=True)
    for i in range(first, last):
        print(json.dumps({"start": i}), flush=True)
        c = fuzzcalls.RngChooser([seed, i])
        label, fn, bad, dtype = fuzzcalls.build_call(c)
        status, detail = fuzzcalls.run_call(label, fn, bad, dtype)
        print(json.dumps({"i": i, "status": status, "label": label[:300],
                          "detail": detail[:500]}), flush=True)


def drive(calls, seed, first=0, timeout=60.0, verbose=False, out=sys.stdout):
    """Run the calls in worker subprocesses; return the Counter of outcomes and the list
    of failures ``(i, status, label, detail)``."""
    counts = collections.Counter()
    failures = []
    i, last = first, first + calls
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]))
    while i < last:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                                 "--seed", str(seed), "--first", str(i), "--calls",
                                 str(last - i)], stdout=subprocess.PIPE, env=env,
                                cwd=os.path.dirname(HERE), bufsize=0)
        fd = proc.stdout.fileno()
        buf = b""
        current = None
        deadline = time.monotonic() + max(timeout, 120.0)     # the first import
        while True:
            ready = eof = False
            while b"\n" not in buf:                  # unbuffered: select sees every byte
                ready = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]
                if not ready:
                    break
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    eof = True
                    break
                buf += chunk
            if b"\n" not in buf and not eof:          # hang: kill, skip this call
                proc.kill()
                proc.wait()
                counts["hang"] += 1
                failures.append((current, "hang", "", f"no answer within {timeout} s"))
                i = (current if current is not None else i) + 1
                break
            line, _, buf = buf.partition(b"\n") if not eof else (b"", b"", b"")
            if not line:                               # the worker died: a crash
                rc = proc.wait()
                if current is None or current >= last:
                    i = last
                    break
                counts["crash"] += 1
                failures.append((current, "crash", "", f"worker exit status {rc}"))
                i = current + 1
                break
            msg = json.loads(line)
            deadline = time.monotonic() + timeout
            if "start" in msg:
                current = msg["start"]
                continue
            if "i" not in msg:
                continue
            st = msg["status"]
            counts[st] += 1
            if st == "other":
                counts["other:" + msg["detail"].split(":")[0]] += 1
            if st in FAILURES:
                failures.append((msg["i"], st, msg["label"], msg["detail"]))
                if verbose:
                    print(f"[{msg['i']}] {st}: {msg['label']}\n    {msg['detail']}", file=out)
            current = None
            i = msg["i"] + 1
            if i >= last:
                proc.wait()
                break
    return counts, failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=15000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.seed, a.first, a.first + a.calls)
        return 0
    t0 = time.perf_counter()
    counts, failures = drive(a.calls, a.seed, a.first, a.timeout, a.verbose)
    total = sum(v for k, v in counts.items() if ":" not in k)
    print(f"seed {a.seed}: {total} calls in {time.perf_counter() - t0:.0f} s")
    for k in ("ok", "rejected") + FAILURES:
        print(f"  {k:9s} {counts[k]}")
    for k in sorted(k for k in counts if k.startswith("other:")):
        print(f"    {k} {counts[k]}")
    for f in failures[:20]:
        print(f"  [{f[0]}] {f[1]}: {f[2]}\n      {f[3]}")
    return 1 if any(counts[k] for k in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
