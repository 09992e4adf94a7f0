"""Warning classes users can filter."""


class GroupFitWarning(UserWarning):
    """Some groups failed to tune and have no model; see ``results_``."""
