#!/usr/bin/python3
"""A proxy in front of a real docker-registry, for zr's registry tests (RegistryTests.swift).

Modes:
  token    Bearer token authentication (distribution "Token Authentication Specification"):
           /token issues opaque tokens for the scopes asked, after a scope check (anonymous:
           pull of public/* only; with --user/--password: pull and push everywhere); /v2/
           requests need a token whose scopes cover the repository and action.
  corrupt  flips one byte in the middle of every blob larger than 1 KiB.
  cut      the first GET of each blob without a Range header is cut after half its body.
  429      the first request for each URL path is answered 429 Too Many Requests.
  lying    manifests served by tag claim every layer is 100 bytes smaller than it is.
  redirect blob GETs redirect to themselves forever (?hop=N+1).
  forward  an HTTP forward proxy: CONNECT tunnels (what AsyncHTTPClient sends for every URL) and
           absolute-form request targets; either way the target is the backend.
Statistics (requests, ranges, 429s, scopes, tokens) are served as JSON at /_stats.
The chosen port is printed on stdout, then the proxy serves until killed.
"""
import argparse, base64, http.client, http.server, json, re, secrets, signal, socketserver, ssl, sys, threading

# Started from a test thread, we may inherit blocked signals: let SIGTERM end us.
signal.pthread_sigmask(signal.SIG_UNBLOCK, range(1, signal.NSIG))

parser = argparse.ArgumentParser()
parser.add_argument("--backend", required=True)      # host:port of the plain-HTTP registry
parser.add_argument("--mode", required=True)
parser.add_argument("--user")
parser.add_argument("--password")
parser.add_argument("--cert")
parser.add_argument("--key")
args = parser.parse_args()

lock = threading.Lock()
stats = {"proxied": 0, "requests": 0, "ranges": 0, "throttled": 0, "cut": 0, "corrupted": 0, "redirects": 0,
         "scopes": [], "tokens": 0, "denied": 0}
tokens = {}      # token -> set of (repository, action)
seen = set()     # paths answered 429 / blobs cut once
BLOB = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
REPO = re.compile(r"^/v2/(.+)/(blobs|manifests|tags)/")


