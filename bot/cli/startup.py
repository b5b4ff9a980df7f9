"""`dockhand`'s entry point, and the garbage collector while a command starts.

A command's start makes hundreds of thousands of objects that live as long as the process (modules, classes,
the ORM's tables, Textual's widgets): with the collector's usual thresholds it scans them again and again while
they are made, a tenth to a third of a second of the start of `dockhand run test` or `dockhand tui`. So the
collector waits until the command has imported what it needs and opened its store (`started`); then what exists
is frozen out of its scans (it is not garbage: it is the program) and it runs as usual again. A command that
opens no store (an image build, `setup`) gets it back after STARTING_SECONDS all the same.
"""

from __future__ import annotations

import gc
import threading

STARTING_SECONDS = 5.0


def starting() -> None:
    """Before the command's imports: no collection until it has started (or for STARTING_SECONDS at most)."""
    gc.disable()
    fallback = threading.Timer(STARTING_SECONDS, gc.enable)
    fallback.daemon = True
    fallback.start()


def started() -> None:
    """The command has what it runs on: keep it out of the collector's scans, and collect again. Safe to call
    more than once, and in a process that never called `starting`."""
    gc.freeze()
    gc.enable()


def main() -> None:
    starting()
    from bot.cli.main import main as run

    run()
