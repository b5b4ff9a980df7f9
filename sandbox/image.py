"""The sandbox image: built locally from Debian's packages (debootstrap → docker import → build).

No image registry is needed. The image's tag carries a hash of everything that goes into it
(suite, packages, recipe, extra CA bundle), so a second build with the same inputs does nothing.
A configured image (DOCKHAND_SANDBOX_IMAGE) is used as it is.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from sandbox.errors import ImageBuildError
from sandbox.live import SANDBOX_UID

log = logging.getLogger(__name__)

IMAGE_REPOSITORY = "dockhand-sandbox"
BASE_REPOSITORY = "dockhand-debian"
RECIPE_VERSION = "1"

DEFAULT_PACKAGES = (
    "bash", "ca-certificates", "curl", "git", "procps", "xz-utils", "unzip",
    "build-essential", "pkg-config",
    "python3", "python3-pip", "python3-venv", "python3-dev", "python3-pytest", "python3-coverage",
    "nodejs", "npm",
    "golang-go",
    "rustc", "cargo",
)  # fmt: skip

_DOCKERFILE = """\
FROM {base}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get upgrade -y \\
 && apt-get install -y --no-install-recommends {packages} \\
 && rm -rf /var/lib/apt/lists/*
COPY extra-ca.pem /usr/local/share/dockhand/extra-ca.pem
RUN cat /usr/local/share/dockhand/extra-ca.pem >> /etc/ssl/certs/ca-certificates.crt \\
 && useradd --create-home --uid {uid} --user-group --shell /bin/bash sandbox \\
 && mkdir -p /workspace && chown sandbox:sandbox /workspace
ENV HOME=/home/sandbox \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \\
    CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt \\
    GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt \\
    GOPATH=/home/sandbox/go \\
    GOFLAGS=-modcacherw \\
    GOTOOLCHAIN=local \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    npm_config_update_notifier=false \\
    PYTHONDONTWRITEBYTECODE=1
USER sandbox
WORKDIR /workspace
LABEL dockhand.image="sandbox" dockhand.inputs="{inputs}"
"""


@dataclass(frozen=True, kw_only=True)
class ImageRecipe:
    """Everything that decides the image's content."""

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    ca_bundle: bytes = b""
    # Part of the inputs, so that security updates come in with a fresh build each month.
    refresh: str = field(default_factory=lambda: time.strftime("%Y-%m"))

    @property
    def base_tag(self) -> str:
        digest = hashlib.sha256(f"{RECIPE_VERSION}|{self.suite}|minbase|{self.refresh}".encode()).hexdigest()[:12]
        return f"{BASE_REPOSITORY}:{self.suite}-{digest}"

    def dockerfile(self) -> str:
        return _DOCKERFILE.format(
            base=self.base_tag, packages=" ".join(sorted(self.packages)), uid=SANDBOX_UID, inputs=self.inputs_hash
        )

    @property
    def inputs_hash(self) -> str:
        h = hashlib.sha256()
        parts = (
            RECIPE_VERSION,
            self.suite,
            " ".join(sorted(self.packages)),
            _DOCKERFILE,
            str(SANDBOX_UID),
            self.refresh,
        )
        for part in parts:
            h.update(part.encode() + b"\0")
        h.update(self.ca_bundle)
        return h.hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.inputs_hash}"

    @classmethod
    def from_ca_file(cls, path: Path | None, **fields: object) -> ImageRecipe:
        ca = path.read_bytes() if path is not None else b""
        return cls(ca_bundle=ca, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    tag: str
    built: bool  # False: an image with these inputs was already there


Progress = Callable[[str], None]


class ImageBuilder:
    def __init__(self, client: docker.DockerClient, progress: Progress | None = None) -> None:
        self.client = client
        self.progress = progress or (lambda line: log.info("%s", line))

    def exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def build(self, recipe: ImageRecipe) -> BuildResult:
        if self.exists(recipe.tag):
            self.progress(f"{recipe.tag} is up to date")
            self.client.api.tag(recipe.tag, IMAGE_REPOSITORY, "latest")
            return BuildResult(tag=recipe.tag, built=False)
        if not self.exists(recipe.base_tag):
            self._build_base(recipe)
        self.progress(f"building {recipe.tag} on {recipe.base_tag}")
        context = _context_tar({"Dockerfile": recipe.dockerfile().encode(), "extra-ca.pem": recipe.ca_bundle})
        try:
            for chunk in self.client.api.build(
                fileobj=context, custom_context=True, tag=recipe.tag, rm=True, forcerm=True, decode=True, pull=False
            ):
                if "error" in chunk:
                    raise ImageBuildError(f"building {recipe.tag} failed: {chunk['error'].strip()}")
                text = str(chunk.get("stream", "")).rstrip()
                if text:
                    self.progress(text)
        except docker.errors.APIError as exc:
            raise ImageBuildError(f"building {recipe.tag} failed: {exc.explanation or exc}") from None
        self.client.api.tag(recipe.tag, IMAGE_REPOSITORY, "latest")  # what sandboxes use by default
        return BuildResult(tag=recipe.tag, built=True)

    def _build_base(self, recipe: ImageRecipe) -> None:
        """debootstrap a minimal Debian and import it as an image (needs root and debootstrap)."""
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
        if not Path("/usr/share/keyrings/debian-archive-keyring.gpg").exists():
            raise ImageBuildError("Debian's archive keyring is missing (apt-get install debian-archive-keyring)")
        if os.geteuid() != 0:
            raise ImageBuildError(
                "building the base image needs root (debootstrap); run `dockhand image build` as root"
            )
        self.progress(f"debootstrap {recipe.suite} from {recipe.mirror}")
        with tempfile.TemporaryDirectory(prefix="dockhand-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            # Packages are checked against Debian's archive keyring, whatever transport the mirror uses.
            keyring = ["--keyring=/usr/share/keyrings/debian-archive-keyring.gpg", "--force-check-gpg"]
            result = subprocess.run(
                [debootstrap, "--variant=minbase", *keyring, recipe.suite, str(rootfs), recipe.mirror],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                tail = "\n".join(result.stdout.splitlines()[-10:] + result.stderr.splitlines()[-10:])
                raise ImageBuildError(f"debootstrap failed (exit {result.returncode}):\n{tail}")
            shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
            archive = Path(tmp) / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
            repository, tag = recipe.base_tag.split(":")
            self.progress(f"importing {recipe.base_tag}")
            self.client.api.import_image_from_file(str(archive), repository=repository, tag=tag)


def _context_tar(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer
