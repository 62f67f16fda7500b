"""Driver program for the tdsproxy compatibility matrix: Microsoft's mssql-python and
SQLAlchemy 2 (over pyodbc 5 and the FreeTDS ODBC driver).

Runs one scenario and prints ONE JSON object with what the client observed; it asserts
nothing (test/e2e/msdrivers_*_test.go does). Run it with the interpreter of the virtual
environment that .ci/install-msdrivers.sh creates (test/clients/pydrivers/.venv).

Clients (TDS_CLIENT):
  mssql-python  Microsoft's driver (its bundled ODBC Driver 18 core; with
                MSSQL_PYTHON_NATIVE_PROVIDER=mssql-odbc, its Rust TDS core instead)
  sqlalchemy    SQLAlchemy 2 ORM over pyodbc 5 + FreeTDS ODBC (TDS_ODBC_DRIVER = libtdsodbc.so),
                in the pattern applications use: an engine with pool_pre_ping=True, a SET
                run by a "connect" event listener, Sessions, rollback on error

Environment: TDS_HOST TDS_PORT TDS_USER TDS_PASSWORD TDS_DATABASE TDS_CAFILE TDS_TABLE
  TDS_ENCRYPT   plain | login-only | tls | strict
  TDS_SCENARIO  login | types | params | tx-commit | tx-rollback | error | cancel | large |
                readonly | orm (sqlalchemy) | pool-reset (mssql-python)
"""

import datetime
import decimal
import json
import os
import sys

# Shared DB-API helpers (describe, scalar, the login and types scenarios).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pycommon"))
from dbapi import (  # noqa: E402
    describe, env_settings, observe_large, observe_login, observe_types, scalar, timed_waitfor)

ENV = os.environ
CLIENT, HOST, PORT, USER, PASSWORD, DATABASE, ENCRYPT, SCENARIO, TABLE = env_settings("tls")

out = {"client": CLIENT, "scenario": SCENARIO}


def odbc_quote(v):
    """An ODBC connection-string value in braces, so ';' and '}' cannot break out."""
    return "{" + v.replace("}", "}}") + "}"


# ---------------------------------------------------------------- mssql-python

def mssql_python_conn_str(readonly=False):
    enc = {
        # Encrypt=no sends PRELOGIN ENCRYPT_OFF: TLS for the login packet only.
        "login-only": "Encrypt=no;TrustServerCertificate=yes",
        "tls": "Encrypt=yes;TrustServerCertificate=yes",
        # TDS 8: TrustServerCertificate does not apply; the certificate is pinned.
        "strict": "Encrypt=strict;ServerCertificate=%s" % ENV.get("TDS_CAFILE", ""),
    }[ENCRYPT]
    parts = [
        "Server=tcp:%s,%d" % (HOST, PORT),
        "Database=" + DATABASE,
        "UID=" + odbc_quote(USER),
        "PWD=" + odbc_quote(PASSWORD),
        enc,
    ]
    if readonly:
        parts.append("ApplicationIntent=ReadOnly")
    return ";".join(parts)


def mssql_python_connect(readonly=False, autocommit=True):
    import mssql_python
    return mssql_python.connect(mssql_python_conn_str(readonly), autocommit=autocommit)


# ---------------------------------------------------------------- SQLAlchemy

# The SET every pooled connection gets from the "connect" listener; the orm scenario
# reads it back with @@LOCK_TIMEOUT.
ORM_LOCK_TIMEOUT_MS = 4321


def sqlalchemy_engine(readonly=False, **kw):
    import sqlalchemy as sa
    from sqlalchemy.engine import URL
    enc = {"plain": "off", "login-only": "request", "tls": "require"}[ENCRYPT]
    odbc = ";".join([
        "Driver=" + ENV.get("TDS_ODBC_DRIVER", "FreeTDS"),
        "Server=" + HOST,
        "Port=" + str(PORT),
        "Database=" + DATABASE,
        "UID=" + odbc_quote(USER),
        "PWD=" + odbc_quote(PASSWORD),
        "TDS_Version=7.4",
        "Encryption=" + enc,
        "ClientCharset=UTF-8",
    ] + (["ApplicationIntent=ReadOnly"] if readonly else []))
    url = URL.create("mssql+pyodbc", query={"odbc_connect": odbc})
    engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True, **kw)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("SET LOCK_TIMEOUT %d" % ORM_LOCK_TIMEOUT_MS)
        cur.close()

    return engine


# ---------------------------------------------------------------- common

