"""Time tinyalex against PyTorch on the same shapes, in one process, and check they agree.

    python benchmarks/compare_torch.py                       # the default cases, CPU, 2 threads
    python benchmarks/compare_torch.py --case conv --repeat 11 --no-memory
    python benchmarks/compare_torch.py --list                # every case, with its target
    python benchmarks/compare_torch.py --device cuda:0       # CuPy against PyTorch CUDA
    python benchmarks/compare_torch.py --markdown            # the table as markdown (README)

How it measures (PyTorch, ``pip install '.[bench]'``, is optional: without it only tinyalex's
times are printed):

* Same inputs (one seeded NumPy generator), float32, NCHW, same hyper-parameters on both sides:
  PyTorch's ``local_response_norm`` divides alpha by n, so it gets ``alpha = n * alpha_paper``;
  max pooling uses the same size and stride and floor mode; the upstream gradient ``dout`` is
  the same random array on both sides (not ones, which would hide routing bugs). tinyalex's
  convolution, pooling and LRN get a ``Workspace``, as the layers pass one (``--no-workspace``
  times them without).
* Threads: both libraries get ``--threads`` (2) threads (tinyalex: OpenBLAS's for its products,
  and its own for the element-wise work and the small products, ``tinyalex.threads``). The
  variables below are set *before* numpy or torch is imported, because both read them once at
  load time. On a 2-core laptop the two thread pools otherwise take turns spinning on the cores
  while the other library works:
  ``OMP_WAIT_POLICY=PASSIVE`` makes PyTorch's OpenMP threads sleep as soon as a parallel region
  ends, and ``OPENBLAS_THREAD_TIMEOUT=16`` makes NumPy's OpenBLAS threads spin 2**16 cycles
  (about 25 us) before they sleep: the value is log2 of the spin in CPU cycles, clamped to 4..30,
  and OpenBLAS's default, 28 (about 0.1 s), keeps a core busy long after every NumPy product,
  which halved PyTorch's speed in the next measurement here. Much shorter spins (4) were as
  fast on a quiet machine, but let OpenBLAS's threads fall asleep in the middle of a product:
  when other programs kept the cores busy, the long-K product of a convolution's weight
  gradient then took 20 times longer.
* Interleaved: each repetition times tinyalex, then PyTorch (the order flips every repetition,
  so neither always runs on a warm cache), for forward, backward (PyTorch:
  ``torch.autograd.grad`` with ``retain_graph=True``, so no ``.grad`` accumulation is timed) and
  a whole step, forward then backward. The table shows the median of ``--repeat`` repetitions
  after ``--warmup`` ones, and the ratio tinyalex / PyTorch: below 1 tinyalex is faster.
  ``--block N`` runs each side N times in a row per repetition and times all but the first:
  each side then runs as it would alone, on the memory its own last call freed (see below).
* One case, one process: each case is timed in a fresh interpreter (both sides in it), so its
  figures do not depend on the cases run before it. With every case in one process, the
  Figure-1 ReLU step measured 1.28-1.32 in three runs after the op cases, and 1.03-1.17 in
  three runs of the step cases alone: what the earlier cases leave behind (glibc's heap among
  it, grown and cut back around the linear case's 150 MB arrays) changes how fresh each
  side's memory is. Within a case the two sides still share one heap. Alternating Figure-1
  ReLU steps, PyTorch's reused memory that tinyalex's step had just freed: 29-30 MB of fresh
  pages instead of the 48-54 MB it met alone, and 50-52 ms instead of 52-57; tinyalex's step
  met 6-7 MB instead of none, and took 63 ms instead of 54-59 (two runs). ``--block`` shows
  each side on its own memory.
  Compare ratios from one run, and repeat a run before believing a change: other programs on
  the machine slow the two libraries unevenly (by up to 50x for OpenBLAS's products when a core
  is taken from under its threads), so the table ends with how many cores they kept busy.
* Peak memory: each case and side runs in a fresh subprocess (no other case's arrays around)
  that builds the inputs, runs one warm-up step (one-off caches and thread pools land in the
  baseline), frees the step's results and empties tinyalex's workspace (so its buffers count
  as the step's memory), and then measures one more step: on the CPU the rise of
  the resident set (Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``, minus
  ``VmRSS`` before the step), with glibc told (``MALLOC_MMAP_THRESHOLD_``) to give every large
  block back to the system on ``free`` so that neither side's allocator hides or hoards pages;
  on a GPU the peak of bytes in use in each library's memory pool (CuPy: the pool's
  ``used_bytes`` after every allocation; PyTorch: ``max_memory_allocated``). So the column is
  "extra memory one step needs", the inputs not counted (nor, for a model's SGD step, the
  weights and velocities, which live from one step to the next), measured the same way for both.
* Cross-check: after timing, the outputs and gradients of the two sides are compared: the
  largest absolute difference and that divided by the largest PyTorch value ("rel"); for a
  model's SGD step, the logits and the velocities after one step of two fresh copies with
  dropout off. A case whose rel exceeds ``--tolerance`` is marked MISMATCH and the script exits
  with status 1, so the benchmark doubles as a test against an independent implementation.

The cases are in ``cases.py`` (the ops) and ``steps.py`` (whole SGD steps of the Figure-1 net
and AlexNet, with the same network and update rule on the PyTorch side). Adding one takes a few
lines: a ``Case`` with a function that makes the inputs and one function per side that returns
a ``Side``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cases
from cases import Case, Side
from steps import step_cases

REPO = Path(__file__).resolve().parents[1]


def thread_environment(threads: int, openblas_timeout: int) -> dict:
    """The variables that fix both libraries' thread pools; set before either is imported."""
    n = str(threads)
    return {
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "TINYALEX_THREADS": n,  # tinyalex's own: element-wise work, small products (tinyalex.threads)
        "OPENBLAS_THREAD_TIMEOUT": str(openblas_timeout),
        "OMP_WAIT_POLICY": "PASSIVE",
    }


