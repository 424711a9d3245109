"""
Set-up shared by the PyTorch benchmark scripts (bench_train.py, bench_stack.py,
bench_generate.py): config overrides, the process environment torch must start
in, and resource readings.

Environment (prepare_torch, before torch is imported):
- glibc keeps freed memory in the heap (MALLOC_MMAP_MAX_=0, a huge
  MALLOC_TRIM_THRESHOLD_) unless --system-malloc: otherwise every big tensor
  (the 8 x 512 x 50257 training logits are 823 MB) is a fresh mmap, unmapped on
  free, and each step page-faults gigabytes back in; in this VM that costs up to
  a third of a step and makes it erratic.  glibc reads these variables at
  start-up, so the script re-executes itself once.
- OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS = --threads
  (OpenBLAS reads only its own variable; torch.set_num_threads does not reach it).
- OPENBLAS_CORETYPE=SkylakeX: Debian's OpenBLAS 0.3.21 misdetects this CPU.
- OMP_WAIT_POLICY=PASSIVE: torch's OpenMP workers otherwise spin after every op
  and take the cores from OpenBLAS's own threads (batch-1 passes 1.5-3x slower
  and erratic).  The last two can be overridden from the environment.
"""
import json
import os
import resource
import sys

sys.dont_write_bytecode = True


def parse_value(s):
    """--set values: JSON literals (true, 0.1, 256) or bare strings (conv_linformer)."""
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return s


def overrides(pairs):
    """['key=value', ...] (repeated --set) -> {key: parsed value}."""
    out = {}
    for kv in pairs:
        key, _, value = kv.partition("=")
        out[key] = parse_value(value)
    return out


def prepare_torch(threads, system_malloc=False):
    """Sets the environment above (re-executing the script if needed); -> torch, imported."""
    if not system_malloc and os.environ.get("MALLOC_MMAP_MAX_") != "0":
        os.environ.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_=str(1 << 40))
        os.execv(sys.executable, [sys.executable] + sys.argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    torch.set_num_threads(threads)
    return torch


def cpu_seconds():
    """User plus system CPU time of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mib():
    """This process's peak resident memory (VmHWM).  Unlike ru_maxrss, it does not
    start from the parent's size at fork, so a small script launched by a large
    JVM reports its own peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def environment():
    """What the JSON lines report about the set-up."""
    return {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "system_malloc": os.environ.get("MALLOC_MMAP_MAX_") != "0"}
