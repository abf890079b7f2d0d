#!/usr/bin/env python3
"""windlass-demo-api: the backend of Windlass' demo stack (image local/windlass-demo-api:1).

A small JSON API over PostgreSQL, built by scripts/build-test-images.sh (target demo-api):

  GET  /healthz      200 {"status": "ok"} when `SELECT 1` on the database succeeds, else 503
  GET  /livez        200 {"status": "alive"} whenever the process serves (for a liveness check
                     that must not restart the api because its database is down)
  GET  /api/visits   the latest visits, newest first, as a JSON list (one row per line);
                     ?limit=N (1 to 1000, default 20)
  POST /api/visits   records a visit: body empty, JSON {"note": "..."} or a form note=...;
                     201 with the row
  GET  /api/info     {"hostname", "revision" (env APP_REVISION), "started_at", "database"}

Environment: DATABASE_URL (required; a libpq URI such as postgres://app:secret@db:5432/app),
PORT (default 8080), APP_REVISION (default "unknown").

It listens at once and never exits because the database is missing: a background thread
retries the connection with backoff, /healthz answers 503 until a query succeeds, and every
request opens a new connection if the cached ones broke (PostgreSQL restarted). The table is
created on first use. SIGTERM or SIGINT stops it within half a second, exit status 0.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.extensions

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    served_by text        NOT NULL,
    note      text        NOT NULL DEFAULT ''
)
"""
# Two replicas starting together could both run CREATE TABLE IF NOT EXISTS and one would fail
# on the catalog's unique index; a transaction-scoped advisory lock serialises them. (Both
# statements in one execute() run as one implicit transaction, even in autocommit mode.)
SCHEMA_LOCK = 0x77696E64  # "wind"
MAX_IDLE_CONNECTIONS = 4
MAX_NOTE = 200


def log(message):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(f"{stamp} windlass-demo-api: {message}", file=sys.stderr, flush=True)


