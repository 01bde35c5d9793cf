"""A tiny 5x7 bitmap font for the simulated camera's visible frame number ("FRAME 000123"):
part of the test signal, identical on every machine, no font files. (The OSD is set in a
real font: osd.py.)"""

import numpy as np

_ROWS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "E": "11111 10000 10000 11110 10000 10000 11111",
}
GLYPHS = {
    ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)
    for ch, rows in _ROWS.items()
}


def render(text: str, scale: int) -> np.ndarray:
    """A boolean mask of the text, `scale` pixels per font dot, one dot between glyphs."""
    cells = []
    for ch in text:
        cells.append(GLYPHS[ch])
        cells.append(np.zeros((7, 1), dtype=bool))
    mask = np.hstack(cells) if cells else np.zeros((7, 0), dtype=bool)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))
