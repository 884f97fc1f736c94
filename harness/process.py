"""What the harness's child processes (the broker, central, the gateway) share: are they running, how did they
end, which pid."""

from __future__ import annotations

import subprocess
from typing import Any


class ChildProcess:
    """A process the harness started and owns; ``_proc`` is None until started."""

    _proc: subprocess.Popen[Any] | None = None

    def _kill_now(self) -> None:
        """SIGKILL and reap, if it is still running."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    @property
    def running(self) -> bool:
        return bool(self._proc and self._proc.poll() is None)

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended (reaping it: no zombie stays behind), else None."""
        return self._proc.poll() if self._proc else None

    @property
    def pid(self) -> int | None:
        """The process id while started (tests read its memory in ``/proc``)."""
        return self._proc.pid if self._proc else None
