"""The TUI's screens: the task board, a task, the audit trail, and the dialogs."""
