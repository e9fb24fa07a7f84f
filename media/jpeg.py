"""The structure of a JPEG file: its frame's components and its scans.

The pipeline needs three things libjpeg does not tell Pillow, which does not
tell us: how many scans a file has (a progressive CPU bomb holds thousands),
whether its scans deliver every coefficient of every component (a
progressive file cut short and closed with an EOI marker decodes without an
error, blurred), and where the last scan's entropy-coded data ends (libjpeg
fills whatever follows an early marker with grey, silently, and the
pipeline checks for that by decoding once more with bytes put there).

Only the marker segments are walked; entropy-coded data is skipped with one
regular-expression search per scan, so a 4 MB photo costs well under a
millisecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Inside entropy-coded data FF is followed by 00 (a stuffed byte) or by a
# restart marker; any other byte after FF is the marker that ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn, not DHT/JPG/DAC
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}
SOS, EOI = 0xDA, 0xD9


@dataclass(frozen=True)
class Scan:
    components: tuple[int, ...]
    first: int  # spectral selection start (Ss)
    last: int  # spectral selection end (Se)
    low_bit: int  # successive approximation, low bit (Al)
    end: int  # offset of the marker that ends its entropy-coded data


@dataclass(frozen=True)
class Layout:
    components: tuple[int, ...]
    progressive: bool
    scans: tuple[Scan, ...]


def jpeg_layout(data: bytes) -> Layout:
    """The frame and scans of a JPEG (the bytes start with SOI); a damaged
    structure ends the walk where it is damaged, with what was read so far."""
    components: tuple[int, ...] = ()
    progressive = False
    scans: list[Scan] = []
    at = 2
    while at + 2 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == EOI:
            break
        if marker in _STANDALONE:
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segment = data[at + 4 : at + 2 + length]
        if length < 2 or len(segment) != length - 2:
            break
        if marker in _FRAMES and not components and len(segment) >= 6:
            components = tuple(segment[6 : 6 + 3 * segment[5] : 3])
            progressive = marker in (0xC2, 0xC6, 0xCA, 0xCE)
        at += 2 + length
        if marker == SOS and segment:
            count = segment[0]
            if len(segment) < 4 + 2 * count:
                break
            ss, se, approximation = segment[1 + 2 * count : 4 + 2 * count]
            found = _SCAN_END.search(data, at)
            end = found.start() if found else len(data)
            scans.append(Scan(tuple(segment[1 : 1 + 2 * count : 2]), ss, se,
                              approximation & 0x0F, end))
            at = end
    return Layout(components, progressive, tuple(scans))


def missing_coefficients(layout: Layout) -> bool:
    """Whether the scans leave some coefficient of some component undelivered.

    Sequential files need each component in a scan. Progressive ones need,
    for every component and each of the 64 coefficients, a scan that brings
    it down to its last bit (successive approximation low bit 0).
    """
    if not layout.components:
        return True
    if not layout.progressive:
        seen = {component for scan in layout.scans for component in scan.components}
        return not seen.issuperset(layout.components)
    done = {component: [False] * 64 for component in layout.components}
    for scan in layout.scans:
        if scan.low_bit != 0 or scan.first > scan.last or scan.last > 63:
            continue
        for component in scan.components:
            if component in done:
                done[component][scan.first : scan.last + 1] = [True] * (scan.last - scan.first + 1)
    return not all(all(bits) for bits in done.values())
