"""An OTLP/HTTP trace receiver (protobuf, decoded with PyPI opentelemetry-proto) and a webhook
sink, for tests/api/ops.rs. Prints `READY <port>` once listening (OTLP_PORT=0 picks one).

  POST /v1/traces   ExportTraceServiceRequest -> recorded spans
  POST /hook        a webhook delivery -> its headers recorded, 204
  GET  /_spans      [{trace_id, span_id, parent_span_id, name, attributes, events}]
  GET  /_hooks      [{headers}]
"""
import gzip
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

spans = []
hooks = []
lock = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    return str(getattr(v, kind)) if kind else ""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _body(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        return raw

    def _send(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self._body()
        if self.path == "/v1/traces":
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            with lock:
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        for sp in ss.spans:
                            spans.append({
                                "trace_id": sp.trace_id.hex(),
                                "span_id": sp.span_id.hex(),
                                "parent_span_id": sp.parent_span_id.hex(),
                                "name": sp.name,
                                "attributes": {a.key: value(a.value) for a in sp.attributes},
                                "events": [
                                    {"name": e.name, "attributes": {a.key: value(a.value) for a in e.attributes}}
                                    for e in sp.events
                                ],
                            })
            self._send(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")
        elif self.path == "/hook":
            with lock:
                hooks.append({"headers": {k.lower(): v for k, v in self.headers.items()}})
            self._send(204)
        else:
            self._send(404)

    def do_GET(self):
        with lock:
            data = spans if self.path == "/_spans" else hooks if self.path == "/_hooks" else None
            if data is None:
                self._send(404)
            else:
                self._send(200, json.dumps(data).encode())


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("OTLP_PORT", "0"))), Handler)
print(f"READY {server.server_address[1]}", flush=True)
server.serve_forever()
