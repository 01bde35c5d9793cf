"""Bech32 (BIP 173) as age uses it: no length limit on the data part, one case per string,
the checksum over the lowercase form. Written from BIP 173's description."""

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    """Not a valid Bech32 string: bad character, mixed case, bad checksum or padding."""


def _polymod(values) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if top >> bit & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data, from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup a bit string; without `pad`, leftover bits must be fewer than `from_bits`
    and zero (a canonical encoding)."""
    accumulator, bits, out = 0, 0, []
    mask = (1 << to_bits) - 1
    for value in data:
        accumulator = accumulator << from_bits | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append(accumulator >> bits & mask)
    if pad:
        if bits:
            out.append(accumulator << (to_bits - bits) & mask)
    elif bits >= from_bits or accumulator << (to_bits - bits) & mask:
        raise Bech32Error("non-zero or excess padding bits")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Lowercase Bech32 of `data` under the human-readable part `hrp` (given in any case)."""
    hrp = hrp.lower()
    words = _regroup(data, 8, 5, pad=True)
    polymod = _polymod(_expand_hrp(hrp) + words + [0] * 6) ^ 1
    checksum = [polymod >> 5 * (5 - i) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """(hrp in lowercase, data). Raises Bech32Error for anything but a valid string."""
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise Bech32Error("character outside the printable ASCII range")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise Bech32Error("no human-readable part, or a data part shorter than its checksum")
    hrp, rest = text[:separator], text[separator + 1 :]
    if any(c not in CHARSET for c in rest):
        raise Bech32Error("character outside the Bech32 alphabet")
    words = [CHARSET.index(c) for c in rest]
    if _polymod(_expand_hrp(hrp) + words) != 1:
        raise Bech32Error("bad checksum")
    return hrp, bytes(_regroup(words[:-6], 5, 8, pad=False))
