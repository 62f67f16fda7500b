#!/usr/bin/env node
// Driver program for the tdsproxy client-compatibility matrix (Node clients).
//
// Runs one scenario with one real client library and prints ONE JSON object
// with what the client observed. It asserts nothing: the Go test (test/e2e)
// does.
//
// Clients (TDS_CLIENT):
//   tedious  tedious's own API (SQLBatch via execSqlBatch, RPC sp_executesql via
//            execSql, TM requests via beginTransaction, Attention via cancel)
//   mssql    the mssql package over the same tedious
//
// Environment: TDS_HOST TDS_PORT TDS_USER TDS_PASSWORD TDS_DATABASE
//   TDS_ENCRYPT  plain | tls | strict   (tedious cannot send ENCRYPT_OFF, so no login-only)
//   TDS_SCENARIO login | types | params | tx-commit | tx-rollback | error | cancel | large | readonly
//   TDS_TABLE    a unique table name for the tx scenarios
'use strict';

const env = process.env;
const CLIENT = env.TDS_CLIENT || '';
const SCENARIO = env.TDS_SCENARIO || 'login';
const TABLE = env.TDS_TABLE || 'e2e_tx';
const out = { client: CLIENT, scenario: SCENARIO };

function encryptOption() {
  switch (env.TDS_ENCRYPT || 'plain') {
    case 'plain': return false;
    case 'tls': return true;
    case 'strict': return 'strict';
    default: throw new Error(`TDS_ENCRYPT ${env.TDS_ENCRYPT} not supported by ${CLIENT}`);
  }
}

function baseOptions(readOnly) {
  const encrypt = encryptOption();
  const extra = {};
  if (encrypt === 'strict' && env.TDS_CAFILE) {
    // In strict mode tedious always verifies the certificate.
    extra.cryptoCredentialsDetails = { ca: require('fs').readFileSync(env.TDS_CAFILE) };
  }
  return {
    ...extra,
    port: Number(env.TDS_PORT || 1433),
    database: env.TDS_DATABASE || 'demo',
    encrypt,
    trustServerCertificate: true,
    readOnlyIntent: !!readOnly,
    connectTimeout: 10000,
    requestTimeout: 30000,
  };
}

// ------------------------------------------------------------------ tedious

const tedious = {
  version: () => require('tedious/package.json').version,
  connect(readOnly) {
    const { Connection } = require('tedious');
    return new Promise((resolve, reject) => {
      const conn = new Connection({
        server: env.TDS_HOST || '127.0.0.1',
        authentication: { type: 'default', options: { userName: env.TDS_USER, password: env.TDS_PASSWORD } },
        options: baseOptions(readOnly),
      });
      conn.connect((err) => (err ? reject(err) : resolve(wrapTedious(conn))));
    });
  },
};

function wrapTedious(conn) {
  const { Request, TYPES } = require('tedious');
  const run = (sql, params, onRow) => new Promise((resolve, reject) => {
    const columns = [];
    const rows = [];
    const req = new Request(sql, (err) => (err ? reject(err) : resolve({ columns, rows })));
    req.on('columnMetadata', (cols) => {
      columns.length = 0;
      for (const c of cols) columns.push({ name: c.colName, sqltype: c.type.name });
    });
    req.on('row', (cols) => {
      const vals = cols.map((c) => c.value);
      if (onRow) onRow(vals); else rows.push(vals);
    });
    if (params) {
      for (const p of params) req.addParameter(p.name, TYPES[p.type], p.value, p.options);
      conn.execSql(req); // RPC sp_executesql
    } else {
      conn.execSqlBatch(req); // SQLBatch
    }
  });
  const tx = (fn) => new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
  return {
    query: (sql, params) => run(sql, params),
    each: (sql, onRow) => run(sql, null, onRow),
    begin: () => tx((cb) => conn.beginTransaction(cb)),
    commit: () => tx((cb) => conn.commitTransaction(cb)),
    rollback: () => tx((cb) => conn.rollbackTransaction(cb)),
    cancel: () => conn.cancel(),
    cancelMechanism: 'Connection.cancel() (Attention)',
    close: () => new Promise((resolve) => { conn.on('end', resolve); conn.close(); }),
  };
}

// ------------------------------------------------------------------ mssql

