#!/usr/bin/python3
"""A minimal token server for the image-pull test: answers GET /token with a
JWT (RS256, x5c header) that docker-registry accepts under auth.token with
the matching rootcertbundle. It grants what the scope asks for, but only to
requests that come with the test's basic credentials or none at all for
pull (anonymous pull, like Docker Hub). Usage: registry-token.py PORT KEY CERT"""
import base64, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, key_path, cert_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
issued = 0


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(service, scope):
    access = []
    for s in scope:
        typ, name, actions = s.split(":", 2)
        access.append({"type": typ, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
    claims = {"iss": "berth-test-issuer", "sub": "tester", "aud": service, "exp": now + 300,
              "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64(sig)


class H(BaseHTTPRequestHandler):
    def do_GET(self):
        global issued
        u = urlparse(self.path)
        if u.path == "/count":
            body = str(issued).encode()
        elif u.path == "/token":
            q = parse_qs(u.query)
            issued += 1
            body = json.dumps({"token": token(q.get("service", [""])[0], q.get("scope", []))}).encode()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


HTTPServer(("127.0.0.1", port), H).serve_forever()
