"""A stand-in OTLP/HTTP receiver on loopback, for the tests of sending.

usage: otlp-receiver.py PORTFILE OUTDIR

Listens on 127.0.0.1 on a free port, writes the port to PORTFILE, and for
each POST writes OUTDIR/N.json ({path, content_type, headers}) and
OUTDIR/N.body, then answers 200 with an empty ExportTraceServiceResponse
({}). Runs until killed.
"""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Handler.count += 1
        out = os.path.join(sys.argv[2], "%d" % Handler.count)
        with open(out + ".body", "wb") as f:
            f.write(body)
        with open(out + ".json", "w") as f:
            json.dump({"path": self.path,
                       "content_type": self.headers.get("Content-Type"),
                       "headers": {k.lower(): v for k, v in self.headers.items()}}, f)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
