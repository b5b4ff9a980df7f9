"""Starts coverage.py in every Python process of a test run, as coverage's own docs describe
(`coverage.process_startup`), so the project's command is measured whatever launches Python.

Active only when COVERAGE_PROCESS_START names the coverage configuration to use (the project's own,
or dockhand's default when it has none). Copied into the sandbox by dockhand and put on PYTHONPATH.
"""

import os

if os.environ.get("COVERAGE_PROCESS_START"):
    try:
        import coverage

        coverage.process_startup()
    except ImportError:  # an interpreter without coverage: that process is simply not measured
        pass
