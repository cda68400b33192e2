"""What the command-line tools share: argument types and how errors reach the user."""
import argparse
import math
import sys


class UsageError(Exception):
    """The user asked for something that cannot be done as asked (exit status 2)."""


class UserFacingError(Exception):
    """A failure whose message says what went wrong and what to do (exit status 1)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, except where there is none to show (off switches, unset options) or the
    help text already says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def digit(text):
    value = int(text)
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"must be a digit 0-9, got {text}")
    return value


def add_debug_flag(parser):
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def report_errors(run, debug, interrupted=lambda: "interrupted"):
    """Run `run()` and turn a failure into one line on stderr: exit 2 for usage errors, 1 for the rest,
    130 for Ctrl-C or SIGTERM (with the line `interrupted()` returns).

    The traceback is kept for --debug: a user's mistake should read as a message, not a crash.
    """
    try:
        return run()
    except KeyboardInterrupt:
        print(f"\n{interrupted()}", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if debug:
            raise
        known = isinstance(err, (UserFacingError, OSError))
        print(f"error: {err}" if known else f"error: {type(err).__name__}: {err} (--debug shows the traceback)",
              file=sys.stderr)
        return 1
