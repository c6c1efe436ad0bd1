"""Stand-in app of the agent-conformance cases: answers 200 on every path, finishes its requests on SIGTERM."""

import http.server
import os
import signal
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() then waits for the requests in flight


server = Server(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