const mssql = {
  version: () => `${require('mssql/package.json').version} (tedious ${require('tedious/package.json').version})`,
  async connect(readOnly) {
    const sql = require('mssql');
    const pool = new sql.ConnectionPool({
      server: env.TDS_HOST || '127.0.0.1',
      user: env.TDS_USER,
      password: env.TDS_PASSWORD,
      pool: { max: 1, min: 0 },
      options: baseOptions(readOnly),
      port: Number(env.TDS_PORT || 1433),
      database: env.TDS_DATABASE || 'demo',
    });
    await pool.connect();
    return wrapMssql(sql, pool);
  },
};

function wrapMssql(sql, pool) {
  let current = null; // the running request, for cancel
  let txn = null;
  const request = () => (txn ? new sql.Request(txn) : new sql.Request(pool));
  const query = async (text, params) => {
    const req = request();
    current = req;
    if (params) {
      for (const p of params) {
        const t = p.type === 'Decimal' ? sql.Decimal(p.options.precision, p.options.scale) : sql[p.type];
        req.input(p.name, t, p.value);
      }
    }
    const res = await req.query(text);
    const cols = res.recordset ? res.recordset.columns : {};
    const columns = Object.values(cols).sort((a, b) => a.index - b.index)
      .map((c) => ({ name: c.name, sqltype: c.type && (c.type.declaration || c.type.name) }));
    const rows = (res.recordset || []).map((r) => columns.map((c) => r[c.name]));
    return { columns, rows };
  };
  return {
    query,
    each: async (text, onRow) => {
      const { rows } = await query(text);
      for (const r of rows) onRow(r);
      return {};
    },
    begin: async () => { txn = new sql.Transaction(pool); await txn.begin(); },
    commit: async () => { await txn.commit(); txn = null; },
    rollback: async () => { await txn.rollback(); txn = null; },
    cancel: () => current && current.cancel(),
    cancelMechanism: 'Request.cancel()',
    close: () => pool.close(),
  };
}

// ------------------------------------------------------------------ scenarios

const CLIENTS = { tedious, mssql };
const client = CLIENTS[CLIENT];

function describe(v) {
  if (v === null || v === undefined) return { type: 'null', value: null };
  if (Buffer.isBuffer(v)) return { type: 'Buffer', value: v.toString('hex') };
  if (v instanceof Date) return { type: 'Date', value: isNaN(v) ? 'Invalid Date' : v.toISOString() };
  if (typeof v === 'bigint') return { type: 'bigint', value: v.toString() };
  if (typeof v === 'object') return { type: v.constructor ? v.constructor.name : 'object', value: String(v) };
  return { type: typeof v, value: v };
}

function errorInfo(e) {
  const inner = e && e.originalError && e.originalError.info ? e.originalError.info : null;
  let number = e && typeof e.number === 'number' ? e.number : null;
  if (number === null && inner && typeof inner.number === 'number') number = inner.number;
  return { number, message: String(e && e.message), class: (e && (e.code || e.name)) || 'Error' };
}

async function scalar(c, sql) {
  const { rows } = await c.query(sql);
  return rows[0][0];
}

async function expectError(c, sql) {
  try {
    await c.query(sql);
  } catch (e) {
    return errorInfo(e);
  }
  return null;
}

