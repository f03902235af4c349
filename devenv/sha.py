"""SHA-256 without loading OpenSSL: ``hashlib`` loads libcrypto at import (a few milliseconds), which
the short commands (``exec``, a quick ``up``) do not need for the few small digests they take."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha256 import sha256  # (builtin, the same digests)
    except ImportError:  # pragma: no cover - a Python build without the builtin module
        from hashlib import sha256

__all__ = ["sha256"]