# ----------------------------------------------------------------------------------------------
# Devices and timing


class Backend:
    """What the sides run on: the array module for tinyalex, the device string for PyTorch,
    and a ``sync()`` that waits for both libraries' queued GPU work (a no-op on the CPU)."""

    def __init__(self, device: str, with_torch: bool):
        from tinyalex.backend import Device

        self.device = Device(device)
        self.xp = self.device.xp
        self.torch_device = str(self.device)
        self.with_torch = with_torch
        if self.device.kind == "cuda":
            self.xp.cuda.Device(self.device.index).use()
            if with_torch:  # float32 on both sides: cuDNN would otherwise round to TF32
                import torch

                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False

    def sync(self):
        if self.device.kind != "cuda":
            return
        self.xp.cuda.Device(self.device.index).synchronize()
        if self.with_torch:
            import torch

            torch.cuda.synchronize(self.torch_device)

    def build(self, case: Case, side: str, arrays: dict, **options) -> Side:
        if side == "tinyalex":
            return case.tinyalex(arrays, self.device, **options)
        return case.torch(arrays, self.torch_device, **options)


def time_case(case: Case, sides: dict, backend: Backend, repeat: int, warmup: int,
              block: int = 1) -> dict:
    """``{(side, metric): median seconds}`` for metric in fwd, bwd, step; sides interleaved,
    ``block`` calls in a row each, the first of them untimed when ``block`` > 1."""
    metrics = ["fwd", "bwd", "step"] if case.split else ["step"]
    samples = {(s, m): [] for s in sides for m in metrics}
    names = list(sides)
    for r in range(warmup + repeat):
        order = names if r % 2 == 0 else names[::-1]
        for metric in metrics:
            for s in order:
                run = getattr(sides[s], "step" if metric == "step" else
                              "forward" if metric == "fwd" else "backward")
                for call in range(block):
                    backend.sync()
                    start = time.perf_counter()
                    result = run()
                    backend.sync()
                    elapsed = time.perf_counter() - start
                    del result
                    if r >= warmup and (call > 0 or block == 1):
                        samples[(s, metric)].append(elapsed)
    return {key: statistics.median(v) for key, v in samples.items()}


