"""Where the engine's speed lives: the layout tricks behind the textbook layers, each explained once.

The layers (``engine.conv``, ``engine.pool``, ``engine.activations``) read like their equations and
call these for the heavy lifting; ``engine.reference`` holds the slow loop versions both are tested
against. Nothing here changes the maths: only memory layout, buffer reuse, chunking and blocking (and, in
``winograd``, the order of the arithmetic: the same function, rounded differently in the last digits).

| module         | used by               | tricks |
|----------------|-----------------------|--------|
| ``conv``       | ``Conv2D``            | channel-major columns, wide rows, bias row of ones, blocked dW, chunked dcols, buffer reuse |
| ``pool``       | ``MaxPool2D`` (2x2)   | corners in one copy, three boolean masks instead of an argmax, memory order, no zero-fill |
| ``elementwise``| ``ReLU``              | maximum against a zero row, memory order |
| ``fused``      | ``Sequential``        | Conv2D -> MaxPool2D(2) -> ReLU as one step: phase images, columns sorted by window corner, pooling and its backward without layout copies |
| ``winograd``   | ``Sequential``        | that step for wide 3x3 layers by Winograd F(2x2, 3x3): 16 products on transformed tiles, 2.25x fewer multiplies |

Related speed modules outside this package: ``engine.layout`` (working on transposed views in memory
order), ``engine.parallel``, ``engine.workers`` and ``engine.blas`` (data-parallel slices on the cores, one
BLAS thread each), ``engine.memory`` (recycling freed memory).
"""

from .conv import ConvGeometry, ConvWorkspace, col2im, im2col, output_size
from .elementwise import ZeroRow
from .pool import MaxPool2x2

__all__ = ["ConvGeometry", "ConvWorkspace", "im2col", "col2im", "output_size", "MaxPool2x2", "ZeroRow"]
# kernels.fused imports the layers, so it is imported where used (engine.module), not here.