def first_line(error):
    """The first line of an exception's message (psycopg2's run over several), or its type."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def describe_dsn(dsn):
    """host:port/dbname of a DATABASE_URL, without the password (for logs and /api/info)."""
    try:
        parsed = urllib.parse.urlsplit(dsn)
        return f"{parsed.hostname}:{parsed.port or 5432}{parsed.path}"
    except ValueError:
        return "(unparsable DATABASE_URL)"


class Database:
    """Connections to PostgreSQL: a few idle ones are kept; a broken one is dropped."""

    def __init__(self, dsn):
        self.dsn = dsn
        self.idle = []
        self.lock = threading.Lock()
        self.schema_ready = False

    def _connect(self):
        conn = psycopg2.connect(
            self.dsn,
            connect_timeout=2,  # libpq's minimum
            application_name="windlass-demo-api",
            options="-c statement_timeout=5000",
        )
        conn.autocommit = True
        return conn

    def run(self, fn):
        """Calls fn(cursor) on a connection and returns its result; errors propagate.

        An idle connection that turns out dead (PostgreSQL restarted since it was used) is
        dropped with every other idle one, and fn runs once more on a new connection: the
        server never saw the statement, and the caller should not get a 503 for a database
        that is up.
        """
        with self.lock:
            conn = self.idle.pop() if self.idle else None
        if conn is not None:
            try:
                return self._run_on(conn, fn)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.close()
        return self._run_on(self._connect(), fn)

    def _run_on(self, conn, fn):
        try:
            with conn.cursor() as cur:
                result = fn(cur)
        except BaseException:
            conn.close()
            raise
        with self.lock:
            if len(self.idle) < MAX_IDLE_CONNECTIONS and not conn.closed:
                self.idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return result

    def ensure_schema(self):
        if self.schema_ready:
            return
        self.run(lambda cur: cur.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {SCHEMA}"))
        self.schema_ready = True

    def ping(self):
        self.run(lambda cur: cur.execute("SELECT 1"))

    def close(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def wait_for_database(db, stopping):
    """Connects at startup, retrying with backoff, so the log says when the database is there."""
    delay, attempt = 0.5, 0
    while not stopping.is_set():
        attempt += 1
        try:
            db.ensure_schema()
            log(f"database {describe_dsn(db.dsn)} ready after {attempt} attempt(s)")
            return
        except psycopg2.Error as e:
            log(f"database not ready ({first_line(e)}); retrying in {delay:.1f}s")
        stopping.wait(delay)
        delay = min(delay * 2, 5.0)


def row_json(row):
    visit_id, at, served_by, note = row
    return {"id": visit_id, "at": at.isoformat(), "served_by": served_by, "note": note}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "windlass-demo-api/1"
    timeout = 30  # an idle keep-alive connection holds a thread; let it go
    db = None  # set in main()
    info = None
    healthy = None  # last /healthz outcome, to log changes only

    def send_json(self, status, body, compact_rows=False):
        if compact_rows:
            # A list with one row per line: valid JSON that a shell script can read line by line.
            text = "[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in body) + "\n]\n"
        else:
            text = json.dumps(body, sort_keys=True) + "\n"
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_json(self, status, code, message):
        self.send_json(status, {"error": {"code": code, "message": message}})

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # requests are logged by log_request below, health checks only on change

    def log_request(self, code="-", size="-"):
        if self.path in ("/healthz", "/livez"):
            return
        log(f'{self.address_string()} "{self.requestline}" {code}')

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        return url.path.rstrip("/") or "/", urllib.parse.parse_qs(url.query)

    def database_failed(self, e):
        reason = first_line(e)
        log(f'"{self.requestline}": database error: {reason}')
        self.send_error_json(503, "database-unavailable", reason)

    def do_GET(self):
        path, query = self.route()
        if path == "/healthz":
            self.healthz()
        elif path == "/livez":
            self.send_json(200, {"status": "alive"})
        elif path == "/api/info":
            self.send_json(200, self.info)
        elif path == "/api/visits":
            self.list_visits(query)
        else:
            self.send_error_json(404, "not-found", f"no route for GET {path}")

    do_HEAD = do_GET

    def do_POST(self):
        path, _ = self.route()
        if path == "/api/visits":
            self.add_visit()
            return
        self.close_connection = True  # the body is not read, so the connection cannot be reused
        if path in ("/healthz", "/livez", "/api/info"):
            self.send_error_json(405, "method-not-allowed", f"{path} answers GET only")
        else:
            self.send_error_json(404, "not-found", f"no route for POST {path}")

    def healthz(self):
        try:
            self.db.ping()
            ok, reason = True, None
        except psycopg2.Error as e:
            ok, reason = False, first_line(e)
        if ok != Handler.healthy:
            Handler.healthy = ok
            log("healthz: ok" if ok else f"healthz: unavailable ({reason})")
        if ok:
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(503, {"status": "unavailable", "error": reason})

    def list_visits(self, query):
        try:
            limit = int(query.get("limit", ["20"])[0])
            if not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            self.send_error_json(
                400, "invalid-limit", "limit must be a whole number from 1 to 1000"
            )
            return

        def select(cur):
            cur.execute(
                "SELECT id, at, served_by, note FROM visits ORDER BY id DESC LIMIT %s", (limit,)
            )
            return cur.fetchall()

        try:
            self.db.ensure_schema()
            rows = self.db.run(select)
        except psycopg2.Error as e:
            self.database_failed(e)
            return
        self.send_json(200, [row_json(r) for r in rows], compact_rows=True)

    def read_note(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 * 1024:
            raise ValueError("body too large")
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if not body.strip():
            return ""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind == "application/json":
            value = json.loads(body)
            if not isinstance(value, dict):
                raise ValueError("the JSON body must be an object")
            note = value.get("note", "")
        else:  # a form, as busybox wget --post-data sends it
            note = urllib.parse.parse_qs(body).get("note", [""])[0]
        if not isinstance(note, str):
            raise ValueError("note must be a string")
        return note[:MAX_NOTE]

    def add_visit(self):
        try:
            note = self.read_note()
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            self.close_connection = True  # the body may be partly unread
            self.send_error_json(400, "invalid-body", str(e))
            return

        def insert(cur):
            cur.execute(
                "INSERT INTO visits (served_by, note) VALUES (%s, %s)"
                " RETURNING id, at, served_by, note",
                (self.info["hostname"], note),
            )
            return cur.fetchone()

        try:
            self.db.ensure_schema()
            row = self.db.run(insert)
        except psycopg2.Error as e:
            self.database_failed(e)
            return
        self.send_json(201, row_json(row))


def main():
    dsn = os.environ.get("DATABASE_URL", "")
    if not dsn:
        log("error: DATABASE_URL is not set (expected e.g. postgres://app:secret@db:5432/app)")
        return 2
    try:
        psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError as e:
        # A typo is not a database that is still starting: say so and stop rather than retry.
        log(f"error: DATABASE_URL is not a valid libpq URI or connection string: {first_line(e)}")
        return 2
    try:
        port = int(os.environ.get("PORT", "8080"))
    except ValueError:
        log(f"error: PORT must be a port number, got {os.environ['PORT']!r}")
        return 2

    db = Database(dsn)
    Handler.db = db
    Handler.info = {
        "hostname": socket.gethostname(),
        "revision": os.environ.get("APP_REVISION", "unknown"),
        "started_at": datetime.now(timezone.utc).isoformat(),
        "database": describe_dsn(dsn),
    }
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True  # in-flight requests do not hold up the exit

    stopping = threading.Event()

    def stop(signum, _frame):
        log(f"{signal.Signals(signum).name}: stopping")
        stopping.set()
        # shutdown() waits for serve_forever() to return, so not from its own thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    threading.Thread(target=wait_for_database, args=(db, stopping), daemon=True).start()
    log(f"listening on :{port}, revision {Handler.info['revision']}, database {describe_dsn(dsn)}")
    started = time.monotonic()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    db.close()
    log(f"stopped after {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
