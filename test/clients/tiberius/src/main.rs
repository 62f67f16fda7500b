//! Driver program for the tdsproxy compatibility matrix: runs one scenario with
//! tiberius (the Rust TDS driver) and prints ONE JSON object with what the
//! driver observed. It asserts nothing; test/e2e/msdrivers_clients_test.go does.
//!
//! Environment (see test/clients/README.md): TDS_HOST TDS_PORT TDS_USER
//! TDS_PASSWORD TDS_DATABASE TDS_ENCRYPT (plain | login-only | tls | strict)
//! TDS_SCENARIO TDS_TABLE TDS_CAFILE.

use std::env;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use futures_util::TryStreamExt;
use serde_json::{json, Map, Value};
use tiberius::numeric::Numeric;
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, FromSql, QueryItem, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// The pinned tiberius version (Cargo.toml); the crate does not export it.
const TIBERIUS_VERSION: &str = "0.13.0";

type Conn = Client<Compat<TcpStream>>;
type Res<T> = Result<T, tiberius::error::Error>;

fn var(name: &str, default: &str) -> String {
    env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

async fn connect(readonly: bool) -> Res<Conn> {
    let mut cfg = Config::new();
    cfg.host(var("TDS_HOST", "127.0.0.1"));
    cfg.port(var("TDS_PORT", "1433").parse::<u16>().unwrap_or(1433));
    cfg.database(var("TDS_DATABASE", "demo"));
    cfg.authentication(AuthMethod::sql_server(var("TDS_USER", ""), var("TDS_PASSWORD", "")));
    cfg.application_name("tdsproxy-e2e-tiberius");
    match var("TDS_ENCRYPT", "tls").as_str() {
        "plain" => cfg.encryption(EncryptionLevel::NotSupported),
        "login-only" => {
            cfg.encryption(EncryptionLevel::Off);
            cfg.trust_cert();
        }
        "tls" => {
            cfg.encryption(EncryptionLevel::Required);
            cfg.trust_cert();
        }
        "strict" => {
            cfg.encryption(EncryptionLevel::Strict);
            cfg.trust_cert_ca(var("TDS_CAFILE", ""));
        }
        other => panic!("tiberius driver: unknown TDS_ENCRYPT {other:?}"),
    }
    if readonly {
        cfg.readonly(true);
    }
    let tcp = TcpStream::connect(cfg.get_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(cfg, tcp.compat_write()).await
}

/// The first column of the first row of a batch.
async fn scalar(c: &mut Conn, sql: &str) -> Res<Value> {
    let row = c.simple_query(sql).await?.into_row().await?;
    Ok(match row {
        Some(r) => r.into_iter().next().map(|d| describe(d)["value"].clone()).unwrap_or(Value::Null),
        None => Value::Null,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn chrono_value<'a, T: FromSql<'a> + ToString>(d: &'a ColumnData<'static>) -> Value {
    match T::from_sql(d) {
        Ok(Some(v)) => Value::String(v.to_string()),
        Ok(None) => Value::Null,
        Err(e) => Value::String(format!("conversion error: {e}")),
    }
}

/// A value as {"type": tiberius ColumnData variant or Rust type, "value": JSON form}.
fn describe(d: ColumnData<'static>) -> Value {
    let (typ, value) = match &d {
        ColumnData::U8(v) => ("u8", json!(v)),
        ColumnData::I16(v) => ("i16", json!(v)),
        ColumnData::I32(v) => ("i32", json!(v)),
        ColumnData::I64(v) => ("i64", json!(v)),
        ColumnData::F32(v) => ("f32", json!(v)),
        ColumnData::F64(v) => ("f64", json!(v)),
        ColumnData::Bit(v) => ("bool", json!(v)),
        ColumnData::String(v) => ("String", json!(v.as_deref())),
        ColumnData::Guid(v) => ("Uuid", json!(v.map(|u| u.to_string()))),
        ColumnData::Binary(v) => ("Vec<u8>", json!(v.as_deref().map(hex))),
        ColumnData::Numeric(v) => ("Numeric", json!(v.map(|n: Numeric| n.to_string()))),
        ColumnData::Xml(v) => ("XmlData", json!(v.as_deref().map(|x| x.to_string()))),
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            ("NaiveDateTime", chrono_value::<NaiveDateTime>(&d))
        }
        ColumnData::Date(_) => ("NaiveDate", chrono_value::<NaiveDate>(&d)),
        ColumnData::Time(_) => ("NaiveTime", chrono_value::<NaiveTime>(&d)),
        ColumnData::DateTimeOffset(_) => ("DateTimeOffset", Value::String(format!("{d:?}"))),
    };
    let typ = if value.is_null() { "null" } else { typ };
    json!({"type": typ, "value": value})
}

/// A row as {column: describe(value) + "sqltype": the column's TDS type as tiberius names it}.
fn row_map(r: Row) -> Value {
    let cols: Vec<(String, String)> =
        r.columns().iter().map(|c| (c.name().to_string(), format!("{:?}", c.column_type()))).collect();
    let mut m = Map::new();
    for ((name, sqltype), d) in cols.into_iter().zip(r.into_iter()) {
        let mut v = describe(d);
        v["sqltype"] = json!(sqltype);
        m.insert(name, v);
    }
    Value::Object(m)
}

fn error_info(e: &tiberius::error::Error) -> Value {
    let (number, message) = match e {
        tiberius::error::Error::Server(t) => (json!(t.code()), t.message().to_string()),
        other => (Value::Null, other.to_string()),
    };
    json!({"number": number, "message": message, "class": format!("{e:?}").split('(').next().unwrap_or("Error")})
}

async fn expect_error(c: &mut Conn, sql: &str) -> Value {
    let res: Res<()> = async {
        c.simple_query(sql).await?.into_results().await?;
        Ok(())
    }
    .await;
    match res {
        Ok(()) => Value::Null,
        Err(e) => error_info(&e),
    }
}

async fn run(scenario: &str, out: &mut Map<String, Value>) -> Res<()> {
    let table = format!("dbo.{}", var("TDS_TABLE", "e2e_tx"));
    match scenario {
        "login" => {
            let mut c = connect(false).await?;
            out.insert("server_name".into(), scalar(&mut c, "SELECT @@SERVERNAME").await?);
            out.insert("database".into(), scalar(&mut c, "SELECT DB_NAME()").await?);
            out.insert("one".into(), scalar(&mut c, "SELECT 1").await?);
        }
        "types" => {
            let mut c = connect(false).await?;
            let rows = c.simple_query("SELECT * FROM dbo.all_types ORDER BY id").await?.into_first_result().await?;
            out.insert("row_count".into(), json!(rows.len()));
            for (key, r) in ["row1", "row2"].into_iter().zip(rows) {
                out.insert(key.into(), row_map(r));
            }
        }
        "params" => {
            // tiberius sends parameters as sp_executesql with @P1, @P2, ...
            let mut c = connect(false).await?;
            let d = Numeric::new_with_scale(123450, 4);
            let t = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_opt(13, 45, 30).unwrap();
            let row = c
                .query("SELECT @P1 AS i, @P2 AS s, @P3 AS d, @P4 AS t", &[&41i32, &"h\u{e9}llo w\u{f6}rld \u{2603}", &d, &t])
                .await?
                .into_row()
                .await?;
            out.insert("params".into(), row.map(row_map).unwrap_or(Value::Null));
            let n = c.query("SELECT COUNT(*) FROM dbo.numbers WHERE n <= @P1", &[&41i32]).await?.into_row().await?;
            out.insert("param_count".into(), n.and_then(|r| r.into_iter().next()).map(|d| describe(d)["value"].clone()).unwrap_or(Value::Null));
        }
        "tx-commit" | "tx-rollback" => {
            // tiberius has no transaction API: applications send the T-SQL.
            let mut c = connect(false).await?;
            c.execute(format!("CREATE TABLE {table} (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)"), &[]).await?;
            let res: Res<()> = async {
                c.simple_query("BEGIN TRANSACTION").await?.into_results().await?;
                let ins = format!("INSERT INTO {table} (id, v) VALUES (@P1, @P2)");
                c.execute(ins.as_str(), &[&1i32, &"one"]).await?;
                c.execute(ins.as_str(), &[&2i32, &"two"]).await?;
                out.insert("count_in_tx".into(), scalar(&mut c, &format!("SELECT COUNT(*) FROM {table}")).await?);
                let end = if scenario == "tx-commit" { "COMMIT TRANSACTION" } else { "ROLLBACK TRANSACTION" };
                c.simple_query(end).await?.into_results().await?;
                let mut other = connect(false).await?;
                out.insert("count_after".into(), scalar(&mut other, &format!("SELECT COUNT(*) FROM {table}")).await?);
                Ok(())
            }
            .await;
            let mut cleanup = connect(false).await?;
            cleanup.simple_query(format!("DROP TABLE {table}")).await?.into_results().await?;
            res?;
        }
        "error" => {
            let mut c = connect(false).await?;
            let e1 = expect_error(&mut c, "SELECT * FROM dbo.no_such_table_e2e").await;
            let e2 = expect_error(&mut c, "SELECT 1/0").await;
            out.insert("errors".into(), json!([e1, e2]));
            out.insert("after".into(), scalar(&mut c, "SELECT 1").await?);
        }
        "large" => {
            let mut c = connect(false).await?;
            let mut stream = c.simple_query("SELECT n FROM dbo.numbers WHERE n <= 50000").await?;
            let (mut rows, mut sum) = (0i64, 0i64);
            while let Some(item) = stream.try_next().await? {
                if let QueryItem::Row(r) = item {
                    rows += 1;
                    sum += r.get::<i32, _>(0).unwrap_or(0) as i64;
                }
            }
            out.insert("rows".into(), json!(rows));
            out.insert("sum".into(), json!(sum));
        }
        "readonly" => {
            let mut c = connect(true).await?;
            out.insert("server_name".into(), scalar(&mut c, "SELECT @@SERVERNAME").await?);
            out.insert("read_count".into(), scalar(&mut c, "SELECT COUNT(*) FROM dbo.customers").await?);
            let e = expect_error(&mut c, &format!("CREATE TABLE {table} (id int)")).await;
            out.insert("write_error".into(), e);
        }
        other => {
            eprintln!("unknown TDS_SCENARIO {other:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let scenario = var("TDS_SCENARIO", "login");
    let mut out = Map::new();
    out.insert("client".into(), json!("tiberius"));
    out.insert("scenario".into(), json!(scenario));
    out.insert("version".into(), json!(TIBERIUS_VERSION));
    if let Err(e) = run(&scenario, &mut out).await {
        let mut f = error_info(&e);
        f["message"] = json!(format!("{}: {}", f["class"].as_str().unwrap_or(""), f["message"].as_str().unwrap_or("")));
        out.insert("failure".into(), f);
    }
    println!("{}", Value::Object(out));
}
