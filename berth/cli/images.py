"""`berth images ...`: the local registry and the seeded images (Rich progress, or `--json`).

`berth images seed` starts the local registry (Debian's docker-registry on 127.0.0.1:5000) unless it
runs, then builds the images berth seeds from Debian's packages (busybox, python, nginx) and pushes
those the registry lacks (`berth images seed vm`: the vm runtime's boot image and its accelerator probe, see
`berth.launch.vmimages`); `berth images push IMAGE` pushes a user's own local image there.  The
work lives in `berth.launch.images`; this module prints.
"""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from berth.model import ValidationError

app = typer.Typer(help="The local image registry and the images berth seeds from Debian's packages.",
                  no_args_is_help=True)


@app.command("seed")
def seed(
    runtime: str = typer.Argument("container", help="container (the registry's images) or vm (the boot image)."),
    force: bool = typer.Option(False, "--force", help="Build and push every image again."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Start the local registry if needed, then build and push busybox, python and nginx (`vm`: the VM boot image)."""
    if runtime == "vm":
        return seed_vm(force, as_json)
    if runtime != "container":
        raise ValidationError("runtime", f"must be container or vm, got {runtime!r}")
    report = run_seed(force=force, quiet=as_json)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("image", "outcome", "seconds")
    for row in report["images"]:
        table.add_row(row["ref"], row["outcome"], f"{row['seconds']:.1f}")
    console = Console()
    console.print(table)
    console.print(f"registry {report['registry']} ({'started' if report['started'] else 'running'}); "
                  f"{report['seconds']:.1f} s in all")


def run_seed(force: bool = False, quiet: bool = False, console: Console | None = None) -> dict:
    """Registry up, images seeded: what was done, as a JSON-ready dict (also `berth setup container`'s step)."""
    from berth.launch import images

    problem = images.missing("container")
    if problem:
        raise ValidationError("images", problem)
    started_at = time.monotonic()
    with Progress(console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task("starting the registry", total=len(images.SEEDS) + 1)
        started = images.start_registry()
        bar.update(task, advance=1, description="seeding")
        done = images.seed(force=force, progress=lambda step: bar.update(task, advance=1, description=step))
    return {"registry": f"{images.HOST}:{images.PORT}", "started": started,
            "images": [{"ref": s.ref, "outcome": s.outcome, "seconds": round(s.seconds, 2)} for s in done],
            "seconds": round(time.monotonic() - started_at, 2)}


def seed_vm(force: bool, as_json: bool) -> None:
    """The vm runtime's boot image (Debian's kernel, a busybox initramfs) and the machine's accelerator."""
    report = run_seed_vm(force=force)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    image, accel = report["image"], report["accel"]
    Console().print(f"VM image {image['image']} {image['outcome']} in {image['dir']} ({image['seconds']:.1f} s); "
                    f"guests run on {accel['accel']}" + (" (probed now)" if accel["probed"] else " (cached probe)"))


def run_seed_vm(force: bool = False) -> dict:
    """The boot image built (unless present) and the accelerator probed (unless cached), as a JSON-ready dict."""
    from berth.launch import vmimages

    if vmimages.missing_program():
        raise ValidationError("images", vmimages.missing_program())
    return {"image": vmimages.seed(force=force), "accel": vmimages.probe(force=force)}


@app.command("push")
def push(image: str = typer.Argument(..., help="A local image, e.g. localhost:5000/team/app:v2.")) -> None:
    """Push a local image (built or tagged with podman) to the local registry."""
    from berth.launch import images

    if not image.startswith(f"localhost:{images.PORT}/"):
        raise ValidationError("image", f"tag it localhost:{images.PORT}/NAME:TAG first (podman tag)")
    images.start_registry()
    images.push(image)
    Console().print(f"pushed {image}")
