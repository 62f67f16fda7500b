"""DB-API pieces shared by the Python driver programs of the client matrix
(test/clients/python/driver.py under Debian's python3, and
test/clients/pydrivers/driver.py in the drivers' virtual environment).

Standard library only, so it imports under either interpreter. Each function
records what the client observed into the caller's `out` dict; the Go tests
in test/e2e assert on it.
"""

import datetime
import decimal
import os
import time
import uuid


def describe(v):
    """A value as {"type": client type name, "value": JSON-friendly form}."""
    t = type(v).__name__
    if v is None:
        return {"type": "None", "value": None}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"type": t, "value": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return {"type": t, "value": str(v)}
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return {"type": t, "value": v.isoformat()}
    if isinstance(v, uuid.UUID):
        return {"type": t, "value": str(v)}
    return {"type": t, "value": v}


def scalar(conn, sql, params=None):
    """The first column of the first row of sql."""
    cur = conn.cursor()
    if params is None:
        cur.execute(sql)
    else:
        cur.execute(sql, params)
    row = cur.fetchone()
    cur.close()
    return row[0]


def observe_login(conn, out):
    """The login scenario: which server and database the session landed on."""
    out["server_name"] = scalar(conn, "SELECT @@SERVERNAME")
    out["database"] = scalar(conn, "SELECT DB_NAME()")
    out["one"] = scalar(conn, "SELECT 1")


def observe_types(conn, out):
    """The types scenario: every column of both dbo.all_types rows, described."""
    cur = conn.cursor()
    cur.execute("SELECT * FROM dbo.all_types ORDER BY id")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    out["row_count"] = len(rows)
    for key, row in zip(("row1", "row2"), rows):
        out[key] = {n: describe(v) for n, v in zip(names, row)}
    cur.close()


def env_settings(default_encrypt):
    """The scenario settings the Go tests pass in TDS_* variables, in the order
    client, host, port, user, password, database, encrypt, scenario, table."""
    env = os.environ
    return (
        env.get("TDS_CLIENT", ""),
        env.get("TDS_HOST", "127.0.0.1"),
        int(env.get("TDS_PORT", "1433")),
        env.get("TDS_USER", ""),
        env.get("TDS_PASSWORD", ""),
        env.get("TDS_DATABASE", "demo"),
        env.get("TDS_ENCRYPT", default_encrypt),
        env.get("TDS_SCENARIO", "login"),
        env.get("TDS_TABLE", "e2e_tx"),
    )


def timed_waitfor(cur, out, error_info):
    """The cancel scenario's statement: a 5 s WAITFOR that the caller arranged
    to be cancelled; records the error the client raised and the time it took."""
    start = time.monotonic()
    try:
        cur.execute("WAITFOR DELAY '00:00:05'")
        out["cancel_error"] = None
    except Exception as e:
        out["cancel_error"] = error_info(e)
    out["elapsed_ms"] = int((time.monotonic() - start) * 1000)


def observe_large(conn, out):
    """The large scenario: 50,000 rows fetched in chunks, counted and summed."""
    cur = conn.cursor()
    cur.execute("SELECT n FROM dbo.numbers WHERE n <= 50000")
    rows = total = 0
    while True:
        chunk = cur.fetchmany(5000)
        if not chunk:
            break
        rows += len(chunk)
        total += sum(r[0] for r in chunk)
    out["rows"] = rows
    out["sum"] = total
    cur.close()
    conn.close()
