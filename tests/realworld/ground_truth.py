"""Run a corpus project's own documented commands in the sandbox image, with plain `docker run`.

    .venv/bin/python -m tests.realworld.ground_truth NAME [--image TAG] [--keep DIR]

This is how the truth in corpus.toml was recorded, without dockhand: the project is unpacked, its
`install` runs in a container on Docker's default bridge (network for the registries), then its
`test` runs in a second container with no network, on the same folder. The full output is printed;
the counts and coverage were read by hand from the tools' own summary lines and written into
corpus.toml. The image must trust the host's CA bundle where a TLS-intercepting proxy is in the way
(`DOCKHAND_SANDBOX_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt dockhand image build`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.realworld.corpus import Project, load, unpack

SANDBOX_UID = 10001  # the image's `sandbox` user: it must be able to write the mounted folder


def run_in_image(image: str, folder: Path, command: str, *, network: bool) -> int:
    args = ["docker", "run", "--rm", "-v", f"{folder}:/workspace", "-w", "/workspace"]
    args += [] if network else ["--network", "none"]
    print(f"$ {command}   [{'network' if network else 'no network'}]", flush=True)
    return subprocess.run([*args, image, "bash", "-c", command], check=False).returncode


def ground_truth(project: Project, image: str, workdir: Path) -> int:
    folder = unpack(project, workdir)
    subprocess.run(["chown", "-R", f"{SANDBOX_UID}:{SANDBOX_UID}", str(folder)], check=False)
    code = run_in_image(image, folder, project.install, network=True)
    if code != 0:
        print(f"install exited {code}")
        return code
    code = run_in_image(image, folder, project.test, network=False)
    print(f"test exited {code}")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--image", default=os.environ.get("DOCKHAND_SANDBOX_IMAGE", "dockhand-sandbox:latest"))
    parser.add_argument("--keep", type=Path, help="unpack here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    project = next((p for p in load() if p.name == args.name), None)
    if project is None:
        sys.exit(f"no project {args.name!r} in corpus.toml")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        sys.exit(ground_truth(project, args.image, args.keep))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(ground_truth(project, args.image, Path(tmp)))


if __name__ == "__main__":
    main()
