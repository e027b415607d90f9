"""The one exception type for mistakes a user can fix (exit status 2, one line)."""


class UserError(Exception):
    """A problem the user can fix: bad option, bad study file, missing data, bad storage URL."""
