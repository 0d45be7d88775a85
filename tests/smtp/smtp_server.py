#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for the alert tests (python3's ssl only).

  smtp_server.py CERT KEY LOG [--user U --password P] [--auth PLAIN,LOGIN]

Offers STARTTLS (with CERT/KEY) and, after it, AUTH with the given mechanisms
for user U and password P. Prints its port on stdout, then serves until stdin
closes. Each conversation appends one JSON object per line to LOG: whether
TLS was negotiated (and its version), the AUTH mechanism and user accepted or
refused, the envelope and the message.
"""
import argparse
import base64
import json
import socket
import ssl
import sys
import threading


def serve(conn, args, log_lock):
    record = {"tls": None, "auth": None, "auth_user": None, "auth_refused": [],
              "mail_from": None, "rcpt": [], "data": None, "commands": []}
    f = conn.makefile("rb")
    out = conn

    def say(line):
        out.sendall((line + "\r\n").encode())

    def read():
        line = f.readline()
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def ehlo_reply():
        lines = ["250-localhost"]
        if record["tls"] is None:
            lines.append("250-STARTTLS")
        elif args.auth:
            lines.append("250-AUTH " + " ".join(args.auth.split(",")))
        lines.append("250 8BITMIME")
        return "\r\n".join(lines)

    def check(user, password, mechanism):
        if user == args.user and password == args.password:
            record["auth"], record["auth_user"] = mechanism, user
            say("235 2.7.0 Authentication successful")
        else:
            record["auth_refused"].append(mechanism)
            say("535 5.7.8 Authentication credentials invalid")

    say("220 localhost ESMTP test server")
    try:
        while True:
            line = read()
            if line is None:
                break
            verb = line.split(" ", 1)[0].upper()
            record["commands"].append(verb if verb == "AUTH" else line)
            if verb == "EHLO":
                say(ehlo_reply())
            elif verb == "STARTTLS" and record["tls"] is None:
                say("220 2.0.0 Ready to start TLS")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.cert, args.key)
                try:
                    tls = ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    record["tls"] = "handshake failed: %s" % e
                    break
                conn = out = tls
                f = tls.makefile("rb")
                record["tls"] = tls.version()
            elif verb == "AUTH":
                parts = line.split(" ")
                mech = parts[1].upper() if len(parts) > 1 else ""
                if record["tls"] is None or not args.auth or mech not in args.auth.split(","):
                    say("504 5.5.4 mechanism not available")
                elif mech == "PLAIN":
                    raw = base64.b64decode(parts[2]) if len(parts) > 2 else b""
                    _, user, password = (raw.split(b"\0") + [b"", b""])[:3]
                    check(user.decode(), password.decode(), "PLAIN")
                elif mech == "LOGIN":
                    say("334 VXNlcm5hbWU6")
                    user = base64.b64decode(read() or "").decode()
                    say("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(read() or "").decode()
                    check(user, password, "LOGIN")
            elif verb == "MAIL":
                if args.user and record["auth"] is None:
                    say("530 5.7.0 Authentication required")
                else:
                    record["mail_from"] = line[len("MAIL FROM:"):]
                    say("250 2.1.0 ok")
            elif verb == "RCPT":
                record["rcpt"].append(line[len("RCPT TO:"):])
                say("250 2.1.5 ok")
            elif verb == "DATA":
                say("354 go ahead")
                body = []
                while True:
                    d = read()
                    if d is None or d == ".":
                        break
                    body.append(d)
                record["data"] = "\n".join(body)
                say("250 2.0.0 queued")
            elif verb == "QUIT":
                say("221 2.0.0 bye")
                break
            else:
                say("502 5.5.2 command not recognized")
    except (OSError, ssl.SSLError) as e:
        record["error"] = str(e)
    finally:
        with log_lock:
            with open(args.log, "a") as log:
                log.write(json.dumps(record) + "\n")
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cert")
    p.add_argument("key")
    p.add_argument("log")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--auth", default="PLAIN,LOGIN")
    args = p.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    print(srv.getsockname()[1], flush=True)
    lock = threading.Lock()

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c, args, lock), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin
    srv.close()


if __name__ == "__main__":
    main()
