"""Runs upstream Placement's gabbi files (from the PyPI wheel, in its own venv) against berth.

`run(files)` starts one live berth server (`live.LiveServer`, with upstream's `noauth2`
strategy, which upstream's own functional tests configure), builds gabbi suites for the
YAML files read in place from the upstream wheel, with fixtures from `gabbi_fixtures`, and
returns per-file results.  Run as a script for a table of pass counts:
`python -m tests.placement.harness [file.yaml ...] [--failures]`.
"""

from __future__ import annotations

import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path

from gabbi import driver

from berth.centralised.tokens import NoAuth2
from berth.launch import upstream_placement
from tests.placement import gabbi_fixtures
from tests.placement.live import LiveServer

UPSTREAM_GREEN = 47
"""Files that pass whole against upstream placement itself on a live server (shared notes §2.4)."""


@dataclass
class FileResult:
    name: str
    passed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + len(self.failed)


class _Collect(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.ok: list[str] = []

    def addSuccess(self, test) -> None:  # noqa: ANN001, N802 - unittest API
        self.ok.append(test.id())


def gabbits() -> Path:
    return upstream_placement.gabbits_dir(upstream_placement.ensure_venv())


def run(files: list[str] | None = None) -> dict[str, FileResult]:
    directory = gabbits()
    names = sorted(p.name for p in directory.glob("*.yaml"))
    wanted = set(files or names)
    server = LiveServer(auth=NoAuth2()).start()
    gabbi_fixtures.SERVER = server
    try:
        suite = driver.build_tests(str(directory), unittest.TestLoader(), url=server.url,
                                   fixture_module=gabbi_fixtures, test_loader_name="gabbi",
                                   cert_validate=False)  # plain HTTP on loopback; skips CA loading
        results = {n: FileResult(n) for n in names if n in wanted}
        for file_suite in suite:
            tests = list(_flatten(file_suite))
            if not tests:
                continue
            name = _suite_file(tests[0].id(), names)
            if name not in wanted:
                continue
            collect = _Collect()
            file_suite.run(collect)
            results[name].passed += len(collect.ok)
            for test, trace in collect.failures + collect.errors:
                results[name].failed.append((test.id(), _reason(trace)))
        return results
    finally:
        server.stop()


def _reason(trace: str) -> str:
    """The assertion line of a gabbi failure trace (it is followed by the response body)."""
    lines = trace.strip().splitlines()
    hits = [ln for ln in lines if "Error" in ln and not ln.startswith(" ")]
    return (hits[0] if hits else lines[-1])[:400]


def _flatten(suite):  # noqa: ANN001, ANN202
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def _suite_file(test_id: str, names: list[str]) -> str:
    """gabbi names tests 'gabbi.<file stem>_<test>.test_request'; map back to the YAML file."""
    short = test_id[len("gabbi."):]
    matches = [n for n in names if short.startswith(f"{Path(n).stem}_")]
    return max(matches, key=len) if matches else "?"


def main(argv: list[str]) -> None:
    show = "--failures" in argv
    files = [a for a in argv if a.endswith(".yaml")]
    results = run(files or None)
    total = sum(r.total for r in results.values())
    passed = sum(r.passed for r in results.values())
    for r in results.values():
        print(f"{r.name:50s} {r.passed:4d}/{r.total:<4d}{'' if not r.failed else '  FAIL'}")
        if show:
            for tid, msg in r.failed:
                print(f"    {tid[len('gabbi.'):-len('.test_request')]}: {msg}")
    green = sum(1 for r in results.values() if r.total and not r.failed)
    print(f"files fully passing: {green}/{len(results)}; tests passing: {passed}/{total}")


if __name__ == "__main__":
    main(sys.argv[1:])
