"""Warning classes users can filter, and the one way the library warns them."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class InputTypeError(TypeError):
    """A parameter or an input of the wrong type, for the user to fix (the message says how).

    A ``TypeError``, as Python's own are; the command line prints these as usage errors and
    any other ``TypeError`` (a bug) with its traceback.
    """


class GroupFitWarning(UserWarning):
    """Some groups failed to tune and have no model; see ``results_``."""


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package: the user's line
    (a fixed ``stacklevel`` points inside the library whenever the call path changes)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
