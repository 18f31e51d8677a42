//! Test support (for tests of this and other crates): a fresh Postgres database per test, on the server `postgres/start` runs
//! (scripts/test starts it). There is no fallback: without the server the test fails and
//! says how to start it.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The admin URL `postgres/start` prints (override with `CUSTOS_TEST_POSTGRES`).
pub const DEFAULT_ADMIN_URL: &str = "postgres://custos@127.0.0.1:54329/postgres";

/// The admin URL the tests use.
pub fn admin_url() -> String {
    std::env::var("CUSTOS_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// Create an empty database on the test server and return its URL.
pub async fn fresh_postgres() -> String {
    let admin = admin_url();
    let mut conn = match PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => panic!(
            "no PostgreSQL answers at `{admin}` ({e}); start one with `postgres/start` (scripts/test does)"
        ),
    };
    let name = format!("custos_t_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
    {
        panic!("cannot create database `{name}` at `{admin}`: {e}");
    }
    let _ = conn.close().await;
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("`{admin}` names no database"),
    }
}
