"""Sandbox errors; docker SDK exceptions are translated into these at the edge, with the sandbox ID.

SandboxError (DockhandError)
├── DockerUnavailableError   the Docker engine cannot be reached
├── ImageBuildError          building the sandbox image failed
├── SandboxNotFoundError     (NotFoundError) no sandbox with that ID
└── FileTooLargeError        (ValueError) a file over the size limit
"""

from __future__ import annotations

from core.errors import DockhandError, NotFoundError


class SandboxError(DockhandError):
    pass


class DockerUnavailableError(SandboxError):
    pass


class ImageBuildError(SandboxError):
    pass


class SandboxNotFoundError(SandboxError, NotFoundError):
    pass


class FileTooLargeError(SandboxError, ValueError):
    pass
