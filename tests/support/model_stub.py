#!/usr/bin/env python3
"""A stand-in for an OpenAI-compatible chat completions server, for tests on loopback.

It answers POST .../chat/completions with "echo: " + the last user message, plainly or as a
server-sent event stream (as the request's "stream" asks), and records every request it gets
(method, path, headers, JSON body) as one JSON line in the --log file.

The last user message may carry one directive in double brackets that changes the answer:
  [[fail]]     HTTP 500 with an OpenAI-style error object
  [[limit]]    HTTP 429 (rate limited)
  [[garbage]]  HTTP 200 whose body (or stream chunk) is not JSON
  [[stall]]    accepts the request and never answers (until the client gives up)
  [[cut]]      a stream that stops after one chunk without [DONE] and closes
  [[huge]]     an answer of 1 MiB
Only 127.0.0.0/8 is served. Standard library only; stops by itself after --lifetime seconds.
"""
import argparse
import json
import os
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIRECTIVE = re.compile(r"\[\[(\w+)\]\]")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-stub/1"

    def log_message(self, *args):  # keep stderr quiet
        pass

    def record(self, body):
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        with self.server.log_lock, open(self.server.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def send_json(self, status, document):
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        self.record(body)
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no such route"}})
            return
        messages = body.get("messages", []) if isinstance(body, dict) else []
        last = next((m.get("content", "") for m in reversed(messages)
                     if isinstance(m, dict) and m.get("role") == "user"), "")
        found = DIRECTIVE.search(last)
        directive = found.group(1) if found else ""
        answer = "echo: " + DIRECTIVE.sub("", last).strip()
        if directive == "huge":
            answer = "x" * (1 << 20)
        if directive == "stall":
            time.sleep(self.server.lifetime)
            return
        if directive == "fail":
            self.send_json(500, {"error": {"message": "the model crashed", "type": "server_error"}})
            return
        if directive == "limit":
            self.send_json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit"}})
            return
        if body.get("stream"):
            self.stream(answer, directive)
            return
        if directive == "garbage":
            payload = b"{\"choices\": [ this is not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_json(200, {"id": "stub-1", "object": "chat.completion",
                             "model": body.get("model", ""),
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": answer}}]})

    def stream(self, answer, directive):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(data):
            self.wfile.write(("data: " + data + "\n\n").encode())
            self.wfile.flush()

        event(json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        if directive == "garbage":
            event("{not json")
            return
        pieces = [answer[i:i + 7] for i in range(0, len(answer), 7)] or [""]
        for number, piece in enumerate(pieces):
            event(json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}))
            if directive == "cut":
                return
            if number < 3:
                time.sleep(0.01)
        event(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        event("[DONE]")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True, help="the port chosen is written here")
    parser.add_argument("--log", required=True, help="one JSON line per request")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--lifetime", type=float, default=120.0)
    options = parser.parse_args()
    if not options.host.startswith("127."):
        sys.exit("model_stub: only 127.0.0.0/8 is served")
    server = ThreadingHTTPServer((options.host, options.port), Handler)
    server.daemon_threads = True
    server.log_path = options.log
    server.log_lock = threading.Lock()
    server.lifetime = options.lifetime
    if options.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.tls[0], options.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    open(options.log, "a").close()
    with open(options.port_file + ".tmp", "w") as port_file:
        port_file.write(str(server.server_address[1]))
    os.replace(options.port_file + ".tmp", options.port_file)
    threading.Timer(options.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
