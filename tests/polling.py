"""The tests' one way to wait for something that happens in another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], seconds: float = 5.0, every: float = 0.1) -> bool:
    """Poll `condition` every `every` seconds until it is true or `seconds` have
    passed; whether it became true (it is asked once more at the deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())
