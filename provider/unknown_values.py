"""Every form of "not yet known" Terraform sends becomes tf's `Unknown`, once, before any resource sees it.

Terraform encodes a value that is unknown until apply as a msgpack extension inside a `DynamicValue`:

- type 0: a plain unknown (cty's own encoder writes `d4 00 00`; any payload means the same);
- type 12 (Terraform 1.6 and later): an unknown with refinements, its payload a msgpack map saying what is
  already known about it (not null, a string prefix such as `"agent-"` for `"agent-${count.index}"`,
  bounds on a collection's length). `count.index`, `each.key`, module variables and references to
  attributes computed at apply all arrive in this form.

tf decodes only `d4 00 00` and hands every other extension to resource code as a raw `ExtType`. Rather than
teach each resource, the servicer rewrites the `DynamicValue` fields of every incoming request so that each
unknown, at any depth (attributes, list/set/map elements, nested blocks, object attributes), is the one form
tf understands. The refinements are dropped: nothing here uses them, and a planned value that is unknown
without refinements is always valid for Terraform (it only narrows what Terraform may assume).
"""

from __future__ import annotations

import re
from typing import Any

import msgpack
from tf.gen import tfplugin_pb2 as pb

# cty's extension codes for unknown values: plain, and refined (Terraform >= 1.6).
UNKNOWN_EXT = 0
REFINED_UNKNOWN_EXT = 12
# The one encoding of an unknown that tf decodes (cty's own, an fixext1 with a zero payload).
CANONICAL_UNKNOWN = msgpack.ExtType(UNKNOWN_EXT, b"\x00")


class _Rewrite:
    """An ext hook that maps every unknown to the canonical form and notes whether it changed anything."""

    def __init__(self) -> None:
        self.changed = False

    def __call__(self, code: int, data: bytes) -> Any:
        if code == REFINED_UNKNOWN_EXT or (code == UNKNOWN_EXT and data != CANONICAL_UNKNOWN.data):
            self.changed = True
            return CANONICAL_UNKNOWN
        return msgpack.ExtType(code, data)


# The first byte of every msgpack extension (fixext 1, 2, 4, 8, 16; ext 8, 16, 32). Bytes without any of them
# hold no extension, so no unknown: they are passed on without decoding (tf decodes them once, for the resource).
_EXTENSION_MARKERS = re.compile(rb"[\xc7-\xc9\xd4-\xd8]")


def canonical_msgpack(data: bytes) -> bytes:
    """`data` with every unknown in the canonical encoding (the same bytes when there was nothing to do)."""
    if not data or _EXTENSION_MARKERS.search(data) is None:
        return data
    rewrite = _Rewrite()
    value = msgpack.unpackb(data, ext_hook=rewrite, raw=False, strict_map_key=False)
    if not rewrite.changed:
        return data
    return msgpack.packb(value, use_bin_type=True)


def canonicalize_request(request: Any) -> None:
    """Rewrite, in place, every msgpack `DynamicValue` field of a protocol-6 request message."""
    for field, value in request.ListFields():
        if field.message_type is not pb.DynamicValue.DESCRIPTOR:
            continue
        for dynamic in value if field.label == field.LABEL_REPEATED else (value,):
            if dynamic.msgpack:
                dynamic.msgpack = canonical_msgpack(dynamic.msgpack)
