#!/usr/bin/python3
"""Driver program for the tdsproxy client-compatibility matrix (Python DB-API clients).

Runs one scenario with one real client library and prints ONE JSON object with
what the client observed. It asserts nothing: the Go test (test/e2e) does.

Clients (TDS_CLIENT):
  pyodbc   pyodbc over the FreeTDS ODBC driver (TDS_ODBC_DRIVER = path of libtdsodbc.so)
  pymssql  pymssql (FreeTDS DB-Library); encryption and read-only intent come from the
           freetds.conf named by FREETDSCONF, which the Go test generates
  pytds    python-tds (pure Python)

Environment: TDS_HOST TDS_PORT TDS_USER TDS_PASSWORD TDS_DATABASE
  TDS_ENCRYPT  plain | login-only | tls   (strict: no Python client here speaks TDS 8)
  TDS_SCENARIO login | types | params | tx-commit | tx-rollback | error | cancel | large | readonly
  TDS_TABLE    a unique table name for the tx scenarios
  TDS_CAFILE   PEM file of the server certificate (pytds needs it for TLS)

Run with Debian's interpreter (/usr/bin/python3): that is where the packages live.
"""

import datetime
import decimal
import json
import os
import sys
import threading

# Shared DB-API helpers (describe, scalar, the login and types scenarios).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pycommon"))
from dbapi import (  # noqa: E402
    describe, env_settings, observe_large, observe_login, observe_types, scalar, timed_waitfor)

ENV = os.environ
CLIENT, HOST, PORT, USER, PASSWORD, DATABASE, ENCRYPT, SCENARIO, TABLE = env_settings("plain")

out = {"client": CLIENT, "scenario": SCENARIO}


# ---------------------------------------------------------------- connecting

def connect(readonly=False, autocommit=True, timeout=None):
    if CLIENT == "pyodbc":
        import pyodbc
        enc = {"plain": "off", "login-only": "request", "tls": "require"}[ENCRYPT]
        parts = [
            "Driver=" + ENV.get("TDS_ODBC_DRIVER", "FreeTDS"),
            "Server=" + HOST,
            "Port=" + str(PORT),
            "Database=" + DATABASE,
            "UID=" + USER,
            "PWD={" + PASSWORD.replace("}", "}}") + "}",
            "TDS_Version=7.4",
            "Encryption=" + enc,
            "ClientCharset=UTF-8",
        ]
        if readonly:
            parts.append("ApplicationIntent=ReadOnly")
        conn = pyodbc.connect(";".join(parts), autocommit=autocommit, timeout=10)
        if timeout:
            conn.timeout = timeout
        return conn
    if CLIENT == "pymssql":
        import pymssql
        # Encryption and read-only intent are set in $FREETDSCONF ([global]).
        return pymssql.connect(server=HOST, port=str(PORT), user=USER, password=PASSWORD,
                               database=DATABASE, tds_version="7.3", autocommit=autocommit,
                               login_timeout=10, timeout=timeout or 0)
    if CLIENT == "pytds":
        import pytds
        kw = dict(server=HOST, port=PORT, database=DATABASE, user=USER, password=PASSWORD,
                  autocommit=autocommit, readonly=readonly, login_timeout=10,
                  disable_connect_retry=True)
        if timeout:
            kw["timeout"] = timeout
        if ENCRYPT in ("tls", "login-only"):
            kw["cafile"] = ENV["TDS_CAFILE"]
            kw["validate_host"] = False
            kw["enc_login_only"] = ENCRYPT == "login-only"
        return pytds.connect(**kw)
    raise SystemExit("unknown TDS_CLIENT %r" % CLIENT)


def version():
    if CLIENT == "pyodbc":
        import pyodbc
        return pyodbc.version
    if CLIENT == "pymssql":
        import pymssql
        return pymssql.__version__
    if CLIENT == "pytds":
        import importlib.metadata as md
        try:
            return md.version("python-tds")
        except md.PackageNotFoundError:
            return "unknown"
    return "unknown"


def placeholder():
    return "?" if CLIENT == "pyodbc" else "%s"


# ---------------------------------------------------------------- values

def error_info(e):
    """Error number (when the client exposes it natively) and message text."""
    number = None
    msg = str(e)
    if CLIENT == "pymssql":
        if e.args and isinstance(e.args[0], int):
            number = e.args[0]
            if len(e.args) > 1:
                m = e.args[1]
                msg = m.decode("utf-8", "replace") if isinstance(m, bytes) else str(m)
    elif CLIENT == "pytds":
        number = getattr(e, "msg_no", None) or getattr(e, "number", None)
        msg = getattr(e, "text", None) or msg
    elif CLIENT == "pyodbc":
        # The FreeTDS ODBC driver puts the native error number in the message
        # text, e.g. "... Invalid object name 'x'. (208) (SQLExecDirectW)".
        if len(e.args) > 1:
            msg = str(e.args[1])
    return {"number": number, "message": msg, "class": type(e).__name__}


