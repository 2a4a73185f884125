"""Start JupyterLab on the course (what ``make lab`` runs).

- As root (containers, Codespaces, cloud VMs), JupyterLab refuses to start without
  ``--allow-root``: this script adds it and says so in one line.
- Without a web browser on the machine (no display, none installed), it does not try to open one.
- The last line printed is the URL to open, with its token. The server's own log goes to
  ``.venv/lab.log`` after that, so the URL stays the last thing on screen; Ctrl-C stops the server.

Usage: python scripts/lab.py [--port PORT] [--ip IP] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import webbrowser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URL_PATTERN = re.compile(r"(https?://(?:127\.0\.0\.1|localhost|\[::1\])[^\s]*\?token=\w+)")


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def browser_available() -> bool:
    """True if Python's ``webbrowser`` would find a browser to open (needs a display on Linux)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def lab_command(port: int | None, ip: str | None, open_browser: bool) -> list[str]:
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    cmd = [jupyter, "lab", f"--notebook-dir={ROOT / 'notebooks'}"]
    if running_as_root():
        cmd.append("--allow-root")
    if not open_browser:
        cmd.append("--no-browser")
    if port is not None:
        cmd += [f"--port={port}", "--port-retries=0"]
    if ip is not None:
        cmd.append(f"--ip={ip}")
    return cmd


def _pump_to_log(stream, log_path: Path) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        for line in stream:
            log.write(line)
            log.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start JupyterLab on the course notebooks.")
    parser.add_argument("--port", type=int, default=None, help="port (default: JupyterLab's)")
    parser.add_argument("--ip", default=None, help="address to listen on (default: localhost)")
    parser.add_argument("--no-browser", action="store_true", help="never open a browser")
    args = parser.parse_args(argv)

    open_browser = not args.no_browser and browser_available()
    if running_as_root():
        print("Running as root: starting JupyterLab with --allow-root.", flush=True)
    if not open_browser:
        print("No web browser here: open the URL below in one.", flush=True)
    cmd = lab_command(args.port, args.ip, open_browser)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    log_path = ROOT / ".venv" / "lab.log"
    log_path.parent.mkdir(exist_ok=True)
    url = None
    for line in proc.stdout:  # the server's start-up, shown until the URL appears
        sys.stdout.write(line)
        match = URL_PATTERN.search(line)
        if match:
            url = match.group(1)
            break
    if url is None:
        return proc.wait() or 1
    print(f"(the server's log continues in {log_path.relative_to(ROOT)}; Ctrl-C stops it)")
    print(f"Open: {url}", flush=True)
    threading.Thread(target=_pump_to_log, args=(proc.stdout, log_path), daemon=True).start()
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # JupyterLab asks for confirmation on the first one
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
