"""JSON text the way JavaScript's ``JSON.stringify`` writes it, so output matches the reference byte for byte.

Two differences from :func:`json.dumps` matter: object keys that are array indexes (``"3000"``)
come first in numeric order (JavaScript objects keep them so), and numbers use JavaScript's
formatting (``1e21`` and above, and below ``1e-6``, in exponent form; integral floats without
``.0``; non-finite numbers as ``null``).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_MAX_INDEX = 2**32 - 2


def _is_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) <= _MAX_INDEX


def js_key_order(value: dict[str, Any]) -> list[str]:
    """Keys in JavaScript's property order: integer-like keys ascending, then the rest as inserted."""
    indexes = sorted((k for k in value if _is_index(k)), key=int)
    if not indexes:
        return list(value)
    return indexes + [k for k in value if not _is_index(k)]


def js_number(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    digits = Decimal(repr(value))
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        return format(digits, "f")
    sign, numerals, exponent = digits.normalize().as_tuple()
    text = "".join(map(str, numerals))
    exp = int(exponent) + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"


def dumps(value: Any, indent: int | None = None) -> str:
    """Serialise a JSON value like ``JSON.stringify(value, null, indent)``."""
    parts: list[str] = []
    _write(value, parts, indent, 0)
    return "".join(parts)


def _write(value: Any, out: list[str], indent: int | None, level: int) -> None:
    if value is None or value is True or value is False or isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(js_number(value))
    elif isinstance(value, dict):
        keys = js_key_order(value)
        if not keys:
            out.append("{}")
            return
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            _newline(out, indent, level + 1)
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(": " if indent is not None else ":")
            _write(value[key], out, indent, level + 1)
        _newline(out, indent, level)
        out.append("}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _newline(out, indent, level + 1)
            _write(item, out, indent, level + 1)
        _newline(out, indent, level)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False, default=str))


def _newline(out: list[str], indent: int | None, level: int) -> None:
    if indent is not None:
        out.append("\n" + " " * (indent * level))