def version():
    import importlib.metadata as md
    if CLIENT == "sqlalchemy":
        return "SQLAlchemy %s, pyodbc %s" % (md.version("SQLAlchemy"), md.version("pyodbc"))
    # The native core mssql-python loads: msodbcsql18 (ODBC Driver 18, the default)
    # or mssql-odbc (the Rust core), chosen by MSSQL_PYTHON_NATIVE_PROVIDER.
    if ENV.get("MSSQL_PYTHON_NATIVE_PROVIDER", "").strip().lower() == "mssql-odbc":
        core = "mssql-odbc core, mssql-python-rs %s" % md.version("mssql-python-rs")
    else:
        core = "ODBC Driver 18 core, mssql-python-odbc %s" % md.version("mssql-python-odbc")
    return "%s (%s)" % (md.version("mssql-python"), core)


def mssql_python_sqlstate(e):
    """The SQLSTATE behind a mssql-python exception. The driver exposes neither the native
    error number nor the SQLSTATE, only an exception class and a text chosen by SQLSTATE
    (mssql_python.exceptions.sqlstate_to_exception), so the SQLSTATE is found by asking
    that public mapping which candidate yields the same class and text."""
    from mssql_python import exceptions as mx
    for st in ("42S02", "22012", "42000", "42S22", "23000", "HY008", "HYT00", "08S01", "25000", "40001"):
        cand = mx.sqlstate_to_exception(st, "")
        if cand is not None and type(cand) is type(e) and cand.driver_error == getattr(e, "driver_error", None):
            return st
    return None


def error_info(e):
    """Error number (when the client exposes it) and message, from the DB-API error."""
    orig = getattr(e, "orig", None) or e  # SQLAlchemy wraps the DB-API error
    number = None
    msg = str(orig)
    if CLIENT == "mssql-python":
        # mssql-python puts the driver's diagnostic in ddbc_error, e.g.
        # "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name 'x'."
        msg = getattr(orig, "ddbc_error", None) or msg
    elif len(getattr(orig, "args", ())) > 1:
        # pyodbc over FreeTDS: "... Invalid object name 'x'. (208) (SQLExecDirectW)"
        msg = str(orig.args[1])
    cls = type(e).__name__
    if CLIENT == "mssql-python":
        st = mssql_python_sqlstate(orig)
        if st:
            cls += " " + st
    return {"number": number, "message": msg, "class": cls}


PARAMS = (41, u"h\u00e9llo w\u00f6rld \u2603", decimal.Decimal("12.3450"), datetime.datetime(2024, 2, 29, 13, 45, 30))


# ---------------------------------------------------------------- mssql-python scenarios

def mp_login():
    conn = mssql_python_connect()
    observe_login(conn, out)
    conn.close()


def mp_types():
    conn = mssql_python_connect()
    observe_types(conn, out)
    conn.close()


def mp_params():
    """Parameters through SQLPrepare/SQLExecute (mssql-python's default, use_prepare=True):
    the count query runs three times on one cursor, so the prepared handle is reused."""
    conn = mssql_python_connect()
    cur = conn.cursor()
    cur.execute("SELECT ? AS i, ? AS s, ? AS d, ? AS t", PARAMS)
    names = [d[0] for d in cur.description]
    out["params"] = {n: describe(v) for n, v in zip(names, cur.fetchone())}
    counts = []
    for _ in range(3):
        cur.execute("SELECT COUNT(*) FROM dbo.numbers WHERE n <= ?", (41,))
        counts.append(cur.fetchone()[0])
    out["param_count"] = counts[0] if len(set(counts)) == 1 else counts
    cur.close()
    conn.close()


def mp_tx(commit):
    conn = mssql_python_connect()
    cur = conn.cursor()
    cur.execute("CREATE TABLE dbo.%s (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)" % TABLE)
    try:
        conn.autocommit = False
        cur.execute("INSERT INTO dbo.%s (id, v) VALUES (?, ?)" % TABLE, (1, "one"))
        cur.execute("INSERT INTO dbo.%s (id, v) VALUES (?, ?)" % TABLE, (2, "two"))
        out["count_in_tx"] = scalar(conn, "SELECT COUNT(*) FROM dbo.%s" % TABLE)
        if commit:
            conn.commit()
        else:
            conn.rollback()
        other = mssql_python_connect()
        out["count_after"] = scalar(other, "SELECT COUNT(*) FROM dbo.%s" % TABLE)
        other.close()
    finally:
        cleanup = mssql_python_connect()
        cleanup.cursor().execute("DROP TABLE dbo.%s" % TABLE)
        cleanup.close()
    conn.close()


def expect_error(run):
    try:
        run()
    except Exception as e:  # the error is the observation
        return error_info(e)
    return None


def mp_error():
    conn = mssql_python_connect()

    def q(sql):
        def run():
            cur = conn.cursor()
            cur.execute(sql)
            cur.fetchall()
        return run
    out["errors"] = [expect_error(q("SELECT * FROM dbo.no_such_table_e2e")), expect_error(q("SELECT 1/0"))]
    out["after"] = scalar(conn, "SELECT 1")
    conn.close()