def compare(case: Case, sides: dict, backend: Backend, arrays: dict) -> tuple[float, float]:
    """Largest |tinyalex - torch| over all outputs and gradients, and that over max |torch|
    (a model step: over the logits and velocities of one step of two fresh sides, dropout off)."""
    import numpy as np

    from tinyalex.backend import to_numpy

    def as_numpy(values):
        return [a.detach().cpu().numpy() if hasattr(a, "detach") else to_numpy(a) for a in values]

    if not case.split:
        sides = {s: backend.build(case, s, arrays, check=True) for s in sides}
    ours = as_numpy(sides["tinyalex"].step())
    theirs = as_numpy(sides["torch"].step())
    worst_abs, worst_rel = 0.0, 0.0
    for a, b in zip(ours, theirs, strict=True):
        if a.shape != b.shape:
            return float("inf"), float("inf")
        diff = float(np.max(np.abs(a.astype(np.float64) - b)))
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(float(np.max(np.abs(b))), 1e-30))
    return worst_abs, worst_rel


# ----------------------------------------------------------------------------------------------
# Peak memory, one fresh process per case and side


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_peak(case: Case, side_name: str, backend: Backend, seed: int) -> int:
    """Extra bytes one step of ``side_name`` needs at its peak (see the module docstring)."""
    import numpy as np

    side = backend.build(case, side_name, case.inputs(np.random.default_rng(seed)))
    side.step()
    side.release()
    gc.collect()
    backend.sync()
    if backend.device.kind == "cuda":
        return _gpu_peak(side, side_name, backend)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM, the peak resident set, to the current VmRSS
    before = _status_kib("VmRSS")
    side.step()
    return (_status_kib("VmHWM") - before) * 1024


def _gpu_peak(side: Side, side_name: str, backend: Backend) -> int:
    if side_name == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats(backend.torch_device)
        before = torch.cuda.memory_allocated(backend.torch_device)
        side.step()
        backend.sync()
        return torch.cuda.max_memory_allocated(backend.torch_device) - before
    cupy = backend.xp
    pool = cupy.get_default_memory_pool()
    before = peak = pool.used_bytes()

    def tracking_malloc(size):  # the peak always follows an allocation
        nonlocal peak
        memory = pool.malloc(size)
        peak = max(peak, pool.used_bytes())
        return memory

    cupy.cuda.set_allocator(tracking_malloc)
    try:
        side.step()
        backend.sync()
    finally:
        cupy.cuda.set_allocator(pool.malloc)
    return peak - before


def in_subprocess(args, job: list, env=None) -> subprocess.CompletedProcess:
    """Run this script on ``job`` (``--time-of`` or ``--peak-of`` and its value) in a fresh
    interpreter, with the options that shape a measurement passed on."""
    command = [sys.executable, __file__, *job, "--device", args.device,
               "--threads", str(args.threads), "--seed", str(args.seed),
               "--openblas-timeout", str(args.openblas_timeout), "--repeat", str(args.repeat),
               "--warmup", str(args.warmup), "--block", str(args.block)]
    command += ["--no-workspace"] if args.no_workspace else []
    command += ["--no-torch"] if args.no_torch else []
    return subprocess.run(command, capture_output=True, text=True, env=env)


def _last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_in_subprocess(case_index: int, side: str, args) -> int | None:
    """Run ``measure_peak`` in a fresh interpreter; None if it fails (reported, not fatal)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    result = in_subprocess(args, ["--peak-of", f"{case_index}:{side}"], env)
    if result.returncode != 0:
        print(f"  (peak memory of {side} failed: {result.stderr.strip().splitlines()[-1:]})",
              file=sys.stderr)
        return None
    return _last_json(result)["peak_bytes"]


def time_in_subprocess(case_index: int, args) -> tuple[dict, tuple | None]:
    """``time_case`` and ``compare`` of one case in a fresh interpreter: the times and the
    cross-check's differences (None without PyTorch or for an unchecked case)."""
    result = in_subprocess(args, ["--time-of", str(case_index)])
    if result.returncode != 0:
        raise RuntimeError(f"timing case {case_index} failed:\n{result.stderr}")
    found = _last_json(result)
    times = {(side, metric): seconds for side, metric, seconds in found["times"]}
    return times, None if found["diff"] is None else tuple(found["diff"])


