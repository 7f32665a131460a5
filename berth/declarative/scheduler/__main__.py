"""`python -m berth.declarative.scheduler --kubeconfig FILE [--server URL] [--config FILE]`: the scheduler alone.

The kubeconfig gives the API server's URL (unless `--server` overrides it), the CA to verify it with and the
scheduler's own credential (`system:kube-scheduler`); `--server` alone talks plain, anonymous HTTP.

Runs until SIGTERM or Ctrl-C.  `berth bench declarative` starts it this way so scheduling has a
process (and a core) of its own; `berth up` runs the same `Scheduler` in-process.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import threading

from berth.declarative.client import Credentials
from berth.declarative.scheduler import Scheduler, default_profiles, load_config
from berth.engine.tuning import for_decisions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="berth's scheduler for the declarative plane")
    parser.add_argument("--server", help="API server URL, e.g. https://127.0.0.1:6443 (default: the kubeconfig's)")
    parser.add_argument("--kubeconfig", help="kubeconfig with the server, its CA and the scheduler's credential")
    parser.add_argument("--config", help="KubeSchedulerConfiguration YAML (default: kube-scheduler's defaults)")
    parser.add_argument("--binders", type=int, default=8, help="concurrent pods/binding requests")
    parser.add_argument("--no-normal-events", action="store_true", help="skip the Scheduled events (failures still)")
    args = parser.parse_args(argv)
    credentials = Credentials.from_kubeconfig(args.kubeconfig) if args.kubeconfig else None
    server = args.server or (credentials.server if credentials else None)
    if not server:
        parser.error("give --kubeconfig (with a server) or --server")
    logging.basicConfig(level=logging.WARNING)
    profiles = load_config(args.config) if args.config else default_profiles()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    scheduler = Scheduler(server, profiles, binders=args.binders, normal_events=not args.no_normal_events,
                          credentials=credentials)
    scheduler.start()
    gc.collect()
    gc.freeze()  # the synced caches and the engine's snapshot need no scanning by every full collection
    gc.set_threshold(50_000, 20, 20)  # fewer collections on the allocation-heavy event path
    for_decisions()  # large temporaries reused, not faulted in anew; BLAS on this thread only
    print("scheduler ready", flush=True)
    done.wait()
    scheduler.stop()


if __name__ == "__main__":
    main()