def mp_cancel():
    """mssql-python has no Cursor.cancel(); its mechanism is the query timeout
    (Connection.timeout, SQL_ATTR_QUERY_TIMEOUT), on which the ODBC core sends Attention."""
    conn = mssql_python_connect()
    conn.timeout = 1
    out["cancel_mechanism"] = "Connection.timeout = 1 s (query timeout, Attention)"
    cur = conn.cursor()
    timed_waitfor(cur, out, error_info)
    out["cancel_after_ms"] = 1000
    cur.close()
    conn.timeout = 0
    out["after"] = scalar(conn, "SELECT 1")
    conn.close()


def mp_large():
    observe_large(mssql_python_connect(), out)


def mp_readonly():
    conn = mssql_python_connect(readonly=True)
    out["server_name"] = scalar(conn, "SELECT @@SERVERNAME")
    out["read_count"] = scalar(conn, "SELECT COUNT(*) FROM dbo.customers")
    out["write_error"] = expect_error(lambda: conn.cursor().execute("CREATE TABLE dbo.%s (id int)" % TABLE))
    conn.close()


def mp_pool_reset():
    """mssql-python's own pool: a connection closed and taken again must come back reset
    (the ODBC core flags the next request RESETCONNECTION): session settings gone."""
    import mssql_python
    mssql_python.pooling(max_size=1, idle_timeout=60)
    checkouts = []
    for i in range(3):
        conn = mssql_python_connect()
        checkouts.append({
            "spid": scalar(conn, "SELECT @@SPID"),
            "lock_timeout": scalar(conn, "SELECT @@LOCK_TIMEOUT"),
            "temp_exists": scalar(conn, "SELECT CASE WHEN OBJECT_ID('tempdb..#reset_probe') IS NULL THEN 0 ELSE 1 END"),
        })
        cur = conn.cursor()
        cur.execute("SET LOCK_TIMEOUT %d" % (1000 + i))
        cur.execute("CREATE TABLE #reset_probe (i int)")
        cur.close()
        # What the next checkout must no longer see, read back so that a reset
        # of settings that never took effect cannot pass for a reset.
        checkouts[-1]["lock_timeout_before_close"] = scalar(conn, "SELECT @@LOCK_TIMEOUT")
        checkouts[-1]["temp_before_close"] = scalar(
            conn, "SELECT CASE WHEN OBJECT_ID('tempdb..#reset_probe') IS NULL THEN 0 ELSE 1 END")
        conn.close()
    out["checkouts"] = checkouts


# ---------------------------------------------------------------- SQLAlchemy scenarios

def sa_login():
    engine = sqlalchemy_engine()
    with engine.connect() as c:
        out["server_name"] = c.exec_driver_sql("SELECT @@SERVERNAME").scalar()
        out["database"] = c.exec_driver_sql("SELECT DB_NAME()").scalar()
        out["one"] = c.exec_driver_sql("SELECT 1").scalar()
    engine.dispose()


def sa_types():
    engine = sqlalchemy_engine()
    with engine.connect() as c:
        res = c.exec_driver_sql("SELECT * FROM dbo.all_types ORDER BY id")
        names = list(res.keys())
        rows = res.fetchall()
    out["row_count"] = len(rows)
    for key, row in zip(("row1", "row2"), rows):
        out[key] = {n: describe(v) for n, v in zip(names, row)}
    engine.dispose()


def sa_params():
    import sqlalchemy as sa
    engine = sqlalchemy_engine()
    with engine.connect() as c:
        i, s, d, t = PARAMS
        row = c.execute(sa.text("SELECT :i AS i, :s AS s, :d AS d, :t AS t"), {"i": i, "s": s, "d": d, "t": t}).one()
        out["params"] = {n: describe(v) for n, v in row._mapping.items()}
        out["param_count"] = c.execute(sa.text("SELECT COUNT(*) FROM dbo.numbers WHERE n <= :n"), {"n": 41}).scalar()
    engine.dispose()


def orm_model():
    """A declarative model of the scenario's table (dbo.TDS_TABLE)."""
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
    import sqlalchemy as sa

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = TABLE
        id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
        v: Mapped[str] = mapped_column(sa.Unicode(20), nullable=True)

    return Item


def create_table(engine):
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE dbo.%s (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)" % TABLE)


def drop_table(engine):
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE dbo.%s" % TABLE)


