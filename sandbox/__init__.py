"""Docker sandboxes (the sandbox release fills this package).

The core reaches sandboxes only through `core.service.SandboxDirectory` (list, destroy) and the
cache seam `core.service.Cache`; the `docker` SDK is imported here and nowhere else.
"""
