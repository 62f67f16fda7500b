"""DB-API pieces shared by the Python driver programs of the client matrix
(test/clients/python/driver.py under Debian's python3, and
test/clients/pydrivers/driver.py in the drivers' virtual environment).

Standard library only, so it imports under either interpreter. Each function
records what the client observed into the caller's `out` dict; the Go tests
in test/e2e assert on it.
"""

import datetime
import decimal
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
