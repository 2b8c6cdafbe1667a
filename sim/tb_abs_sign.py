"""cocotb testbench of :class:`hdl.abs_sign.AbsSign` against :func:`golden.abs_sign.abs_sign`."""

import cocotb

from golden.abs_sign import abs_sign
from golden.fixed import Fmt

from .harness import Bench, EnabledPipeline, load_config

#: The random test the report runs as its quick check of this block.
SMOKE_TEST = "random_values"


async def _check(dut, name, values, p_en=0.75):
    config = load_config()
    bench = Bench(dut, config, name)
    fmt = Fmt(config["manifest"]["parameters"]["width"], 0)
    await bench.reset({"en": 0, "d": 0})
    mag, sgn = abs_sign(values)
    expected = [{"mag": int(m), "sgn": int(s)} for m, s in zip(mag, sgn)]
    vectors = [{"d": int(v)} for v in values]
    junk = lambda rng: {"d": rng.randint(fmt.min_code, fmt.max_code)}  # noqa: E731
    await EnabledPipeline(bench, vectors, expected, config["manifest"]["latency"], junk, p_en).run()


def _fmt_rng():
    import random
    config = load_config()
    return Fmt(config["manifest"]["parameters"]["width"], 0), random.Random(config["seed"])


@cocotb.test()
async def random_values(dut):
    """Uniform random codes with random enable gaps (junk inputs while en is low)."""
    fmt, rng = _fmt_rng()
    n = load_config().get("random_values", 5000)
    await _check(dut, "random_values", [rng.randint(fmt.min_code, fmt.max_code) for _ in range(n)])


@cocotb.test()
async def corners(dut):
    """Zero, +-1, most negative, maximum, each repeated (all-equal runs) at full rate."""
    fmt, _ = _fmt_rng()
    values = []
    for v in (0, 1, -1, fmt.min_code, fmt.max_code, fmt.min_code + 1):
        values += [v] * 4
    await _check(dut, "corners", values, p_en=1.0)
