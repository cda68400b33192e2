"""The two kinds of error a user is shown, at the bottom of the library so that any module may raise them.

The command-line tools turn each into one line on stderr (cvae.cli.report_errors): a UsageError exits
with status 2, a UserFacingError with status 1. Neither carries a traceback to the user.
"""


class UsageError(Exception):
    """The user asked for something that cannot be done as asked (exit status 2)."""


class UserFacingError(Exception):
    """A failure whose message says what went wrong and what to do (exit status 1)."""
