"""The Textual monitor (`dockhand tui`): live tasks, stages and logs, with approve, reject, cancel, retry.

It reads the store through `core.service.Core` (tasks, stages, events, log tails by id) and sends its
actions back through the same façade, so they take effect in the running service.
"""
