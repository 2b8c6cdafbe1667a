"""The inference-only BN unit: per-channel constants in a memory, P centred lanes.

Bit for bit :func:`l1bn.golden.bn_forward.apply_constants` on the constants the host computed
with :func:`l1bn.golden.bn_forward.infer_constants` and loaded as
:func:`l1bn.golden.bn_forward.lane_codes`: ``y`` equals the forward unit's inference output
(:func:`l1bn.golden.bn_forward.forward_infer`) and keeps its bound against float64 (at most
1 LSB on every input). The constants carry the norm: one unit serves L1BN and L2BN.
"""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from l1bn.golden.centred_scale import formats, shift_cap
from l1bn.golden.fixed import check_int, clog2

from .block import BlockSpec, Int
from .centred_scale import CentredScale, lane_parameters
from .registers import delay
from .store import Store

__all__ = ["BNInfer", "AREA_GROUPS"]

#: Multipliers per lane product (:class:`~l1bn.hdl.centred_scale.CentredScale`'s ``tiles``): two
#: slice products summed a stage later, for the inference unit's shorter clock period.
LANE_TILES = 2
#: Submodule instance-name prefixes of each part of the unit (for area reports).
AREA_GROUPS = {"constants": ("constants",), "datapath": ("lane",)}


class BNInfer(wiring.Component):
    """Inference-only batch normalization: ``y = a*(x - mu_F) + b'`` per channel, P lanes.

    Parameters
    ----------
    width, frac : data format ``Q(width, frac)`` of x and y
    guard : fraction bits G of the bias below the data's (as the forward unit's)
    mant_width : bits of the gain's mantissa (None: 18 up to width 16, else width + 2)
    lanes : values per beat, P (1..64)
    channels : channels whose constants the unit holds, C (1..4096)

    Ports
    -----
    coef : ``In(stream.Signature(...))``, payload ``{channel, mu_f, mant, shift, neg, bias}``
        Loads the constants of ``channel`` (lane port codes of
        :func:`l1bn.golden.bn_forward.lane_codes`: ``mu_f`` W+1 bits signed, ``mant`` MW bits,
        ``shift`` the lane's shift port, ``neg``, ``bias`` W+2+G bits signed). Always ready.
        ``x`` beats taken from the cycle after the load use the new constants. A channel not
        below C is ignored and sets ``err``.
    x : ``In(stream.Signature(...))``, payload ``{data: ArrayLayout(signed(W), P), channel,
        last}``
        Lane ``i`` holds a value of ``channel``; beats of any channels in any order; ``last``
        is passed through to ``y``.
    y : ``Out(stream.Signature(...))``, payload ``{data: ArrayLayout(signed(W), P), sat: P
        bits, last}``
        One beat per ``x`` beat, in order; ``sat`` flags saturated lanes. A beat whose channel
        is not below C gives zeros and sets ``err``; a channel never loaded has undefined
        constants (0 on an FPGA after configuration).
    err : ``Out(1)``
        Sticky: a channel index not below C was seen on ``coef`` or ``x``; cleared by reset
        only (always 0 when C is a power of two).

    Latency ``LATENCY = 9`` cycles from an ``x`` beat to its ``y`` beat (the constants' read,
    the centring, :class:`~l1bn.hdl.centred_scale.CentredScale`); throughput one beat per cycle.
    Backpressure: a global stall ``en = ~y.valid | y.ready``; ``x.ready = en``.
    """

    def __init__(self, *, width=16, frac=8, guard=8, mant_width=None, lanes=4, channels=32):
        try:
            self.width, self.frac, self.guard, self.mant_width = lane_parameters(
                width, frac, guard, mant_width)
            self.lanes = check_int("lanes", lanes, 1, 64)
            self.channels = check_int("channels", channels, 1, 4096)
        except ValueError:
            self._MustUse__silence = True
            raise
        W, P = self.width, self.lanes
        self.LATENCY = 2 + CentredScale.LATENCY
        self._lane = dict(width=W, frac=frac, guard=guard, mant_width=self.mant_width,
                          tiles=LANE_TILES)
        cap = shift_cap(W, self.guard, self.mant_width)
        lane_fmts = formats(W, frac, guard, self.mant_width)
        self.formats = {"x": lane_fmts["y"], **lane_fmts}
        #: Multiplier instances: one per lane, none per channel (the host computes the constants).
        self.MULTIPLIERS = {"per_lane": LANE_TILES, "lanes": P, "scalar": 0}
        cbits = max(1, clog2(self.channels))
        #: The constants of one channel, as the memory holds them.
        self.const_layout = data.StructLayout({
            "mu_f": signed(W + 1), "mant": unsigned(self.mant_width),
            "shift": unsigned(cap.bit_length()), "neg": 1, "bias": signed(W + 2 + guard)})
        self.coef_layout = data.StructLayout({"channel": unsigned(cbits),
                                              **{n: f.shape for n, f in self.const_layout}})
        self.x_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                           "channel": unsigned(cbits), "last": 1})
        self.y_layout = data.StructLayout({"data": data.ArrayLayout(signed(W), P),
                                           "sat": unsigned(P), "last": 1})
        super().__init__({
            "coef": In(stream.Signature(self.coef_layout)),
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "err": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        P, C = self.lanes, self.channels
        m.submodules.constants = store = Store(self.const_layout, C)
        en = Signal()
        m.d.comb += [en.eq(~self.y.valid | self.y.ready), self.x.ready.eq(en),
                     self.coef.ready.eq(1)]
        cp, xp = self.coef.payload, self.x.payload
        load_ok, x_ok = cp.channel < C, xp.channel < C
        m.d.comb += [store.w_addr.eq(cp.channel),
                     store.w_data.eq(cp.as_value()[len(cp.channel):]),
                     store.w_en.eq(self.coef.valid & load_ok),
                     store.r_addr.eq(xp.channel), store.r_en.eq(en)]
        with m.If((self.coef.valid & ~load_ok) | (self.x.valid & en & ~x_ok)):
            m.d.sync += self.err.eq(1)
        # Stage A: the beat beside the constants' read; stage B: centred values and constants.
        xa = [Signal(signed(self.width), name=f"xa{i}") for i in range(P)]
        xd = [Signal(signed(self.width + 1), name=f"d{i}") for i in range(P)]
        kb = {k: Signal.like(getattr(store.r_data, k), name=f"k_{k}")
              for k in ("mant", "shift", "neg", "bias")}
        va, oka = Signal(name="va"), Signal(name="oka")
        with m.If(en):
            m.d.sync += [va.eq(self.x.valid), oka.eq(x_ok)]
            m.d.sync += [v.eq(getattr(store.r_data, k)) for k, v in kb.items()]
            m.d.sync += [xa[i].eq(xp.data[i]) for i in range(P)]
            m.d.sync += [xd[i].eq(xa[i] - store.r_data.mu_f) for i in range(P)]
        lat = CentredScale.LATENCY
        valid = delay(m, va, lat + 1, en, "yv")
        last = delay(m, delay(m, xp.last, 1, en, "la"), lat + 1, en, "yl")
        ok = delay(m, oka, lat + 1, en, "yok")
        m.d.comb += [self.y.valid.eq(valid), self.y.payload.last.eq(last)]
        for i in range(P):
            lane = CentredScale(**self._lane)
            m.submodules[f"lane{i}"] = lane
            m.d.comb += [lane.en.eq(en), lane.d.eq(xd[i]), lane.mant.eq(kb["mant"]),
                         lane.shift.eq(kb["shift"]), lane.neg.eq(kb["neg"]),
                         lane.bias.eq(kb["bias"]),
                         self.y.payload.data[i].eq(Mux(ok, lane.y, 0)),
                         self.y.payload.sat[i].eq(ok & lane.sat)]
        return m


BLOCK = BlockSpec(BNInfer, ("width", "frac", "lanes", "channels", "guard", "mant_width"),
                  defaults={"width": 16, "frac": 8, "lanes": 4, "channels": 32, "guard": 8,
                            "mant_width": None},
                  bounds={"channels": Int(1, 4096), "mant_width": Int(("width", 2), 96)},
                  summary="inference-only BN unit: per-channel constants loaded at run time "
                          "into a memory, P centred lanes y = a*(x - mu_F) + b' (both norms)")
