"""AXI4-Stream ports for any block: ``l1bn generate --interface axis``.

:class:`AxiStream` wraps a block whose streams are :class:`amaranth.lib.stream.Signature`
members and renames them as IP integrators infer AXI4-Stream interfaces (AMBA naming):

* an input stream ``<name>`` becomes ``s_axis_<name>_tdata/_tuser/_tlast/_tvalid/_tready``, an
  output stream ``m_axis_<name>_...``;
* ``tdata`` holds the numbers, byte-aligned: a payload's ``data`` lane array as one lane per
  ``B = ceil(W/8)`` bytes (lane ``i`` at bytes ``[i*B, (i+1)*B)``), or the multi-bit fields of
  a descriptor, each at a byte offset of its own (in layout order, lowest first), every value
  two's complement (signed) or zero-extended (unsigned) to whole bytes; on an input the bits
  above a value's width are ignored;
* ``tuser`` holds the rest (flags: a data stream's other fields, such as ``sat`` and
  ``channel``; a descriptor's 1-bit fields and enums such as ``mode``), lowest field first;
* ``tlast`` is the payload's ``last`` field; a payload without one has no ``tlast``;
* ``aclk`` (rising edge) and ``aresetn`` (active low, synchronous) replace ``clk`` and ``rst``;
  other ports keep their names.

The manifest describes every ``tdata`` and ``tuser`` field (bit offset, width, signedness,
encodings); the block's latency and schedule are unchanged (the wrapper is wires only).
"""

from amaranth import (Cat, ClockDomain, ClockSignal, Module, ResetSignal, Shape, Signal, Value,
                      signed, unsigned)
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiStream", "INTERFACES", "CLOCK", "RESET", "split_payload"]

#: The interfaces ``l1bn generate --interface`` offers.
INTERFACES = ("stream", "axis")
#: The clock and reset of an AXI4-Stream design (the manifest's ``clock`` and ``reset``).
CLOCK = {"port": "aclk", "edge": "rising"}
RESET = {"port": "aresetn", "kind": "synchronous", "active": "low",
         "effect": "every register to its initial value; sticky flags cleared"}
#: Attributes of the wrapped block the manifest reads, passed through.
_PASSED = ("LATENCY", "CYCLES_PER_RESULT", "formats", "MULTIPLIERS", "cfg")


def _bytes(shape):
    s = Shape.cast(shape)
    return (signed if s.signed else unsigned)(-(-s.width // 8) * 8)


def split_payload(layout):
    """``(tdata, tuser, last)`` of a stream payload ``layout``: the ``tdata`` and ``tuser``
    layouts (None when empty) and whether it has a ``last`` field."""
    fields = {name: f.shape for name, f in layout if name != "last"}
    lanes = fields.get("data")
    if isinstance(lanes, data.ArrayLayout):
        tdata = data.ArrayLayout(_bytes(lanes.elem_shape), lanes.length)
        user = {k: v for k, v in fields.items() if k != "data"}
    else:
        numbers = {k: v for k, v in fields.items() if Shape.cast(v).width > 1}
        tdata = data.StructLayout({k: _bytes(v) for k, v in numbers.items()}) if numbers else None
        user = {k: v for k, v in fields.items() if k not in numbers}
    return tdata, data.StructLayout(user) if user else None, "last" in dict(layout)


class AxiStream(wiring.Component):
    """``inner`` with AXI4-Stream ports (module docstring), ``aclk`` and ``aresetn``.

    Parameters
    ----------
    inner : wiring.Component
        A block in the ``sync`` domain; its stream members become AXI4-Stream interfaces.
    """

    def __init__(self, inner):
        self._inner = inner
        #: ``{stream name: (AXI prefix, tdata layout, tuser layout, has tlast)}``.
        self.streams = self._streams = {}
        members = {"aclk": In(1), "aresetn": In(1)}
        for name, member in inner.signature.members.items():
            if not (member.is_signature and isinstance(member.signature, stream.Signature)):
                members[name] = member
                continue
            flow = member.flow
            side = "s" if flow == In else "m"
            prefix = f"{side}_axis_{name}"
            tdata, tuser, last = split_payload(member.signature.members["payload"].shape)
            self._streams[name] = (prefix, tdata, tuser, last)
            if tdata is not None:
                members[f"{prefix}_tdata"] = flow(tdata)
            if tuser is not None:
                members[f"{prefix}_tuser"] = flow(tuser)
            if last:
                members[f"{prefix}_tlast"] = flow(1)
            members[f"{prefix}_tvalid"] = flow(1)
            members[f"{prefix}_tready"] = flow.flip()(1)
        for attr in _PASSED:
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))
        self.CLOCK, self.RESET = CLOCK, RESET
        self.__doc__ = type(inner).__doc__
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(self.aclk), ResetSignal("sync").eq(~self.aresetn)]
        m.submodules.core = inner = self._inner
        for name, (prefix, tdata, tuser, last) in self._streams.items():
            port = getattr(inner, name)
            incoming = inner.signature.members[name].flow == In
            pairs = [(port.valid, getattr(self, f"{prefix}_tvalid"))]
            if last:
                pairs.append((port.payload.last, getattr(self, f"{prefix}_tlast")))
            for layout, suffix in ((tdata, "tdata"), (tuser, "tuser")):
                if layout is None:
                    continue
                bus = getattr(self, f"{prefix}_{suffix}")
                if isinstance(layout, data.ArrayLayout):
                    pairs += [(port.payload.data[i], bus[i]) for i in range(layout.length)]
                else:
                    pairs += [(getattr(port.payload, k), getattr(bus, k)) for k, _f in layout]
            ready = getattr(self, f"{prefix}_tready")
            if incoming:
                m.d.comb += [inner_sig.eq(outer) for inner_sig, outer in pairs]
                m.d.comb += ready.eq(port.ready)
                # The extension bits are ignored; named "unused" (Verilator's lint convention).
                pad = [Value.cast(o)[len(Value.cast(i)):] for i, o in pairs
                       if len(Value.cast(o)) > len(Value.cast(i))]
                if pad:
                    unused = Signal(sum(len(p) for p in pad), name=f"{prefix}_unused",
                                    attrs={"keep": 1})
                    m.d.comb += unused.eq(Cat(*pad))
            else:
                m.d.comb += [outer.eq(inner_sig) for inner_sig, outer in pairs]
                m.d.comb += port.ready.eq(ready)
        for name, member in inner.signature.members.items():
            if name not in self._streams:
                port, outer = getattr(inner, name), getattr(self, name)
                m.d.comb += outer.eq(port) if member.flow == Out else port.eq(outer)
        return m
