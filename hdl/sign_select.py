"""The per-element backward term ``k*sgn(xhat) - c`` (L1BN, no multiplier) or ``xhat*k`` (L2BN)."""

from amaranth import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.fixed import check_int
from l1bn.golden.sign_select import formats

from .block import BlockSpec
from .multiplier import Multiplier, check_stages
from .round_sat import round_saturate

__all__ = ["SignSelect"]


class SignSelect(wiring.Component):
    """Per-element term of the batch-norm backward that carries the channel constant ``k``.

    With ``k = mean(g * xhat)`` per channel (:func:`l1bn.golden.reference.backward`):

    * ``norm="l1"``: ``term = k*sgn(xhat) - c``, where ``c = k*mean(sgn(xhat))`` is a per-channel
      input. ``k*sgn`` is a select of ``k``, ``-k`` or 0; one subtraction follows. No multiplier,
      nothing rounded; one register (``LATENCY = 1``).
    * ``norm="l2"``: ``term = xhat * k`` on a pipelined :class:`~l1bn.hdl.multiplier.Multiplier`, then
      one stage that rounds the product to ``frac`` fraction bits (``half_up``) and saturates
      (``LATENCY = stages + 1``, 3 by default).

    Both saturate ``term`` and raise ``sat`` when they do. Bit for bit as
    :func:`l1bn.golden.sign_select.term_l1` / :func:`l1bn.golden.sign_select.term_l2`.

    Parameters
    ----------
    norm : ``"l1"`` or ``"l2"``
    width, frac : int
        ``xhat``, ``k``, ``c`` and ``term`` are all ``Q(width, frac)``; ``width >= 2``,
        ``0 <= frac <= width``.
    stages : int
        Pipeline stages of the l2 multiplier, 1 or 2 (default 2). Checked but unused for l1.

    Members
    -------
    en : ``In(1)``
        Clock enable: every pipeline register loads only when ``en`` is high.
    sgn : ``In(signed(2))`` (l1 only)
        ``sgn(xhat)``: -1, 0 or +1 (the code -2 acts as -1), as :class:`~l1bn.hdl.abs_sign.AbsSign`
        produces it.
    xhat : ``In(signed(width))`` (l2 only)
        The normalized value.
    k : ``In(signed(width))``
        The channel constant ``mean(g * xhat)``.
    c : ``In(signed(width))`` (l1 only)
        The channel constant ``k * mean(sgn(xhat))``.
    term : ``Out(signed(width))``
        The term, saturated to ``Q(width, frac)``.
    sat : ``Out(1)``
        1 when ``term`` was clamped.

    Latency: ``LATENCY`` enabled cycles as above; throughput one term per cycle.
    """

    def __init__(self, *, norm, width, frac, stages=2):
        check_int("width", width, 2)
        check_stages(stages)
        self.formats = formats(norm, width, frac)
        self.norm, self.width, self.frac, self.stages = norm, width, frac, stages
        ports = {"en": In(1)}
        if norm == "l1":
            self.multiplier = None
            self.LATENCY = 1
            ports.update(sgn=In(signed(2)), k=In(signed(width)), c=In(signed(width)))
        else:
            self.multiplier = Multiplier(a_width=width, b_width=width, stages=stages)
            self.LATENCY = self.multiplier.LATENCY + 1
            ports.update(xhat=In(signed(width)), k=In(signed(width)))
        ports.update(term=Out(signed(width)), sat=Out(1))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self.norm == "l1":
            # sgn = 01: k; 11 (and 10): -k; 00: 0.
            selected = Mux(self.sgn[1], -self.k, Mux(self.sgn[0], self.k, 0))
            exact = selected - self.c
        else:
            m.submodules.multiplier = mul = self.multiplier
            m.d.comb += [mul.en.eq(self.en), mul.a.eq(self.xhat), mul.b.eq(self.k)]
            exact = mul.p
        term, sat = round_saturate(exact, 0 if self.norm == "l1" else self.frac,
                                   self.formats["term"])
        with m.If(self.en):
            m.d.sync += [self.term.eq(term), self.sat.eq(sat)]
        return m


BLOCK = BlockSpec(SignSelect, ("norm", "width", "frac", "stages"),
                  defaults={"width": 16, "frac": 8, "stages": 2},
                  summary="backward term: k*sgn - c by select and subtract (l1) or xhat*k on the "
                          "pipelined multiplier, rounded half-up (l2); saturated with a flag")
