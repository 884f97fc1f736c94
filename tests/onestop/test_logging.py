"""Log lines as journald wants them: no second timestamp under systemd, JSON lines on request, and httpx's
per-request lines at DEBUG. Each case runs ``onestop`` in a fresh process, as systemd would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# A real HTTP request through httpx (a local server) and one line of our own, logged by a command's process
# after ``onestop.cli`` has set logging up with the given options.
_SCRIPT = textwrap.dedent("""
    import http.server, logging, sys, threading
    import httpx
    from onestop.cli import app

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    @app.command("probe", hidden=True)
    def probe():
        httpx.get(f"http://127.0.0.1:{server.server_port}/ping")
        logging.getLogger("gateway.sync").warning("central unreachable")

    app(sys.argv[1:] + ["probe"], standalone_mode=False)
""")


def run(*options: str, journal: bool = False) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal:
        env["JOURNAL_STREAM"] = "8:12345"
    done = subprocess.run([sys.executable, "-c", _SCRIPT, *options], env=env, capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stderr.strip().splitlines()


def test_under_systemd_lines_carry_no_timestamp_and_httpx_requests_are_not_logged():
    assert run(journal=True) == ["WARNING gateway.sync: central unreachable"]


def test_on_a_terminal_lines_carry_a_timestamp():
    [line] = run()
    assert line.endswith(" WARNING gateway.sync: central unreachable")
    assert line[:4].isdigit()


def test_json_lines_without_a_time_under_systemd_and_httpx_requests_at_debug():
    lines = [json.loads(line) for line in run("--log-format", "json", "--log-level", "DEBUG", journal=True)]
    ours = [line for line in lines if line["logger"] == "gateway.sync"]
    assert ours == [{"level": "WARNING", "logger": "gateway.sync", "message": "central unreachable"}]
    requests = [line for line in lines if line["logger"] == "httpx"]
    assert requests and all(line["level"] == "DEBUG" for line in requests)
    assert "GET" in requests[0]["message"]


def test_plain_format_asked_for_outside_systemd():
    assert run("--log-format", "plain") == ["WARNING gateway.sync: central unreachable"]