def count_rows(conn_or_session, model):
    import sqlalchemy as sa
    return conn_or_session.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def sa_tx(commit):
    """ORM unit of work: a Session adds two objects, flushes, counts, then commits or
    rolls back; a second connection from the pool counts afterwards."""
    from sqlalchemy.orm import Session
    engine = sqlalchemy_engine()
    Item = orm_model()
    create_table(engine)
    try:
        with Session(engine) as s:
            s.add_all([Item(id=1, v="one"), Item(id=2, v="two")])
            s.flush()
            out["count_in_tx"] = count_rows(s, Item)
            if commit:
                s.commit()
            else:
                s.rollback()
        with engine.connect() as c:
            out["count_after"] = count_rows(c, Item)
    finally:
        drop_table(engine)
        engine.dispose()


def sa_error():
    """Errors inside a Session: each failing statement raises, the session is rolled back,
    and the same session (and pooled connection) goes on working."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session
    engine = sqlalchemy_engine(pool_size=1, max_overflow=0)
    errors = []
    with Session(engine) as s:
        for sql in ("SELECT * FROM dbo.no_such_table_e2e", "SELECT 1/0"):
            try:
                s.execute(sa.text(sql)).fetchall()
                errors.append(None)
            except sa.exc.DBAPIError as e:
                s.rollback()
                errors.append(error_info(e))
        out["errors"] = errors
        out["after"] = s.execute(sa.text("SELECT 1")).scalar()
    engine.dispose()


def sa_large():
    engine = sqlalchemy_engine()
    with engine.connect() as c:
        res = c.exec_driver_sql("SELECT n FROM dbo.numbers WHERE n <= 50000")
        rows = total = 0
        for part in res.partitions(5000):
            rows += len(part)
            total += sum(r[0] for r in part)
    out["rows"] = rows
    out["sum"] = total
    engine.dispose()


def sa_readonly():
    import sqlalchemy as sa
    engine = sqlalchemy_engine(readonly=True)
    with engine.connect() as c:
        out["server_name"] = c.exec_driver_sql("SELECT @@SERVERNAME").scalar()
        out["read_count"] = c.exec_driver_sql("SELECT COUNT(*) FROM dbo.customers").scalar()
        try:
            c.exec_driver_sql("CREATE TABLE dbo.%s (id int)" % TABLE)
            out["write_error"] = None
        except sa.exc.DBAPIError as e:
            out["write_error"] = error_info(e)
    engine.dispose()


def sa_orm():
    """The whole ORM pattern on a pool of one connection: every checkout is pre-pinged and
    carries the connect-time SET; a Session that fails is rolled back and leaves no
    transaction and no rows behind; committed work is visible afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session
    engine = sqlalchemy_engine(pool_size=1, max_overflow=0)
    Item = orm_model()
    checkouts = []

    def observe(s):
        row = s.execute(sa.text("SELECT @@SPID, @@LOCK_TIMEOUT, @@TRANCOUNT")).one()
        checkouts.append({"spid": row[0], "lock_timeout": row[1], "trancount": row[2]})

    create_table(engine)
    try:
        with Session(engine) as s:  # committed work
            observe(s)
            s.add(Item(id=1, v="kept"))
            s.commit()
        with Session(engine) as s:  # failed work, rolled back
            observe(s)
            s.add(Item(id=2, v="lost"))
            s.flush()
            try:
                s.execute(sa.text("SELECT * FROM dbo.no_such_table_e2e")).fetchall()
                out["orm_error"] = None
            except sa.exc.DBAPIError as e:
                out["orm_error"] = error_info(e)
                s.rollback()
        with Session(engine) as s:  # what is left
            observe(s)
            out["rows_after"] = count_rows(s, Item)
            out["values_after"] = [r.v for r in s.execute(sa.select(Item).order_by(Item.id)).scalars()]
    finally:
        drop_table(engine)
        engine.dispose()
    out["checkouts"] = checkouts
    out["lock_timeout_set"] = ORM_LOCK_TIMEOUT_MS


SCENARIOS = {
    "mssql-python": {
        "login": mp_login, "types": mp_types, "params": mp_params,
        "tx-commit": lambda: mp_tx(True), "tx-rollback": lambda: mp_tx(False),
        "error": mp_error, "cancel": mp_cancel, "large": mp_large, "readonly": mp_readonly,
        "pool-reset": mp_pool_reset,
    },
    "sqlalchemy": {
        "login": sa_login, "types": sa_types, "params": sa_params,
        "tx-commit": lambda: sa_tx(True), "tx-rollback": lambda: sa_tx(False),
        "error": sa_error, "large": sa_large, "readonly": sa_readonly, "orm": sa_orm,
    },
}


def main():
    run = SCENARIOS.get(CLIENT, {}).get(SCENARIO)
    if run is None:
        print("unknown TDS_CLIENT/TDS_SCENARIO %r/%r" % (CLIENT, SCENARIO), file=sys.stderr)
        return 2
    try:
        out["version"] = version()
        run()
    except Exception as e:
        info = error_info(e)
        out["failure"] = {"message": "%s: %s" % (info["class"], info["message"]), "number": info["number"]}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
