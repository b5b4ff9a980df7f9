"""Whether a bench that needs Docker and the sandbox image can run here, and if not, why (said in its row)."""

from __future__ import annotations

from sandbox.errors import DockerUnavailableError
from sandbox.image import IMAGE_REPOSITORY
from sandbox.manager import connect_docker


def docker_missing(image: str = f"{IMAGE_REPOSITORY}:latest") -> str | None:
    """None when the Docker engine answers and holds the sandbox image; otherwise the reason to skip."""
    try:
        client = connect_docker()
    except DockerUnavailableError as exc:
        return f"skipped: {exc}"
    try:
        client.images.get(image)
    except Exception as exc:  # docker's ImageNotFound or an API error: either way nothing to run in
        return f"skipped: no sandbox image {image} ({type(exc).__name__}; `dockhand image build` makes it)"
    finally:
        client.close()
    return None