def measure(case: Case, backend: Backend, args, side_names: list) -> dict:
    """What ``time_in_subprocess`` reports, measured in this process (``--time-of``)."""
    import numpy as np

    arrays = case.inputs(np.random.default_rng(args.seed))
    sides = {s: backend.build(case, s, arrays) for s in side_names}
    times = time_case(case, sides, backend, args.repeat, args.warmup, args.block)
    diff = compare(case, sides, backend, arrays) if "torch" in sides and case.check else None
    return {"times": [[s, m, t] for (s, m), t in times.items()], "diff": diff}


class OtherPrograms:
    """How many cores other programs kept busy while the benchmark ran (Linux ``/proc/stat``
    minus this process's own CPU time): on a shared machine they slow the two libraries
    unevenly (PyTorch's and OpenBLAS's threads wait for each other, NumPy's own loops do not)."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        import resource

        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except OSError:
            return None
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait
        mine = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return time.monotonic(), busy, mine

    def report(self) -> str:
        end = self._sample()
        if self.start is None or end is None:
            return "(cannot tell how busy the machine was)"
        wall = end[0] - self.start[0]
        cores = max(0.0, (end[1] - self.start[1]) - (end[2] - self.start[2])) / wall
        verdict = "a quiet machine" if cores < 0.2 else "a busy machine: the ratios may mislead"
        return f"other programs kept {cores:.2f} cores busy on average during the run ({verdict})"


# ----------------------------------------------------------------------------------------------
# Output


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.1f}"


def _ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def _mb(nbytes):
    return "-" if nbytes is None else f"{nbytes / 2**20:.0f}"


COLUMNS = ["case", "fwd ms", "torch", "x", "bwd ms", "torch", "x", "fwd+bwd ms", "torch", "x",
           "target", "peak MB", "torch", "x", "max abs diff", "rel diff"]


def row(case: Case, target, times: dict, peaks: dict, diff) -> list[str]:
    def t(side, metric):
        return times.get((side, metric))

    cells = [case.name]
    for metric in ["fwd", "bwd", "step"]:
        cells += [_ms(t("tinyalex", metric)), _ms(t("torch", metric)),
                  _ratio(t("tinyalex", metric), t("torch", metric))]
    ratio = _ratio(t("tinyalex", "step"), t("torch", "step"))
    if target is None or ratio == "-":
        cells.append("-" if target is None else f"<= {target}")
    else:
        verdict = "ok" if float(ratio) <= target else "MISS"
        cells.append(f"<= {target} {verdict}")
    cells += [_mb(peaks.get("tinyalex")), _mb(peaks.get("torch")),
              _ratio(peaks.get("tinyalex"), peaks.get("torch"))]
    if diff is None:
        cells += ["-", "-"]
    else:
        cells += [f"{diff[0]:.1e}", f"{diff[1]:.1e}"]
    return cells


def print_markdown(rows: list[list[str]]):
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(COLUMNS))) + "|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def print_line(cells: list[str], name_width: int):
    """One row of the plain table, printed as soon as its case is done."""
    widths = [name_width] + [max(len(c), 7) for c in COLUMNS[1:]]
    widths[COLUMNS.index("target")] = 12
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths))), flush=True)


# ----------------------------------------------------------------------------------------------
# Main


def at_least(minimum: int):
    """An argparse ``type``: an int >= ``minimum`` (else a usage error, exit status 2)."""
    def parse(text: str) -> int:
        if re.fullmatch(r"-?[0-9]+", text) is None or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {text!r}")
        return int(text)
    return parse


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", default=[], metavar="TEXT",
                        help="run the cases whose name contains TEXT (repeatable; 'all' runs "
                             "every case; default: the cases marked default in --list)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--repeat", type=at_least(1), default=7,
                        help="timed repetitions (default 7)")
    parser.add_argument("--warmup", type=at_least(0), default=2,
                        help="untimed repetitions first (2)")
    parser.add_argument("--block", type=at_least(1), default=1,
                        help="calls of a side in a row per repetition, the first untimed "
                             "(default 1: the sides strictly alternate)")
    parser.add_argument("--threads", type=at_least(1), default=2,
                        help="threads per library (default 2)")
    parser.add_argument("--openblas-timeout", type=int, default=16, metavar="N",
                        help="OPENBLAS_THREAD_TIMEOUT: OpenBLAS threads spin 2**N cycles before "
                             "sleeping (4..30; default 16)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda:N (CuPy vs torch CUDA)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    parser.add_argument("--no-torch", action="store_true", help="time tinyalex alone")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--no-workspace", action="store_true",
                        help="call the tinyalex ops without a Workspace (their default)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest rel difference accepted in the cross-check (1e-4)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)  # "INDEX:SIDE", in a subprocess
    parser.add_argument("--time-of", type=int, help=argparse.SUPPRESS)  # INDEX, in a subprocess
    return parser


def select(cases: list[Case], patterns: list[str]) -> list[tuple[int, Case]]:
    indexed = list(enumerate(cases))
    if not patterns:
        return [(i, c) for i, c in indexed if c.default]
    if "all" in patterns:
        return indexed
    return [(i, c) for i, c in indexed if any(p in c.name for p in patterns)]


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    cases.USE_WORKSPACE = not args.no_workspace
    for name, value in thread_environment(args.threads, args.openblas_timeout).items():
        os.environ[name] = value
    sys.path.insert(0, str(REPO))  # time the tinyalex of this checkout

    import numpy as np

    every_case = cases.op_cases() + step_cases()
    if args.list:
        for i, c in enumerate(every_case):
            target = f"target <= {c.target}" if c.target else ""
            if c.gpu_target:
                target += f" (on a GPU <= {c.gpu_target})"
            print(f"{i:2}  {'default' if c.default else '       '}  {c.name:60} {target}")
        return 0
    unknown = [p for p in args.case if p != "all" and not select(every_case, [p])]
    if unknown:
        parser.error(f"argument --case: no case name contains {', '.join(map(repr, unknown))} "
                     "(--list shows every case)")

    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed (pip install '.[bench]'): timing tinyalex alone.")
            with_torch, args.no_torch = False, True  # the subprocesses need not look again
        else:
            torch.set_num_threads(args.threads)
    backend = Backend(args.device, with_torch)

    side_names = ["tinyalex", "torch"] if with_torch else ["tinyalex"]
    if args.peak_of:
        index, side = args.peak_of.split(":")
        print(json.dumps({"peak_bytes": measure_peak(every_case[int(index)], side, backend, args.seed)}))
        return 0
    if args.time_of is not None:
        print(json.dumps(measure(every_case[args.time_of], backend, args, side_names)))
        return 0

    versions = f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if with_torch else "")
    print(f"tinyalex vs PyTorch on {backend.device}, float32, {args.threads} threads, {versions}; "
          f"median of {args.repeat} after {args.warmup} warm-up"
          f"{f', in blocks of {args.block} calls' if args.block > 1 else ''}; "
          f"x = tinyalex / torch; peak MB = "
          f"extra memory of one step", flush=True)
    selected = select(every_case, args.case)
    name_width = max(len(c.name) for _, c in selected)
    if not args.markdown:
        print_line(COLUMNS, name_width)
    others = OtherPrograms()
    rows, mismatches = [], []
    for index, case in selected:
        times, diff = time_in_subprocess(index, args)
        peaks = {} if args.no_memory else {
            s: peak_in_subprocess(index, s, args) for s in side_names}
        rows.append(row(case, case.target_on(backend.device.kind), times, peaks, diff))
        if diff is not None and not diff[1] <= args.tolerance:
            mismatches.append(case.name)
        if not args.markdown:
            print_line(rows[-1], name_width)
    if args.markdown:
        print_markdown(rows)
    print(others.report())
    for name in mismatches:
        print(f"MISMATCH: {name}: tinyalex and PyTorch differ by more than {args.tolerance:g}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
