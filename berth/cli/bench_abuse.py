"""`berth bench abuse`: a normal client's latency while hostile clients press on one server (registered on
`berth bench` by berth.cli.bench; the work is berth.sim.abuse)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

TARGETS = ("apiserver", "placement", "compute", "agent")


def abuse(
    target: str = typer.Option("apiserver", help="Which server: apiserver, placement, compute or agent. "
                                                 "Started here on loopback with fresh credentials unless --url."),
    url: str = typer.Option("", help="Press a running server instead (loopback only), e.g. https://127.0.0.1:6443."),
    token_file: str = typer.Option("", help="With --url: the normal client's token (a bearer token for the API "
                                            "server, X-Auth-Token for the centralised services)."),
    kubeconfig: str = typer.Option("", help="With --url: the normal client's kubeconfig (CA, client certificate)."),
    pid: int = typer.Option(0, help="With --url: the server's pid, for its peak RSS and open fds."),
    path: str = typer.Option("", help="The resource the normal client GETs (default: a cheap one per target)."),
    duration: float = typer.Option(30.0, min=1, max=600, help="Seconds of pressure (bounded; the tool stops)."),
    half_open: int = typer.Option(20_000, min=0, max=60_000, help="Half-open connections: connected, part of a "
                                                                  "request head sent, held."),
    handshake: bool = typer.Option(False, "--handshake", help="Over TLS, half-open clients do the handshake and "
                                                             "then send part of a head (default: they connect and "
                                                             "never send a ClientHello)."),
    slowloris: int = typer.Option(200, min=0, max=5_000, help="Clients sending one header byte every --drip s."),
    drip: float = typer.Option(3.0, min=0.1, help="Seconds between a slowloris client's header bytes."),
    big_bodies: int = typer.Option(4, min=0, max=64, help="Clients posting --body-mb MB bodies in a loop."),
    body_mb: float = typer.Option(10.0, min=0.001, max=100, help="Size of each big body, MB."),
    interval: float = typer.Option(0.05, min=0.005, help="Seconds between the normal client's GETs."),
    processes: int = typer.Option(5, min=1, max=64, help="Child processes sharing the half-open connections."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """How one honest client fares while hostile clients press on a server, on loopback only.

    For --duration seconds, child processes hold --half-open connections that never finish their
    request head, run --slowloris clients that send one header byte every few seconds, and
    --big-bodies clients that post 10 MB bodies in a loop, while one authenticated client GETs a
    cheap resource every --interval seconds.  Reported: that client's p50/p99/max latency and
    errors; the server's peak resident memory (VmHWM) and open file descriptors; and, per kind of
    hostile client, connections opened, refused (connect failed), cut in their TLS handshake and
    evicted (ended by the server), with the big bodies' answers.  A well-guarded server keeps the normal client's p99
    under a second and its memory flat.
    """
    from berth.model import ValidationError
    from berth.sim.abuse import Load, bench_abuse, start_target, url_target

    if target not in TARGETS:
        raise ValidationError("--target", f"must be one of {', '.join(TARGETS)}, got {target!r}")
    load = Load(duration, half_open, slowloris, big_bodies, body_mb, interval, processes, handshake, drip)
    console = Console(stderr=True)
    with console.status(f"starting {target}", spinner="dots") if not url else _nothing():
        try:
            server = url_target(target, url, token_file=token_file or None, kubeconfig=kubeconfig or None,
                                pid=pid or None, path=path) if url else start_target(target)
        except ValueError as err:
            raise ValidationError("--url" if url else "--target", str(err)) from None
    try:
        with Progress(transient=True, disable=as_json, console=console) as bar:
            task = bar.add_task(f"pressing {target} for {duration:.0f}s", total=1.0)
            result = bench_abuse(server, load, progress=lambda done: bar.update(task, completed=done))
    finally:
        if server.stop:
            server.stop()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print(result)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _print(result) -> None:
    table = Table("requests", "errors", "p50 ms", "p99 ms", "max ms", "server peak RSS MiB", "server peak fds",
                  title=f"normal client under abuse: {result.target} at {result.url}, {result.duration_s:.0f}s")
    table.add_row(str(result.requests), f"{result.errors} {result.error_kinds or ''}", f"{result.p50_ms:.1f}",
                  f"{result.p99_ms:.1f}", f"{result.max_ms:.1f}", str(result.server_peak_rss_mib),
                  str(result.server_peak_fds))
    Console().print(table)
    clients = Table("hostile clients", "opened", "refused", "cut in TLS handshake", "evicted", "peak open",
                    "answers", title="what the hostile clients saw")
    for kind, row in result.clients.items():
        clients.add_row(kind, str(row["opened"]), str(row["refused"]), str(row["cut"]), str(row["evicted"]),
                        str(row["peak_open"]),
                        ", ".join(f"{k}: {v}" for k, v in sorted(row["answers"].items())) or "-")
    Console().print(clients)
