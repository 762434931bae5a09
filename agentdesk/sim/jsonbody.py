"""The simulator's JSON answers, encoded as vendors' JSON encoders do.

Text can hold a lone surrogate half (an API client may send `"\\ud800"`, which JSON allows but
UTF-8 cannot hold). A vendor stores it and sends it back escaped, as `\\ud800`; it does not fail
the whole answer with a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        # Surrogates only occur inside JSON strings, where `backslashreplace` writes exactly
        # their JSON escape; everything else stays UTF-8.
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8", "backslashreplace")
