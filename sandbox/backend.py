"""Building the Docker sandbox backend from settings (called at entry points only)."""

from __future__ import annotations

import docker

from core.redaction import Redactor
from core.sandboxing import SandboxPolicy, size_in_bytes
from core.settings import Settings
from core.store.interface import SandboxIndex
from sandbox.cache import DependencyCache, dependency_cache
from sandbox.disk import SandboxDisks
from sandbox.git import RepoMirrors
from sandbox.image import IMAGE_REPOSITORY, ImageRecipe
from sandbox.live import SANDBOX_UID
from sandbox.manager import LABEL_INSTANCE, SandboxManager, connect_docker, instance_label
from sandbox.snapshots import SnapshotImages
from sandbox.warm_pool import WarmPool


def image_recipe(settings: Settings) -> ImageRecipe:
    return ImageRecipe.from_ca_file(
        settings.sandbox_ca_bundle, suite=settings.debian_suite, mirror=settings.debian_mirror
    )


def default_policy(settings: Settings, language: str | None = None) -> SandboxPolicy:
    """The locked-down policy; its image is the language's configured one, the configured default, or the
    locally built image by its `latest` tag (so serving does not depend on the build's inputs)."""
    image = settings.sandbox_images.get(language or "") or settings.sandbox_image or f"{IMAGE_REPOSITORY}:latest"
    return SandboxPolicy(
        image=image,
        memory=settings.sandbox_memory,
        cpus=settings.sandbox_cpus,
        pids=settings.sandbox_pids,
        disk=settings.sandbox_disk_limit,
    )


def docker_backend(settings: Settings, records: SandboxIndex, cache: DependencyCache | None = None) -> SandboxManager:
    """Raises `DockerUnavailableError` when the engine cannot be reached."""
    client = connect_docker()
    disks = SandboxDisks(client, settings.data_dir / "sandbox-disks", owner_uid=SANDBOX_UID)
    instance = instance_label(settings.effective_database_url)
    pool = WarmPool(
        client,
        disks,
        settings.data_dir / "warm-pool",
        instance=instance,
        size=settings.warm_pool,
        instance_label=LABEL_INSTANCE,
    )
    return SandboxManager(
        client,
        records,
        default_policy(settings),
        disks=disks,
        instance=instance,
        pool=pool,  # of size 0 when off, or in a one-shot command: then only reaped and cleared
        allow_unisolated_network=settings.sandbox_unisolated_network,
        mirrors=RepoMirrors(settings.git_cache_dir),
        cache=cache or dependency_cache(settings),
        snapshots=snapshot_images(client, settings) if settings.snapshots else None,
    )


def snapshot_images(client: docker.DockerClient, settings: Settings) -> SnapshotImages:
    return SnapshotImages(
        client,
        settings.data_dir / "snapshots",
        instance=instance_label(settings.effective_database_url),
        max_bytes=size_in_bytes(settings.snapshot_max_size) or 2**62,
        secrets=Redactor.from_settings(settings).known,
    )
