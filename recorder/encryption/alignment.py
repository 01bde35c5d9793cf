"""Filler that closes the open 64 KiB chunk at an MP4 fragment boundary (docs/ENCRYPTION.md,
"Loss bound"): an ISO BMFF `free` box, which players and our layout rules take as part of the
fragment before it (ISO/IEC 14496-12: its contents are irrelevant and may be ignored)."""

FREE_BOX_HEADER = 8  # size (32 bits) + type


def free_box(size: int) -> bytes:
    """A top-level `free` box of exactly `size` bytes (at least 8)."""
    if not FREE_BOX_HEADER <= size < 1 << 32:
        raise ValueError(f"a free box is 8 bytes to 4 GiB, not {size}")
    return size.to_bytes(4, "big") + b"free" + bytes(size - FREE_BOX_HEADER)
