"""Register helpers shared by the BN units: clock-enabled delay lines, per-context registers."""

from amaranth import Mux, Signal

__all__ = ["delay", "context_pair", "pick"]


def delay(m, sig, n, en, name):
    """``sig`` through ``n`` registers that load on ``en`` (named ``<name>_d1`` ...)."""
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i + 1}")
        with m.If(en):
            m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


def context_pair(shape, name):
    """Two registers of ``shape``, one per channel context (``<name>0``, ``<name>1``)."""
    return [Signal(shape, name=f"{name}{i}") for i in range(2)]


def pick(regs, sel):
    """The register of context ``sel`` (a 1-bit value) of a :func:`context_pair`."""
    return Mux(sel, regs[1], regs[0])
