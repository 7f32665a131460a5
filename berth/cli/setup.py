"""`berth setup RUNTIME`: make this machine ready for a runtime, safe to run twice.

`berth setup container` installs the Debian packages the container runtime needs (saying which,
with apt-get; none when all are there), starts the local registry and seeds the images; `berth
setup vm` installs QEMU and busybox-static, builds the VM boot image and probes the accelerator.  The
work lives in `berth.launch` (`debian`, `images`); this module prints.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console

app = typer.Typer(help="Install and start what a runtime needs on this machine (safe to run twice).",
                  no_args_is_help=True)


@app.command("container")
def container(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Install podman, runc, the CNI plugins, docker-registry and the images' sources; seed the images."""
    from berth.cli.images import run_seed
    from berth.launch import images

    console = Console(stderr=as_json)
    wanted = _install(console, images.PACKAGES)
    report = run_seed(quiet=as_json, console=console)
    report["installed"] = wanted
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    built = sum(1 for row in report["images"] if row["outcome"] == "built")
    console.print(f"registry {report['registry']}; {built} image references built and pushed, "
                  f"{len(report['images']) - built} already there; container runtime ready "
                  "(berth up --runtime container)")


@app.command("vm")
def vm(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Install QEMU and busybox-static, build the VM boot image from Debian's kernel, probe KVM once."""
    from berth.cli.images import run_seed_vm
    from berth.launch import vmimages

    console = Console(stderr=as_json)
    wanted = _install(console, vmimages.PACKAGES)
    report = run_seed_vm() | {"installed": wanted}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console.print(f"VM image {report['image']['outcome']} in {report['image']['dir']}; guests run on "
                  f"{report['accel']['accel']}; vm runtime ready (berth up --plane centralised --runtime vm)")


def _install(console: Console, packages: tuple[str, ...]) -> list[str]:
    """Install the Debian packages of `packages` that are missing, saying which first; returns them."""
    from berth.launch import debian

    wanted = debian.missing_packages(packages)
    console.print(f"installing with apt-get: {' '.join(wanted)}" if wanted else "Debian packages: all installed")
    debian.apt_install(wanted)
    return wanted
