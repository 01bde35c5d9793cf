"""A machine-readable frame index burned into video frames, and its reader.

The code is a row of 40 blocks across the top of the luma plane: 32 bits of the
frame index (most significant first) then an 8-bit checksum, each block black
(0) or white (1). Blocks are large so the code survives H.264 compression at any
bitrate we use; the checksum rejects a misread instead of returning a wrong index.
"""

import numpy as np

BITS = 40
INDEX_BITS = 32
BLACK, WHITE = 16, 235


def _checksum(index: int) -> int:
    b = index.to_bytes(4, "big")
    return (b[0] ^ b[1] ^ b[2] ^ b[3] ^ 0xA5) & 0xFF


def block_geometry(width: int, height: int):
    block_w = width // BITS
    block_h = max(8, height // 24)
    return block_w, block_h


def bits_for(index: int) -> np.ndarray:
    value = (index << 8) | _checksum(index)
    return np.array([(value >> (BITS - 1 - i)) & 1 for i in range(BITS)], dtype=bool)


def draw(luma: np.ndarray, index: int) -> None:
    height, width = luma.shape
    block_w, block_h = block_geometry(width, height)
    row = np.where(bits_for(index), WHITE, BLACK).astype(np.uint8)
    luma[:block_h, : block_w * BITS] = np.repeat(row, block_w)[None, :]


def read(luma: np.ndarray) -> int | None:
    """The frame index, or None when the code is unreadable or fails its checksum."""
    height, width = luma.shape
    block_w, block_h = block_geometry(width, height)
    # Sample the middle of each block, away from edges that compression smears.
    y0, y1 = block_h // 4, block_h - block_h // 4
    region = luma[y0:y1, : block_w * BITS].reshape(y1 - y0, BITS, block_w)
    x0, x1 = block_w // 4, block_w - block_w // 4
    means = region[:, :, x0:x1].mean(axis=(0, 2))
    value = 0
    for bit in means > (BLACK + WHITE) / 2:
        value = (value << 1) | int(bit)
    index, check = value >> 8, value & 0xFF
    return index if _checksum(index) == check else None
