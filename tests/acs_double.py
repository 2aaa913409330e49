"""A local HTTP test double of the ACS SMS send endpoint (`POST /sms?api-version=...`).

It checks every request's ACS HMAC signature against its access key (401 otherwise), records
the messages it accepted, and can be told to fail the next N requests with a 503.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.acs_auth import AuthError, verify_request

ACS_KEY = base64.b64encode(b"acs-test-double-access-key-0123456789").decode()


@dataclass
class SentSms:
    from_: str
    to: str
    message: str


class _Server(ThreadingHTTPServer):
    # The default backlog (5) resets connections when many replies go out at once (a burst of
    # STOPs); the real service does not, so neither may its double.
    request_queue_size = 256
    daemon_threads = True


@dataclass
class AcsDouble:
    key: str = ACS_KEY
    sent: list[SentSms] = field(default_factory=list)
    refused: int = 0
    requests: int = 0  # send requests accepted (each may carry several recipients)
    fail_next: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.endpoint};accesskey={self.key}"

    def start(self) -> AcsDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as ACS: a client reuses connections
            disable_nagle_algorithm = True  # headers and body leave at once

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                url = f"http://{headers.get('host', '')}{self.path}"
                try:
                    verify_request(
                        "POST",
                        url,
                        headers,
                        body,
                        [base64.b64decode(double.key)],
                        max_skew_seconds=900,
                    )
                except AuthError as exc:
                    with double._lock:
                        double.refused += 1
                    self._reply(401, {"error": {"code": "Denied", "message": str(exc)}})
                    return
                if not self.path.startswith("/sms?"):
                    self._reply(404, {"error": {"code": "NotFound", "message": self.path}})
                    return
                with double._lock:
                    if double.fail_next > 0:
                        double.fail_next -= 1
                        self._reply(503, {"error": {"code": "ServiceUnavailable"}})
                        return
                request = json.loads(body)
                results = []
                with double._lock:
                    double.requests += 1
                    for recipient in request["smsRecipients"]:
                        double.sent.append(
                            SentSms(request["from"], recipient["to"], request["message"])
                        )
                        results.append(
                            {
                                "to": recipient["to"],
                                "messageId": f"Outgoing_{uuid.uuid4().hex}",
                                "httpStatusCode": 202,
                                "successful": True,
                            }
                        )
                self._reply(202, {"value": results})

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
