"""`dockhand`'s entry point, and the garbage collector while a command starts.

A command's start makes hundreds of thousands of objects that live as long as the process (modules, classes,
the ORM's tables, Textual's widgets): with the collector's usual thresholds it scans them again and again while
they are made, a tenth to a third of a second of the start of `dockhand run test` or `dockhand tui`. So the
collector runs rarely until the command has imported what it needs and opened its store (`started`); then what
exists is frozen out of its scans (it is not garbage: it is the program) and it runs as usual again.
"""

from __future__ import annotations

import gc

USUAL_THRESHOLDS = gc.get_threshold()
# Allocations between two young collections while starting (usually 700): a few collections, not hundreds.
STARTING_THRESHOLD = 100_000


def starting() -> None:
    """Before the command's imports: collect rarely."""
    gc.set_threshold(STARTING_THRESHOLD, *USUAL_THRESHOLDS[1:])


def started() -> None:
    """The command has what it runs on: keep it out of the collector's scans, and collect as usual again.
    Safe to call more than once, and in a process that never called `starting`."""
    gc.freeze()
    gc.set_threshold(*USUAL_THRESHOLDS)


def main() -> None:
    starting()
    from bot.cli.main import main as run

    run()
