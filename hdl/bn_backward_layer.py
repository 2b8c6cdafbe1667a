"""A single-stream backward BN layer: the backward unit behind a two-channel buffer that replays
its passes, so that the host streams each channel's (x, dy) once and receives dx once.

Bit for bit the backward unit (:class:`l1bn.hdl.bn_backward.BNBackward`,
:func:`l1bn.golden.bn_backward.backward`).
"""

from l1bn.golden.fixed import check_int

from .block import BlockSpec, Int
from .bn_backward import BLOCK as UNIT_BLOCK, BNBackward
from .bn_layer import AREA_GROUPS, BufferedLayer

__all__ = ["BNBackwardLayer", "AREA_GROUPS"]


class BNBackwardLayer(BufferedLayer):
    """Backward BN layer (L1BN or L2BN), P lanes, one stream per side: the backward unit
    (:class:`~l1bn.hdl.bn_backward.BNBackward`) in a :class:`~l1bn.hdl.bn_layer.BufferedLayer`.

    Parameters
    ----------
    norm, width, frac, lanes, guard, eps, desc_depth
        As :class:`~l1bn.hdl.bn_backward.BNBackward`'s.
    buffer_depth : int
        The largest channel, in values (the unit's ``max_batch``); the buffer holds two
        channels of ``ceil(buffer_depth / P)`` (x, dy) beats, ``2 * P * W`` bits each.

    Ports: the unit's ``channel`` (descriptors with the forward's exact sums), ``x``
    (``{x: ArrayLayout(signed(W), P), dy: ArrayLayout(signed(W), P), last}``, each channel
    **once**, in channel order), ``dx``, ``grads``, ``err`` and ``status``. The layer replays
    the first (sums) pass and the final (dx) pass from its buffer. Latency and throughput: as
    :class:`~l1bn.hdl.bn_layer.BufferedLayer`.
    """

    def __init__(self, *, norm, width=16, frac=8, lanes=1, buffer_depth=1024, guard=8, eps=None,
                 desc_depth=None):
        depth = check_int("buffer_depth", buffer_depth, 1, 1 << 20)
        super().__init__(BNBackward(norm=norm, width=width, frac=frac, lanes=lanes,
                                    max_batch=depth, guard=guard, eps=eps,
                                    desc_depth=desc_depth), depth)


BLOCK = BlockSpec(BNBackwardLayer, ("norm", "width", "frac", "lanes", "buffer_depth", "guard",
                                    "eps", "desc_depth"),
                  defaults={"width": 16, "frac": 8, "lanes": 1, "buffer_depth": 1024,
                            "guard": 8, "eps": None, "desc_depth": None},
                  bounds={"buffer_depth": Int(1, 1 << 20),
                          "desc_depth": UNIT_BLOCK.bound("desc_depth")},
                  summary="single-stream backward BN layer: the backward unit behind a "
                          "two-channel buffer (block RAM) that replays its passes")