def bump(key, n=1):
    with lock:
        stats[key] += n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_plain(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    # --- token mode -------------------------------------------------------------------------
    def scheme(self):
        return "https" if args.cert else "http"

    def challenge(self, scope=None):
        realm = f'{self.scheme()}://{self.headers["Host"]}/token'
        value = f'Bearer realm="{realm}",service="zr-test"'
        if scope:
            value += f',scope="{scope}"'
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}).encode()
        self.send_plain(401, body, [("WWW-Authenticate", value), ("Content-Type", "application/json")])

    def issue_token(self, query):
        authed = False
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if user != args.user or password != args.password:
                bump("denied")
                return self.send_plain(401, b'{"details":"invalid credentials"}', [("Content-Type", "application/json")])
            authed = True
        granted = set()
        for scope in [v for k, v in query if k == "scope"]:
            with lock:
                stats["scopes"].append(scope)
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            repo, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            for action in actions:
                if authed or (action == "pull" and repo.startswith("public/")):
                    granted.add((repo, action))
        token = secrets.token_hex(16)
        with lock:
            tokens[token] = granted
            stats["tokens"] += 1
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_plain(200, body, [("Content-Type", "application/json")])

    def authorized(self, path):
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        with lock:
            granted = tokens.get(token)
        if granted is None:
            self.challenge()
            return False
        m = REPO.match(path)
        if not m:
            return True  # /v2/ itself: any valid token
        repo = m.group(1)
        action = "pull" if self.command in ("GET", "HEAD") else "push"
        if self.command == "POST" and "mount=" in self.path:
            # A mount also reads the source repository.
            source = re.search(r"from=([^&]+)", self.path)
            if source and (source.group(1), "pull") not in granted:
                self.challenge(f"repository:{repo}:pull,push")
                return False
        if (repo, action) not in granted:
            self.challenge(f"repository:{repo}:{'pull' if action == 'pull' else 'pull,push'}")
            return False
        return True

    # --- forwarding -------------------------------------------------------------------------
    def handle_any(self):
        bump("requests")
        if self.path.startswith("http://"):
            # A forward-proxy request: the target is the backend whatever host it names.
            bump("proxied")
            rest = self.path[len("http://"):]
            self.path = rest[rest.index("/"):] if "/" in rest else "/"
        path, _, query = self.path.partition("?")
        if path == "/_stats":
            with lock:
                body = json.dumps(stats).encode()
            return self.send_plain(200, body, [("Content-Type", "application/json")])
        if args.mode == "token":
            if path == "/token":
                pairs = [tuple(p.split("=", 1)) for p in query.split("&") if "=" in p]
                from urllib.parse import unquote_plus
                return self.issue_token([(k, unquote_plus(v)) for k, v in pairs])
            if path.startswith("/v2/") and not self.authorized(path):
                return
        if "Range" in self.headers:
            bump("ranges")
        if args.mode == "429":
            with lock:
                first = path not in seen
                seen.add(path)
            if first:
                bump("throttled")
                return self.send_plain(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
                                       [("Retry-After", "0"), ("Content-Type", "application/json")])
        if args.mode == "redirect" and self.command == "GET" and BLOB.match(path):
            hop = int(re.search(r"hop=(\d+)", query).group(1)) + 1 if "hop=" in query else 1
            bump("redirects")
            return self.send_plain(307, b"", [("Location", f"{path}?hop={hop}")])
        self.forward(path)

    def forward(self, path):
        length = int(self.headers.get("Content-Length", "0") or "0")
        conn = http.client.HTTPConnection(args.backend, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() in ("authorization", "connection"):
                continue
            conn.putheader(k, v)
        if args.cert:
            conn.putheader("X-Forwarded-Proto", "https")
        conn.endheaders()
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            conn.send(chunk)
            remaining -= len(chunk)
        resp = conn.getresponse()
        body_len = resp.getheader("Content-Length")
        blob = BLOB.match(path)
        manifest = MANIFEST.match(path)
        if args.mode == "lying" and manifest and self.command == "GET" and not manifest.group(2).startswith("sha256:") \
                and resp.status == 200:
            doc = json.loads(resp.read())
            for layer in doc.get("layers", []):
                layer["size"] -= 100
            body = json.dumps(doc).encode()
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("content-length", "docker-content-digest", "connection", "etag")]
            conn.close()
            return self.send_plain(200, body, headers)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("connection", "transfer-encoding"):
                continue
            self.send_header(k, v)
        if body_len is None and self.command != "HEAD" and resp.status not in (204, 304):
            # Chunked from the backend: buffer it (only small bodies are chunked).
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()
            return
        self.end_headers()
        if self.command == "HEAD":
            conn.close()
            return
        total = int(body_len or "0")
        cut_at = None
        corrupt_at = None
        if blob and self.command == "GET" and resp.status == 200 and total > 1024:
            if args.mode == "cut" and "Range" not in self.headers:
                with lock:
                    first = blob.group(2) not in seen
                    seen.add(blob.group(2))
                if first:
                    cut_at = total // 2
            if args.mode == "corrupt":
                corrupt_at = total // 2
        sent = 0
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            if corrupt_at is not None and sent <= corrupt_at < sent + len(chunk):
                i = corrupt_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                bump("corrupted")
            if cut_at is not None and sent + len(chunk) >= cut_at:
                self.wfile.write(chunk[:cut_at - sent])
                self.wfile.flush()
                bump("cut")
                conn.close()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            sent += len(chunk)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def do_CONNECT(self):
        bump("proxied")
        import socket, select
        host, _, port = args.backend.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 120)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(1 << 16)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", 0), Handler)
if args.cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
