"""The store: every row dockhand keeps (tasks and their events, stages, logs, approvals, audit, deliveries,
notifications, schedules, sandboxes, installations, sealed secrets), behind the protocols in
`core/store/interface.py`, on SQLite or PostgreSQL (`core/store/sql.py`). No module outside this package
writes a query; migrations are in `core/migrations/`."""
