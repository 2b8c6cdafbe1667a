"""Where the report's designs are evaluated: a local process pool, or a Dask distributed cluster.

Both run the same stage functions (:func:`l1bn.report.stages.evaluate`) and leave the same
results in the client's stage cache:

* :class:`ProcessPool` (``--jobs N``, the default): ``N`` worker processes on this machine,
  evaluating into the cache directly.
* :class:`DaskCluster` (``--scheduler tcp://HOST:PORT``): an existing ``distributed`` cluster.
  A worker evaluates a design in a scratch directory of its own and returns the stage files it
  cached; the client writes them into its cache and reads the design's results from there, so
  workers need no shared disk. A worker's tool versions must equal the client's (checked: the
  cache is keyed by them).

:meth:`Executor.evaluate` yields ``(index, result)`` as designs complete; a design whose
evaluation raised yields the exception instead of a result.
"""

import concurrent.futures
import multiprocessing
import re
import tempfile
from pathlib import Path

from l1bn.util.files import write_text

from .cache import design_dir, tool_versions, warm
from .stages import evaluate

__all__ = ["Executor", "ProcessPool", "DaskCluster", "SchedulerError", "executor",
           "remote_stage_files"]


class SchedulerError(Exception):
    """The scheduler address is malformed or no scheduler answers there."""


class Executor:
    """Evaluates designs ``[(block, params, stages[, synth])]`` (the arguments of
    :func:`l1bn.report.stages.evaluate`) into the stage cache ``cache_root``; ``where`` says
    where, for the reports' headers."""

    where = ""

    def evaluate(self, designs, cache_root, versions):
        raise NotImplementedError

    def run(self, designs, cache_root, versions, progress=None):
        """The results of every design, in the order of ``designs``, then :meth:`close`. A
        design whose evaluation raised gets ``{"name", "block", "params", "latency": "?",
        "error"}`` (one broken design must not hide the others' figures);
        ``progress(done, result)`` is called as each completes."""
        results = [None] * len(designs)
        with self:
            for n, (k, res) in enumerate(self.evaluate(designs, cache_root, versions), 1):
                if isinstance(res, Exception):
                    block, params = designs[k][:2]
                    res = {"name": f"{block} {params}", "block": block, "params": params,
                           "latency": "?", "error": f"{type(res).__name__}: {res}"}
                results[k] = res
                if progress is not None:
                    progress(n, res)
        return results

    def close(self):
        """Release the workers (or the connection)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ProcessPool(Executor):
    """``jobs`` local processes (:class:`concurrent.futures.ProcessPoolExecutor`), forked when
    the first design is submitted: they run with this process's modules and environment as
    they are then (on every Python version)."""

    def __init__(self, jobs):
        self.where = f"{jobs} jobs"
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("fork"))

    def evaluate(self, designs, cache_root, versions):
        warm(designs)
        futures = {self._pool.submit(evaluate, d[0], d[1], cache_root, versions, *d[2:]): i
                   for i, d in enumerate(designs)}
        for fut in concurrent.futures.as_completed(futures):
            exc = fut.exception()
            yield futures[fut], exc if exc is not None else fut.result()

    def close(self):
        self._pool.shutdown()


#: Files of a design's directory a stage result refers to (OpenSTA reads the mapped netlists).
_KEPT = "osu018*/netlist.v"
#: Stands for the design's directory in the stage files a worker returns.
_HERE = "<design directory>"


def remote_stage_files(block, params, versions, stages, synth=None):
    """On a worker: evaluate one design in a scratch cache and return ``{path: text}`` of the
    stage files it cached and the files they refer to (:data:`_KEPT`), paths relative to the
    design's directory, that directory written as :data:`_HERE` in the stage files.

    Raises
    ------
    RuntimeError
        When the worker's tool versions differ from the client's ``versions``.
    """
    mine = tool_versions()
    if mine != versions:
        diff = sorted(k for k in set(mine) | set(versions) if mine.get(k) != versions.get(k))
        raise RuntimeError(f"this worker's tool versions differ from the client's: "
                           f"{', '.join(diff)}")
    with tempfile.TemporaryDirectory(prefix="l1bn-worker-") as root:
        evaluate(block, params, Path(root), versions, stages, synth)
        work, _manifest = design_dir(block, params, Path(root), versions)
        files = {f"stages/{p.name}": p.read_text().replace(str(work), _HERE)
                 for p in sorted((work / "stages").glob("*.json"))}
        for path in sorted(work.glob(_KEPT)):
            files[path.relative_to(work).as_posix()] = path.read_text()
        return files


class DaskCluster(Executor):
    """An existing Dask distributed cluster: its scheduler at ``address`` (``tcp://HOST:PORT``
    or ``tls://``). :class:`SchedulerError` for a malformed address or when no scheduler
    answers within ``timeout`` seconds."""

    def __init__(self, address, *, timeout=10):
        import distributed
        if not isinstance(address, str) or not re.fullmatch(r"(tcp|tls)://[^\s:/]+:\d+", address):
            raise SchedulerError(f"a scheduler address is tcp://HOST:PORT, got {address!r}")
        self.where = f"the Dask cluster at {address}"
        try:
            self.client = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"no Dask scheduler answered at {address} within {timeout} s "
                                 f"({type(exc).__name__})") from None

    def evaluate(self, designs, cache_root, versions):
        import distributed
        futures = {self.client.submit(remote_stage_files, d[0], d[1], versions, *d[2:],
                                      pure=False): i
                   for i, d in enumerate(designs)}
        for fut in distributed.as_completed(futures):
            i = futures[fut]
            block, params, *rest = designs[i]
            try:
                files = fut.result()
                work, _manifest = design_dir(block, params, cache_root, versions)
                for name, text in files.items():
                    (work / name).parent.mkdir(parents=True, exist_ok=True)
                    write_text(work / name, text.replace(_HERE, str(work)))
                # Every stage is cached now: this reads them (and computes a failed one here).
                yield i, evaluate(block, params, cache_root, versions, *rest)
            except Exception as exc:  # reported by run(), with the others' figures
                yield i, exc

    def close(self):
        self.client.close()


def executor(jobs=2, scheduler=None):
    """:class:`DaskCluster` at ``scheduler`` when given, else :class:`ProcessPool` of ``jobs``."""
    return DaskCluster(scheduler) if scheduler else ProcessPool(jobs)
