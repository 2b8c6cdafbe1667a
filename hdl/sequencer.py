"""Handshake and step counter of the multi-cycle stream units (:mod:`l1bn.hdl.isqrt`, :mod:`l1bn.hdl.divider`)."""

from amaranth import Signal

__all__ = ["sequence"]


def sequence(m, i, o, steps):
    """Add the control of a unit that works ``steps`` cycles after taking an input; return signals.

    The unit takes an input on ``i`` (the *load* cycle), then is busy for ``steps`` cycles; at the
    edge that ends the last busy cycle (or the load edge if ``steps == 0``) it raises ``o.valid``,
    which stays high until ``o`` is taken. ``i.ready = ~busy & (~o.valid | o.ready)``: a new input
    is taken in the very cycle the previous result is taken, so with ``o.ready`` high the unit
    takes one input every ``steps + 1`` cycles, and ``o.valid`` rises ``LATENCY = steps + 1``
    cycles after the input handshake.

    Parameters
    ----------
    m : Module
    i, o : stream interfaces (``i`` flipped, ``o`` driven by the unit)
        The unit drives ``i.ready`` and ``o.valid`` through this function; it drives ``o.payload``.
    steps : int
        Busy cycles, ``>= 0``.

    Returns
    -------
    load, busy, last : Value
        ``load``: the input handshake happens at this cycle's edge. ``busy``: a busy cycle.
        ``last``: the last busy cycle (``o.valid`` rises at its edge).
    """
    busy = Signal()
    count = Signal(range(max(steps, 1)))   # busy cycles done
    load, last = Signal(), Signal()
    m.d.comb += [
        i.ready.eq(~busy & (~o.valid | o.ready)),
        load.eq(i.valid & i.ready),
        last.eq(busy & (count == max(steps - 1, 0))),
    ]
    with m.If(o.ready):
        m.d.sync += o.valid.eq(0)
    with m.If(load):
        if steps == 0:
            m.d.sync += o.valid.eq(1)
        else:
            m.d.sync += [busy.eq(1), count.eq(0)]
    with m.Elif(busy):
        m.d.sync += count.eq(count + 1)
        with m.If(last):
            m.d.sync += [busy.eq(0), o.valid.eq(1)]
    return load, busy, last
