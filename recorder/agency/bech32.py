"""Bech32 (BIP 173), as age spells its keys: a human-readable part, "1", the data in base32
and a six-character BCH checksum. age uses plain Bech32 (not Bech32m) without BIP 173's
90-character limit (age's spec, "Recipients and identities"); written from BIP 173.
"""

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATOR):
            check ^= generator if (top >> i) & 1 else 0
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data, from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Re-cut a bit string into groups of `to_bits` (BIP 173's convertbits)."""
    acc, bits, out, top = 0, 0, [], (1 << to_bits) - 1
    for value in data:
        acc, bits = acc << from_bits | value, bits + from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append(acc >> bits & top)
    if pad and bits:
        out.append(acc << (to_bits - bits) & top)
    elif not pad and (bits >= from_bits or acc << (to_bits - bits) & top):
        raise ValueError("bech32: the data's padding is not zero")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Lower-case Bech32 of `data` under `hrp`."""
    hrp = hrp.lower()
    words = _regroup(data, 8, 5, pad=True)
    checksum = _polymod(_hrp_expand(hrp) + words + [0] * 6) ^ 1
    words += [checksum >> 5 * (5 - i) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words)


def decode(text: str) -> tuple[str, bytes]:
    """(hrp, data) of a Bech32 string, all lower or all upper case; ValueError otherwise."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32: mixed case")
    text = text.lower()
    hrp, sep, rest = text.rpartition("1")
    if not sep or not hrp or len(rest) < 6 or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError("bech32: no human-readable part, separator or checksum")
    if any(c not in CHARSET for c in rest):
        raise ValueError("bech32: a character outside the alphabet")
    words = [CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + words) != 1:
        raise ValueError("bech32: the checksum does not match")
    return hrp, bytes(_regroup(words[:-6], 5, 8, pad=False))
