"""The two kinds of error a user is shown, at the bottom of the library so that any module may raise them.

The command-line tools turn each into one line on stderr (cvae.cli.report_errors): a UsageError exits
with status 2, a UserFacingError with status 1. Neither carries a traceback to the user.
"""


class UsageError(Exception):
    """The user asked for something that cannot be done as asked (exit status 2)."""


class UserFacingError(Exception):
    """A failure whose message says what went wrong and what to do (exit status 1)."""


class BadArgument(UsageError, ValueError):
    """A value given to the Python API (cvae.TrainedRun's methods) that it cannot take: the message names the
    argument and says what it takes. A ValueError to Python code, a UsageError to the tools."""
