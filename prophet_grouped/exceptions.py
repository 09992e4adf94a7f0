"""Warning classes users can filter, and the one way the library warns them."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class GroupFitWarning(UserWarning):
    """Some groups failed to tune and have no model; see ``results_``."""


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package: the user's line
    (a fixed ``stacklevel`` points inside the library whenever the call path changes)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