# ---------------------------------------------------------------- scenarios

def s_login():
    conn = connect()
    observe_login(conn, out)
    conn.close()


def s_types():
    conn = connect()
    observe_types(conn, out)
    conn.close()


def s_params():
    conn = connect()
    p = placeholder()
    cur = conn.cursor()
    args = (41, u"h\u00e9llo w\u00f6rld \u2603", decimal.Decimal("12.3450"),
            datetime.datetime(2024, 2, 29, 13, 45, 30))
    cur.execute("SELECT {0} AS i, {0} AS s, {0} AS d, {0} AS t".format(p), args)
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    out["params"] = {n: describe(v) for n, v in zip(names, row)}
    cur.close()
    out["param_count"] = scalar(conn, "SELECT COUNT(*) FROM dbo.numbers WHERE n <= %s" % p, (41,))
    conn.close()


def s_tx(commit):
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.%s (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)" % TABLE)
    try:
        if CLIENT == "pymssql":
            conn.autocommit(False)
        else:
            conn.autocommit = False
        p = placeholder()
        cur.execute("INSERT INTO dbo.%s (id, v) VALUES (%s, %s)" % (TABLE, p, p), (1, "one"))
        cur.execute("INSERT INTO dbo.%s (id, v) VALUES (%s, %s)" % (TABLE, p, p), (2, "two"))
        out["count_in_tx"] = scalar(conn, "SELECT COUNT(*) FROM dbo.%s" % TABLE)
        if commit:
            conn.commit()
        else:
            conn.rollback()
        other = connect()
        out["count_after"] = scalar(other, "SELECT COUNT(*) FROM dbo.%s" % TABLE)
        other.close()
    finally:
        cleanup = connect()
        cleanup.cursor().execute("DROP TABLE dbo.%s" % TABLE)
        cleanup.close()
    conn.close()


def run_expect_error(conn, sql):
    cur = conn.cursor()
    try:
        cur.execute(sql)
        if cur.description is not None:  # errors may surface while fetching
            cur.fetchall()
    except Exception as e:  # the error is the observation
        return error_info(e)
    return None


def s_error():
    conn = connect()
    out["errors"] = [
        run_expect_error(conn, "SELECT * FROM dbo.no_such_table_e2e"),
        run_expect_error(conn, "SELECT 1/0"),
    ]
    out["after"] = scalar(conn, "SELECT 1")
    conn.close()


def s_cancel():
    """Cancel WAITFOR DELAY '00:00:05' through the client's own mechanism."""
    if CLIENT == "pytds":
        # python-tds reads the socket in the thread that runs the query, so
        # Cursor.cancel() from another thread races it for the attention
        # acknowledgement. Its own mechanism is the query timeout: the read
        # times out, and an Attention is sent (and acknowledged) before the
        # next request on the connection.
        cancel_after = 1.0
        conn = connect(timeout=1)
        out["cancel_mechanism"] = "query timeout (Attention before the next request)"
    else:
        cancel_after = 0.3
        conn = connect()
        out["cancel_mechanism"] = "Cursor.cancel() from another thread (SQLCancel)"
    cur = conn.cursor()
    timer = None
    if CLIENT != "pytds":
        timer = threading.Timer(cancel_after, cur.cancel)
        timer.start()
    timed_waitfor(cur, out, error_info)
    out["cancel_after_ms"] = int(cancel_after * 1000)
    if timer is not None:
        timer.cancel()
    cur.close()
    out["after"] = scalar(conn, "SELECT 1")
    conn.close()


def s_large():
    observe_large(connect(), out)


def s_readonly():
    conn = connect(readonly=True)
    out["server_name"] = scalar(conn, "SELECT @@SERVERNAME")
    out["read_count"] = scalar(conn, "SELECT COUNT(*) FROM dbo.customers")
    out["write_error"] = run_expect_error(conn, "CREATE TABLE dbo.%s (id int)" % TABLE)
    conn.close()


SCENARIOS = {
    "login": s_login,
    "types": s_types,
    "params": s_params,
    "tx-commit": lambda: s_tx(True),
    "tx-rollback": lambda: s_tx(False),
    "error": s_error,
    "cancel": s_cancel,
    "large": s_large,
    "readonly": s_readonly,
}


def main():
    if SCENARIO not in SCENARIOS:
        print("unknown TDS_SCENARIO %r" % SCENARIO, file=sys.stderr)
        return 2
    try:
        out["version"] = version()
        SCENARIOS[SCENARIO]()
    except Exception as e:
        info = error_info(e)
        out["failure"] = {"message": "%s: %s" % (info["class"], info["message"]),
                          "number": info["number"]}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
