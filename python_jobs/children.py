"""Child processes (dbt) that never outlive the command that started them.

A child runs in a process group of its own, so a terminal's Ctrl-C reaches only us and we decide:
on an interrupt or SIGTERM the child's whole group gets SIGINT (dbt cancels its queries), then
SIGKILL after a grace period. If we die without a chance to clean up (SIGKILL), the kernel sends the
child SIGINT as its parent dies (Linux PR_SET_PDEATHSIG), so no orphan finishes a build nobody asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # SIGINT is how we stop the child, so it must not inherit it ignored: a command started in the background by a
    # script without job control (`nohup python -m python_jobs build &`, cron) runs with SIGINT ignored, and dbt
    # would then outlive a SIGKILL to us. The child is in a session of its own, so no terminal's Ctrl-C reaches it
    # either way; only our SIGINT (and the kernel's, below) does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGINT to the child's process group, then SIGKILL if it has not exited within grace seconds."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, grace)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):  # anything the child left in its group
        os.killpg(proc.pid, signal.SIGKILL)


def run(
    cmd: Sequence[str], *, on_line: Callable[[str], None] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    """subprocess.run for a child that must not outlive us (see the module notes).

    With on_line, the child's stdout and stderr are merged and handed to it line by line as the child writes
    them, and kept as the result's stdout.
    """
    if on_line is not None:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    proc = subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
    lines: list[str] = []
    try:
        if on_line is not None and proc.stdout is not None:
            for line in proc.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
        proc.wait()
    except BaseException:
        stop_group(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) if on_line else None, None)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that cleanup (stopping children, bookkeeping) runs."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into an exception (the default action would skip every finally block)."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
