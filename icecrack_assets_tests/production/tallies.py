"""Counters the fault suite and the probe add to; ``conftest.pytest_terminal_summary`` prints them.

Printing from the hook (not from a test) puts the lines in the terminal summary of every run that
collected these modules, whatever the order or selection of tests.
"""

from __future__ import annotations

FAULTS = {"faults injected": 0, "runs survived": 0, "bad inputs refused": 0, "files lost": 0}
PROBE = {
    "bad inputs refused": 0,
    "sensor oddities skipped": 0,
    "secrets redacted": 0,
    "inputs overwritten": 0,
    "concurrent runs": 0,
    "interruptions cleaned": 0,
}


def fault_line() -> str:
    return (
        "fault-injection: {faults injected} faults injected, {runs survived} runs survived, "
        "{bad inputs refused} bad inputs refused, {files lost} files lost"
    ).format(**FAULTS)


def probe_line() -> str:
    return (
        "probe: {bad inputs refused} bad inputs refused, {sensor oddities skipped} sensor oddities "
        "skipped, {secrets redacted} secrets redacted, {inputs overwritten} inputs overwritten "
        "({concurrent runs} concurrent runs, {interruptions cleaned} interruptions cleaned up)"
    ).format(**PROBE)
