"""The Textual monitor (`dockhand tui`), arriving in a later release.

It will read the store through `core.service.Core` (tasks, stages, events, log tails by id) and send
its actions (approve, cancel) back through the same façade.
"""
