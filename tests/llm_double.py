"""A stand-in LLM provider for CI's run of schemathesis against example-server: a real HTTP
server on loopback speaking OpenAI's chat-completions wire format, whole and streamed (server-sent
events, `stream_options.include_usage`, `data: [DONE]`) and embeddings, so the AI plugin takes the
path it takes against a real provider. It answers every prompt with its first words back, and
embeds each input as three numbers.

    python3 tests/llm_double.py PORT_FILE    # writes the port it listens on to PORT_FILE
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, value):
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/v1/embeddings":
            inputs = request.get("input")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
            tokens = sum(len(str(i).split()) + 1 for i in inputs)
            self.send_json({
                "object": "list",
                "data": [{"object": "embedding", "index": n,
                          "embedding": [float(len(str(i))), float(len(str(i).split())), 1.0]}
                         for n, i in enumerate(inputs)],
                "model": request.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            })
            return
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        prompt = str(request.get("messages", [{}])[0].get("content", ""))
        words = ["echo:"] + prompt.split()[:5]
        usage = {
            "prompt_tokens": len(prompt.split()) + 3,
            "completion_tokens": len(words),
            "total_tokens": len(prompt.split()) + 3 + len(words),
        }
        if not request.get("stream"):
            self.send_json({
                "id": "chatcmpl-ci",
                "object": "chat.completion",
                "model": request.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                             "finish_reason": "stop"}],
                "usage": usage,
            })
            return
        events = [{"choices": [{"index": 0, "delta": {"content": (" " if i else "") + w}}]}
                  for i, w in enumerate(words)]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({"choices": [], "usage": usage})
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        body = body.encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