const scenarios = {
  async login() {
    const c = await client.connect(false);
    out.server_name = await scalar(c, 'SELECT @@SERVERNAME');
    out.database = await scalar(c, 'SELECT DB_NAME()');
    out.one = await scalar(c, 'SELECT 1');
    await c.close();
  },
  async types() {
    const c = await client.connect(false);
    const { columns, rows } = await c.query('SELECT * FROM dbo.all_types ORDER BY id');
    out.row_count = rows.length;
    ['row1', 'row2'].forEach((key, i) => {
      if (!rows[i]) return;
      out[key] = {};
      columns.forEach((col, j) => { out[key][col.name] = { ...describe(rows[i][j]), sqltype: col.sqltype }; });
    });
    await c.close();
  },
  async params() {
    const c = await client.connect(false);
    const { columns, rows } = await c.query('SELECT @i AS i, @s AS s, @d AS d, @t AS t', [
      { name: 'i', type: 'Int', value: 41 },
      { name: 's', type: 'NVarChar', value: 'h\u00e9llo w\u00f6rld \u2603' },
      { name: 'd', type: 'Decimal', value: 12.345, options: { precision: 10, scale: 4 } },
      { name: 't', type: 'DateTime', value: new Date(Date.UTC(2024, 1, 29, 13, 45, 30)) },
    ]);
    out.params = {};
    columns.forEach((col, j) => { out.params[col.name] = describe(rows[0][j]); });
    const cnt = await c.query('SELECT COUNT(*) AS c FROM dbo.numbers WHERE n <= @n', [{ name: 'n', type: 'Int', value: 41 }]);
    out.param_count = cnt.rows[0][0];
    await c.close();
  },
  async tx(commit) {
    const c = await client.connect(false);
    await c.query(`CREATE TABLE dbo.${TABLE} (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)`);
    try {
      await c.begin();
      const ins = `INSERT INTO dbo.${TABLE} (id, v) VALUES (@id, @v)`;
      await c.query(ins, [{ name: 'id', type: 'Int', value: 1 }, { name: 'v', type: 'NVarChar', value: 'one' }]);
      await c.query(ins, [{ name: 'id', type: 'Int', value: 2 }, { name: 'v', type: 'NVarChar', value: 'two' }]);
      out.count_in_tx = await scalar(c, `SELECT COUNT(*) FROM dbo.${TABLE}`);
      if (commit) await c.commit(); else await c.rollback();
      const other = await client.connect(false);
      out.count_after = await scalar(other, `SELECT COUNT(*) FROM dbo.${TABLE}`);
      await other.close();
    } finally {
      const cleanup = await client.connect(false);
      await cleanup.query(`DROP TABLE dbo.${TABLE}`);
      await cleanup.close();
    }
    await c.close();
  },
  async error() {
    const c = await client.connect(false);
    out.errors = [
      await expectError(c, 'SELECT * FROM dbo.no_such_table_e2e'),
      await expectError(c, 'SELECT 1/0'),
    ];
    out.after = await scalar(c, 'SELECT 1');
    await c.close();
  },
  async cancel() {
    const c = await client.connect(false);
    out.cancel_mechanism = c.cancelMechanism;
    const cancelAfter = 300;
    const start = process.hrtime.bigint();
    const timer = setTimeout(() => c.cancel(), cancelAfter);
    try {
      await c.query("WAITFOR DELAY '00:00:05'");
      out.cancel_error = null;
    } catch (e) {
      out.cancel_error = errorInfo(e);
    }
    clearTimeout(timer);
    out.cancel_after_ms = cancelAfter;
    out.elapsed_ms = Number((process.hrtime.bigint() - start) / 1000000n);
    out.after = await scalar(c, 'SELECT 1');
    await c.close();
  },
  async large() {
    const c = await client.connect(false);
    let rows = 0;
    let sum = 0;
    await c.each('SELECT n FROM dbo.numbers WHERE n <= 50000', (r) => { rows += 1; sum += Number(r[0]); });
    out.rows = rows;
    out.sum = sum;
    await c.close();
  },
  async readonly() {
    const c = await client.connect(true);
    out.server_name = await scalar(c, 'SELECT @@SERVERNAME');
    out.read_count = await scalar(c, 'SELECT COUNT(*) FROM dbo.customers');
    out.write_error = await expectError(c, `CREATE TABLE dbo.${TABLE} (id int)`);
    await c.close();
  },
};
scenarios['tx-commit'] = () => scenarios.tx(true);
scenarios['tx-rollback'] = () => scenarios.tx(false);

async function main() {
  if (!client) {
    process.stderr.write(`unknown TDS_CLIENT ${JSON.stringify(CLIENT)}\n`);
    return 2;
  }
  if (!scenarios[SCENARIO]) {
    process.stderr.write(`unknown TDS_SCENARIO ${JSON.stringify(SCENARIO)}\n`);
    return 2;
  }
  try {
    out.version = client.version();
    await scenarios[SCENARIO]();
  } catch (e) {
    const info = errorInfo(e);
    out.failure = { message: `${info.class}: ${info.message}`, number: info.number };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`${e && e.stack}\n`);
  process.exit(1);
});
