//! The PostgreSQL backend: several keyward-server instances on one database.
//!
//! Async all the way (tokio-postgres on a deadpool pool), so verification
//! never blocks a worker on the network. An account's row is its write lock:
//! a push begins with `SELECT … FOR UPDATE` on it, hands out the revisions
//! that follow and writes the last one back as it commits, so one
//! account's revisions are handed out and committed in order whichever
//! instance serves the push — a pull, reading committed rows only, can never
//! see revision n+1 while n may still commit. The same idempotency id pushed
//! to two instances meets the same lock: the second sees the first's result.
//! Last-used times are written with `GREATEST` under the same lock. The
//! failed-verification budget is a table all instances share.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use keyward_model::wire::{
    AuditHead, Conflict, Entity, GroupRecord, KeyRecord, PulledChange, PulledRecord, Verifier,
};
use keyward_model::{validate, AccessType, KeyStatus, Scope};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::backend::{Applied, Backend, PullRows, WriteTx};
use super::grants::GrantCache;
use super::patch::{GroupInfo, GroupRow, KeyRow, Notice, RecordMeta};
use super::{
    from_millis, to_millis, AccountId, Engine, KeyGrant, PoolStatus, Result, StoreError,
    SyncClient, TokenInfo,
};

/// keyward-server on PostgreSQL: the [`Engine`] over [`PgBackend`].
pub type PgStore = Engine<PgBackend>;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`; `keyward_schema` holds the
/// last one applied. Never edit one that shipped; add another.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE keyward_schema (version INTEGER NOT NULL);
    INSERT INTO keyward_schema (version) VALUES (0);
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_fold TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revision BIGINT NOT NULL DEFAULT 0
    );
    -- Only the SHA-256 of a token is kept; the token is shown once at creation.
    CREATE TABLE sync_tokens (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        hash BYTEA NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        label TEXT NOT NULL DEFAULT ''
    );
    -- A deleted record stays as a tombstone (deleted, fields NULL).
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        revision BIGINT NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT FALSE,
        name TEXT,
        name_fold TEXT,
        description TEXT,
        scopes TEXT,
        updated_at BIGINT NOT NULL,
        field_meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX groups_by_revision ON groups (account_id, revision);
    CREATE INDEX groups_by_name ON groups (account_id, name_fold) WHERE NOT deleted;
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        revision BIGINT NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT FALSE,
        name TEXT,
        name_fold TEXT,
        description TEXT,
        access TEXT,
        allow_unbind BOOLEAN,
        status TEXT,
        hint TEXT,
        verifier BYTEA UNIQUE,
        created_at BIGINT,
        created_by TEXT,
        updated_at BIGINT NOT NULL,
        last_used_at BIGINT,
        last_used_published BIGINT,
        expires_at BIGINT,
        field_meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX keys_by_revision ON keys (account_id, revision);
    CREATE INDEX keys_by_name ON keys (account_id, name_fold) WHERE NOT deleted;
    -- Group ids need not exist (yet): an unknown or deleted group grants nothing.
    CREATE TABLE key_groups (
        key_id TEXT NOT NULL REFERENCES keys(id),
        group_id TEXT NOT NULL,
        PRIMARY KEY (key_id, group_id)
    );
    CREATE TABLE applied_changes (
        idempotency_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        fingerprint BYTEA NOT NULL,
        result TEXT NOT NULL,
        applied_at BIGINT NOT NULL
    );
    CREATE TABLE conflict_notices (
        seq BIGSERIAL PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        origin TEXT NOT NULL,
        revision BIGINT NOT NULL,
        conflict TEXT NOT NULL
    );
    CREATE INDEX conflict_notices_by_origin ON conflict_notices (account_id, origin, revision);
    CREATE TABLE audit_heads (
        token_id TEXT PRIMARY KEY REFERENCES sync_tokens(id),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        recorded_at BIGINT NOT NULL
    );
    -- Failed verifications per client, shared by every instance. Unlogged: a
    -- crash that forgets some failures forgives them, nothing more.
    CREATE UNLOGGED TABLE verify_failures (
        client TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        at BIGINT NOT NULL
    );
"#];

/// The schema version this build knows.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Held (per transaction) by whoever migrates, so instances starting
/// together migrate once, one after the other.
const MIGRATION_LOCK: i64 = 0x6b65_7977_6172_6401;

fn unavailable(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("the database cannot be reached: {what}"))
}

/// A PostgreSQL error as the server reports it: connection trouble is
/// "unavailable" (503, try again), the rest a storage error. Only the
/// server's message and code are kept, never a detail that could quote a value.
fn db(err: tokio_postgres::Error) -> StoreError {
    match err.as_db_error() {
        None => unavailable(err),
        Some(db) => {
            let code = db.code().code();
            if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                unavailable(format!("{} ({code})", db.message()))
            } else {
                StoreError::Storage(format!("{} ({code})", db.message()))
            }
        }
    }
}

fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => db(err),
        other => unavailable(other),
    }
}

fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| StoreError::Storage(err.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

pub struct PgBackend {
    pool: Pool,
    /// The task that hears every instance's commits for the grant cache.
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// The channel a push that changed records notifies as it commits.
const COMMITS_CHANNEL: &str = "keyward_commits";

/// How often the listening connection is asked to answer, and how long it
/// may take: an instance that lost it unnoticed stops keeping grants within
/// about the sum.
const LISTEN_PING: Duration = Duration::from_millis(500);
const LISTEN_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Hears every commit that notifies [`COMMITS_CHANNEL`] and drops the kept
/// grants at each; keeps grants only while it is sure to hear them (the
/// connection listening and answering pings), and reconnects when it is not.
async fn hear_commits(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    grants: Arc<GrantCache>,
) {
    loop {
        if let Ok(Ok((client, mut connection))) =
            tokio::time::timeout(LISTEN_PING_TIMEOUT * 5, config.connect(tls.clone())).await
        {
            let heard = Arc::clone(&grants);
            let driver = tokio::spawn(async move {
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if let tokio_postgres::AsyncMessage::Notification(_) = message {
                        heard.drop_all();
                    }
                }
                heard.deafen();
            });
            let listen = format!("LISTEN {COMMITS_CHANNEL}");
            if let Ok(Ok(())) =
                tokio::time::timeout(LISTEN_PING_TIMEOUT, client.batch_execute(&listen)).await
            {
                if !driver.is_finished() {
                    grants.hear();
                }
                while !driver.is_finished() {
                    tokio::time::sleep(LISTEN_PING).await;
                    let ping = tokio::time::timeout(LISTEN_PING_TIMEOUT, client.simple_query(""));
                    if !matches!(ping.await, Ok(Ok(_))) {
                        break;
                    }
                }
            }
            grants.deafen();
            driver.abort();
        }
        grants.deafen();
        tokio::time::sleep(LISTEN_PING).await;
    }
}

impl Engine<PgBackend> {
    /// Connects to the database at `url` (`postgres://…`; TLS as its
    /// `sslmode` says, with the system's roots), checks it answers, and
    /// migrates it if it is older than this build — under an advisory lock,
    /// so instances starting together migrate once. A database of a newer
    /// schema is refused.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgStore> {
        let config = tokio_postgres::Config::from_str(url).map_err(|err| {
            StoreError::Invalid(format!(
                "the database URL is not a PostgreSQL URL ({err}): write postgres://USER@HOST[:PORT]/DATABASE"
            ))
        })?;
        let tls = tls_connector()?;
        let mut listen_config = config.clone();
        listen_config.application_name("keyward-server listener");
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::Storage(err.to_string()))?;
        // Grants are kept only once every instance's commits are heard.
        let grants = Arc::new(GrantCache::new(false));
        let listener = tokio::spawn(hear_commits(listen_config, tls, Arc::clone(&grants)));
        let backend = PgBackend { pool, listener };
        backend.migrate().await?;
        Ok(Engine::with_grants(backend, grants))
    }
}

impl PgBackend {
    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The schema version of the database (0: empty).
    async fn version(client: &Object) -> Result<usize> {
        let exists: bool = client
            .query_one("SELECT to_regclass('keyward_schema') IS NOT NULL", &[])
            .await
            .map_err(db)?
            .get(0);
        if !exists {
            let tables: i64 = client
                .query_one(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                    &[],
                )
                .await
                .map_err(db)?
                .get(0);
            if tables > 0 {
                return Err(StoreError::Storage(
                    "the database holds other tables: it is not a keyward-server database — give another --database-url".into(),
                ));
            }
            return Ok(0);
        }
        let version: i32 = client
            .query_one("SELECT version FROM keyward_schema", &[])
            .await
            .map_err(db)?
            .get(0);
        Ok(version as usize)
    }

    /// Applies the migrations this database lacks, in one transaction that
    /// holds the migration lock.
    async fn migrate(&self) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        let version = {
            let exists: bool = tx
                .query_one("SELECT to_regclass('keyward_schema') IS NOT NULL", &[])
                .await
                .map_err(db)?
                .get(0);
            if exists {
                tx.query_one("SELECT version FROM keyward_schema", &[])
                    .await
                    .map_err(db)?
                    .get::<_, i32>(0) as usize
            } else {
                let tables: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                        &[],
                    )
                    .await
                    .map_err(db)?
                    .get(0);
                if tables > 0 {
                    return Err(StoreError::Storage(
                        "the database holds other tables: it is not a keyward-server database — give another --database-url".into(),
                    ));
                }
                0
            }
        };
        if version > SCHEMA_VERSION {
            return Err(newer_schema(version, SCHEMA_VERSION));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.batch_execute(migration).await.map_err(db)?;
            tx.execute(
                "UPDATE keyward_schema SET version = $1",
                &[&(index as i32 + 1)],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(SCHEMA_VERSION)
    }

    /// The schema version this database is at (for `keyward-server migrate`).
    pub async fn schema_version(&self) -> Result<usize> {
        let client = self.client().await?;
        PgBackend::version(&client).await
    }

    /// Charges one failed verification to `client`'s shared budget: `Ok`
    /// when a token was left, else how long until one will be.
    pub async fn charge_failure(
        &self,
        client: IpAddr,
        burst: u32,
        per_second: f64,
    ) -> Result<std::result::Result<(), Duration>> {
        let mut conn = self.client().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let key = client.to_string();
        let burst = f64::from(burst);
        // The client's row, locked: two instances charging together take turns.
        let tx = conn.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO verify_failures (client, tokens, at) VALUES ($1, $2, $3) ON CONFLICT (client) DO NOTHING",
            &[&key, &burst, &now],
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT tokens, at FROM verify_failures WHERE client = $1 FOR UPDATE",
                &[&key],
            )
            .await
            .map_err(db)?;
        let (tokens, at): (f64, i64) = (row.get(0), row.get(1));
        let refilled = (tokens + (now - at).max(0) as f64 / 1000.0 * per_second).min(burst);
        let left = if refilled >= 1.0 {
            refilled - 1.0
        } else {
            refilled
        };
        tx.execute(
            "UPDATE verify_failures SET tokens = $2, at = $3 WHERE client = $1",
            &[&key, &left, &now],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if refilled >= 1.0 {
            return Ok(Ok(()));
        }
        let wait = if per_second > 0.0 {
            (1.0 - refilled) / per_second
        } else {
            3600.0
        };
        Ok(Err(Duration::from_secs_f64(wait.clamp(0.0, 3600.0))))
    }

    /// Forgets the clients whose budgets refilled.
    pub async fn sweep_failures(&self, burst: u32, per_second: f64) -> Result<()> {
        let conn = self.client().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        conn.execute(
            "DELETE FROM verify_failures WHERE tokens + GREATEST($1 - at, 0) / 1000.0 * $3 >= $2",
            &[&now, &f64::from(burst), &per_second],
        )
        .await
        .map_err(db)?;
        Ok(())
    }
}

pub(crate) fn newer_schema(found: usize, known: usize) -> StoreError {
    StoreError::Storage(format!(
        "the database is of a newer keyward-server (schema {found}, this one knows {known}): upgrade keyward-server"
    ))
}

fn table(entity: Entity) -> &'static str {
    match entity {
        Entity::Group => "groups",
        Entity::Key => "keys",
    }
}

fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|_| StoreError::Storage(format!("unreadable id {text:?} in the database")))
}

fn parse_access(text: &str) -> Result<AccessType> {
    text.parse().map_err(|_| {
        StoreError::Storage(format!("unreadable access type {text:?} in the database"))
    })
}

fn parse_scopes(text: &str) -> BTreeSet<Scope> {
    // Scopes were validated on the way in; an unreadable one grants nothing.
    text.split_whitespace()
        .filter_map(|scope| scope.parse().ok())
        .collect()
}

fn scopes_column(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A statement's parameter, owned so the statement can wait to be sent.
type Param = Box<dyn ToSql + Sync + Send>;

/// A write not sent yet: a push's writes wait and go together, pipelined,
/// with the next read or the commit (one round trip for many statements).
enum Write {
    Sql {
        sql: String,
        params: Vec<Param>,
    },
    /// A key record's upsert: consecutive ones of distinct keys go as one
    /// statement.
    Key(Box<KeyWrite>),
    /// An idempotency record: those between two transaction-control
    /// statements go as one statement, after the others (nothing in the
    /// push depends on them).
    Applied(AppliedWrite),
    /// SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT: nothing moves across them.
    Control(&'static str),
}

struct KeyWrite {
    id: String,
    revision: i64,
    row: KeyRow,
    at: i64,
    fold: String,
    meta: String,
}

struct AppliedWrite {
    id: String,
    applied: Applied,
    at: i64,
}

/// Many key records in one upsert: one array a column.
const UPSERT_KEYS: &str = "INSERT INTO keys (id, account_id, revision, name, description, access, allow_unbind, status, hint,
        verifier, created_at, created_by, updated_at, expires_at, name_fold, field_meta)
     SELECT k.id, $1, k.revision, k.name, k.description, k.access, k.allow_unbind, k.status, k.hint,
        k.verifier, k.created_at, k.created_by, k.updated_at, k.expires_at, k.name_fold, k.field_meta
     FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[],
        $10::bytea[], $11::int8[], $12::text[], $13::int8[], $14::int8[], $15::text[], $16::text[])
        AS k(id, revision, name, description, access, allow_unbind, status, hint, verifier, created_at, created_by,
             updated_at, expires_at, name_fold, field_meta)
     ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision, name = EXCLUDED.name,
         description = EXCLUDED.description, access = EXCLUDED.access, allow_unbind = EXCLUDED.allow_unbind,
         status = EXCLUDED.status, hint = EXCLUDED.hint, created_at = EXCLUDED.created_at,
         created_by = EXCLUDED.created_by, updated_at = GREATEST(keys.updated_at, EXCLUDED.updated_at),
         expires_at = EXCLUDED.expires_at, name_fold = EXCLUDED.name_fold, field_meta = EXCLUDED.field_meta";

const INSERT_APPLIED: &str =
    "INSERT INTO applied_changes (idempotency_id, account_id, fingerprint, result, applied_at)
     SELECT a.id, a.account_id, a.fingerprint, a.result, a.applied_at
     FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::int8[])
        AS a(id, account_id, fingerprint, result, applied_at)";

/// The statements a queue of writes becomes, in order: runs of key upserts
/// and the idempotency records between two control statements each as one.
fn statements(account: &str, writes: Vec<Write>) -> Vec<(String, Vec<Param>)> {
    /// One column of a batched statement: an array of each write's value.
    fn column<W, V>(run: &[W], value: impl Fn(&W) -> V) -> Param
    where
        Vec<V>: ToSql + Sync + Send + 'static,
    {
        Box::new(run.iter().map(value).collect::<Vec<V>>())
    }
    fn keys(account: &str, run: &mut Vec<KeyWrite>, out: &mut Vec<(String, Vec<Param>)>) {
        if run.is_empty() {
            return;
        }
        let run = std::mem::take(run);
        let params: Vec<Param> = vec![
            Box::new(account.to_string()),
            column(&run, |k| k.id.clone()),
            column(&run, |k| k.revision),
            column(&run, |k| k.row.name.clone()),
            column(&run, |k| k.row.description.clone()),
            column(&run, |k| k.row.access.as_str()),
            column(&run, |k| k.row.allow_unbind),
            column(&run, |k| k.row.status.as_str()),
            column(&run, |k| k.row.hint.clone()),
            column(&run, |k| k.row.verifier.clone()),
            column(&run, |k| k.row.created_at),
            column(&run, |k| k.row.created_by.clone()),
            column(&run, |k| k.at),
            column(&run, |k| k.row.expires_at),
            column(&run, |k| k.fold.clone()),
            column(&run, |k| k.meta.clone()),
        ];
        out.push((UPSERT_KEYS.to_string(), params));
    }
    fn applied(run: &mut Vec<AppliedWrite>, out: &mut Vec<(String, Vec<Param>)>) {
        if run.is_empty() {
            return;
        }
        let run = std::mem::take(run);
        let params: Vec<Param> = vec![
            column(&run, |a| a.id.clone()),
            column(&run, |a| a.applied.account.clone()),
            column(&run, |a| a.applied.fingerprint.clone()),
            column(&run, |a| a.applied.result.clone()),
            column(&run, |a| a.at),
        ];
        out.push((INSERT_APPLIED.to_string(), params));
    }
    let mut out = Vec::new();
    let (mut key_run, mut applied_run) = (Vec::<KeyWrite>::new(), Vec::new());
    for write in writes {
        match write {
            Write::Key(key) => {
                // One statement may not upsert a row twice.
                if key_run.iter().any(|k| k.id == key.id) {
                    keys(account, &mut key_run, &mut out);
                }
                key_run.push(*key);
            }
            Write::Applied(write) => applied_run.push(write),
            Write::Sql { sql, params } => {
                keys(account, &mut key_run, &mut out);
                out.push((sql, params));
            }
            Write::Control(sql) => {
                keys(account, &mut key_run, &mut out);
                applied(&mut applied_run, &mut out);
                out.push((sql.to_string(), Vec::new()));
            }
        }
    }
    keys(account, &mut key_run, &mut out);
    applied(&mut applied_run, &mut out);
    out
}

/// Where the open change's savepoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    /// The change has written nothing: nothing to undo.
    Clean,
    /// Its writes are queued from this index of `pending`, none sent: undone
    /// by dropping them, kept with no savepoint at all.
    Queued(usize),
    /// `SAVEPOINT change` was sent before its first write went out.
    Sent,
}

/// What a record holds that another may not: a live name (folded, per
/// entity), a verifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Held {
    Name(Entity, String),
    Verifier(Vec<u8>),
}

/// One push: a pooled connection in a transaction that holds the account's
/// row lock. Dropped without `commit`, its connection is closed rather than
/// returned to the pool, which rolls the transaction back.
///
/// Holding the lock, it hands revisions out itself and writes the last one
/// back at `commit`; `prepare` reads, in one round trip, the push's replays,
/// record owners and the records holding the names and verifiers it sets;
/// writes are queued and sent as one pipeline with the next read or the
/// commit; and a change's savepoint is sent only if its writes went out
/// before it ended.
pub struct PgTx {
    conn: Option<Object>,
    account: AccountId,
    /// The last revision handed out, and the one the account row holds.
    revision: i64,
    stored_revision: i64,
    /// The open change: the revision when it began, and its savepoint.
    savepoint: Option<(i64, Savepoint)>,
    pending: Vec<Write>,
    /// What `prepare` read for the whole push, and what was written since;
    /// trusted while `prepared` (a change undone after its writes went out
    /// clears it, and the database is asked from then on).
    prepared: bool,
    applied: HashMap<Uuid, Applied>,
    /// Records' owners and tombstone flags.
    owners: HashMap<Uuid, (String, bool)>,
    /// The names and verifiers `prepare` looked for, with the records that
    /// held them in the database.
    stored: HashMap<Held, Vec<Uuid>>,
    /// What each record this transaction wrote holds now, and the reverse.
    written: HashMap<Uuid, Vec<Held>>,
    holders: HashMap<Held, BTreeSet<Uuid>>,
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

fn params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PgTx {
    fn conn(&self) -> &Object {
        self.conn
            .as_ref()
            .expect("a transaction's connection until it ends")
    }

    /// Queues a write of the open change (after its savepoint, if it needs one).
    fn queue_write(&mut self, write: Write) {
        if let Some((revision, Savepoint::Clean)) = self.savepoint {
            self.savepoint = Some((revision, Savepoint::Queued(self.pending.len())));
        }
        self.pending.push(write);
    }

    fn queue(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        let sql = sql.into();
        self.queue_write(Write::Sql { sql, params });
    }

    /// Sends every queued write — preceded by the open change's savepoint if
    /// it has queued writes — and then `sql`, if any, in one pipeline: one
    /// round trip. The first error wins; the writes' before the read's.
    async fn send(
        &mut self,
        sql: Option<&str>,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let mut writes = std::mem::take(&mut self.pending);
        if let Some((revision, Savepoint::Queued(at))) = self.savepoint {
            writes.insert(at, Write::Control("SAVEPOINT change"));
            self.savepoint = Some((revision, Savepoint::Sent));
        }
        let writes = statements(&self.account.0, writes);
        let conn = self.conn();
        // Every statement prepared first (cached per connection), so that the
        // pipeline below sends them in order.
        let mut prepared = Vec::with_capacity(writes.len());
        for (sql, _) in &writes {
            prepared.push(conn.prepare_cached(sql).await.map_err(db)?);
        }
        let read = match sql {
            Some(sql) => Some(conn.prepare_cached(sql).await.map_err(db)?),
            None => None,
        };
        let args_of: Vec<Vec<&(dyn ToSql + Sync)>> =
            writes.iter().map(|(_, args)| params(args)).collect();
        let mut sent: Vec<_> = prepared
            .iter()
            .zip(&args_of)
            .map(|(statement, args)| Box::pin(conn.execute(statement, args)))
            .collect();
        let mut query = read
            .as_ref()
            .map(|statement| Box::pin(conn.query(statement, args)));
        // tokio-postgres sends a request when its future is first polled:
        // polling each once, in order, sends them all before any answer is
        // awaited (a pipeline), and the answers come back in the same order.
        let mut early: Vec<Option<Result<u64, tokio_postgres::Error>>> =
            (0..sent.len()).map(|_| None).collect();
        let mut early_rows = None;
        std::future::poll_fn(|cx| {
            for (future, slot) in sent.iter_mut().zip(early.iter_mut()) {
                if let std::task::Poll::Ready(result) = future.as_mut().poll(cx) {
                    *slot = Some(result);
                }
            }
            if let Some(future) = query.as_mut() {
                if let std::task::Poll::Ready(result) = future.as_mut().poll(cx) {
                    early_rows = Some(result);
                }
            }
            std::task::Poll::Ready(())
        })
        .await;
        for (future, slot) in sent.iter_mut().zip(early) {
            match slot {
                Some(result) => result.map_err(db)?,
                None => future.await.map_err(db)?,
            };
        }
        let rows = match (early_rows, query) {
            (Some(result), _) => result,
            (None, Some(future)) => future.await,
            (None, None) => return Ok(Vec::new()),
        };
        rows.map_err(db)
    }

    /// A read that sees every write of this transaction.
    async fn query(
        &mut self,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.send(Some(sql), args).await
    }

    async fn query_opt(
        &mut self,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        let mut rows = self.query(sql, args).await?;
        if rows.len() > 1 {
            return Err(StoreError::Storage(format!(
                "{} rows where one was expected",
                rows.len()
            )));
        }
        Ok(rows.pop())
    }

    async fn query_one(
        &mut self,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<tokio_postgres::Row> {
        self.query_opt(sql, args)
            .await?
            .ok_or_else(|| StoreError::Storage("a record read in the push is missing".into()))
    }

    async fn key_groups(&mut self, id: &str) -> Result<BTreeSet<Uuid>> {
        let rows = self
            .query("SELECT group_id FROM key_groups WHERE key_id = $1", &[&id])
            .await?;
        rows.iter().map(|row| parse_uuid(row.get(0))).collect()
    }

    /// Remembers what a write left a record holding (nothing for a
    /// tombstone), for the push's later lookups.
    fn wrote(&mut self, id: &Uuid, holds: Vec<Held>) {
        let deleted = holds.is_empty();
        self.owners
            .entry(*id)
            .and_modify(|owner| owner.1 = deleted)
            .or_insert((self.account.0.clone(), deleted));
        for held in self.written.remove(id).unwrap_or_default() {
            if let Some(ids) = self.holders.get_mut(&held) {
                ids.remove(id);
            }
        }
        for held in &holds {
            self.holders.entry(held.clone()).or_default().insert(*id);
        }
        self.written.insert(*id, holds);
    }

    /// Whether another live record holds `held`, as `prepare`'s reads and
    /// this transaction's writes tell: `None` when they cannot.
    fn known_taken(&self, held: &Held, except: &Uuid) -> Option<bool> {
        let stored = self
            .stored
            .get(held)?
            .iter()
            .any(|id| id != except && !self.written.contains_key(id));
        let written = self
            .holders
            .get(held)
            .is_some_and(|ids| ids.iter().any(|id| id != except));
        Some(stored || written)
    }
}

#[async_trait]
impl WriteTx for PgTx {
    async fn prepare(&mut self, changes: &[keyward_model::wire::Change]) -> Result<()> {
        use keyward_model::wire::ChangeAction;
        let ids: Vec<String> = changes
            .iter()
            .map(|c| c.idempotency_id.to_string())
            .collect();
        let records: Vec<String> = changes.iter().map(|c| c.action.id().to_string()).collect();
        let (mut key_names, mut group_names, mut verifiers) = (Vec::new(), Vec::new(), Vec::new());
        for change in changes {
            match &change.action {
                ChangeAction::UpsertKey { fields, .. } => {
                    key_names.extend(fields.name.as_deref().map(validate::fold));
                    verifiers.extend(fields.verifier.map(|v| v.0.to_vec()));
                }
                ChangeAction::UpsertGroup { fields, .. } => {
                    group_names.extend(fields.name.as_deref().map(validate::fold));
                }
                _ => {}
            }
        }
        let conn = self.conn();
        let statements = [
            "SELECT idempotency_id, account_id, fingerprint, result FROM applied_changes WHERE idempotency_id = ANY($1)",
            "SELECT id, account_id, deleted FROM keys WHERE id = ANY($1)
             UNION ALL SELECT id, account_id, deleted FROM groups WHERE id = ANY($1)",
            "SELECT 'k', id, name_fold FROM keys WHERE account_id = $1 AND NOT deleted AND name_fold = ANY($2)
             UNION ALL SELECT 'g', id, name_fold FROM groups WHERE account_id = $1 AND NOT deleted AND name_fold = ANY($3)",
            "SELECT id, verifier FROM keys WHERE verifier = ANY($1)",
        ];
        let mut prepared = Vec::with_capacity(statements.len());
        for sql in statements {
            prepared.push(conn.prepare_cached(sql).await.map_err(db)?);
        }
        // One round trip for the four.
        let (applied, owners, names, taken) = futures_util::future::join4(
            conn.query(&prepared[0], &[&ids]),
            conn.query(&prepared[1], &[&records]),
            conn.query(&prepared[2], &[&self.account.0, &key_names, &group_names]),
            conn.query(&prepared[3], &[&verifiers]),
        )
        .await;
        for row in applied.map_err(db)? {
            let applied = Applied {
                account: row.get(1),
                fingerprint: row.get(2),
                result: row.get(3),
            };
            self.applied.insert(parse_uuid(row.get(0))?, applied);
        }
        for row in owners.map_err(db)? {
            self.owners
                .insert(parse_uuid(row.get(0))?, (row.get(1), row.get(2)));
        }
        // Every name and verifier asked for is known, held or not.
        let asked = key_names
            .iter()
            .map(|fold| Held::Name(Entity::Key, fold.clone()))
            .chain(
                group_names
                    .iter()
                    .map(|fold| Held::Name(Entity::Group, fold.clone())),
            )
            .chain(verifiers.iter().cloned().map(Held::Verifier));
        for held in asked {
            self.stored.entry(held).or_default();
        }
        for row in names.map_err(db)? {
            let entity = match row.get::<_, &str>(0) {
                "k" => Entity::Key,
                _ => Entity::Group,
            };
            let (id, fold): (&str, String) = (row.get(1), row.get(2));
            let holders = self.stored.entry(Held::Name(entity, fold)).or_default();
            holders.push(parse_uuid(id)?);
        }
        for row in taken.map_err(db)? {
            let (id, verifier): (&str, Vec<u8>) = (row.get(0), row.get(1));
            let holders = self.stored.entry(Held::Verifier(verifier)).or_default();
            holders.push(parse_uuid(id)?);
        }
        self.prepared = true;
        Ok(())
    }

    async fn applied(&mut self, idempotency_id: &Uuid) -> Result<Option<Applied>> {
        if self.prepared {
            return Ok(self.applied.get(idempotency_id).cloned());
        }
        let row = self
            .query_opt(
                "SELECT account_id, fingerprint, result FROM applied_changes WHERE idempotency_id = $1",
                &[&idempotency_id.to_string()],
            )
            .await?;
        Ok(row.map(|row| Applied {
            account: row.get(0),
            fingerprint: row.get(1),
            result: row.get(2),
        }))
    }

    async fn record_applied(&mut self, idempotency_id: &Uuid, applied: &Applied) -> Result<()> {
        self.applied.insert(*idempotency_id, applied.clone());
        self.queue_write(Write::Applied(AppliedWrite {
            id: idempotency_id.to_string(),
            applied: applied.clone(),
            at: to_millis(OffsetDateTime::now_utc()),
        }));
        Ok(())
    }

    async fn next_revision(&mut self) -> Result<u64> {
        // The account's row is locked by this transaction: nobody else takes one.
        self.revision += 1;
        Ok(self.revision as u64)
    }

    async fn owner(&mut self, entity: Entity, id: &Uuid) -> Result<Option<(String, bool)>> {
        if self.prepared {
            // Ids are UUIDv7: a key and a group never share one.
            return Ok(self.owners.get(id).cloned());
        }
        let sql = format!(
            "SELECT account_id, deleted FROM {} WHERE id = $1",
            table(entity)
        );
        let row = self.query_opt(&sql, &[&id.to_string()]).await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    async fn load_key(&mut self, id: &Uuid) -> Result<(KeyRow, RecordMeta)> {
        let id = id.to_string();
        let row = self
            .query_one(
                "SELECT name, description, access, allow_unbind, status, hint, verifier, created_at, created_by,
                        expires_at, field_meta
                 FROM keys WHERE id = $1",
                &[&id],
            )
            .await?;
        let access: String = row.get(2);
        let status: String = row.get(4);
        let meta: String = row.get(10);
        let key = KeyRow {
            name: row.get(0),
            description: row.get(1),
            access: parse_access(&access)?,
            allow_unbind: row.get(3),
            groups: self.key_groups(&id).await?,
            status: KeyStatus::parse(&status),
            hint: row.get(5),
            verifier: row.get(6),
            created_at: row.get(7),
            created_by: row.get(8),
            expires_at: row.get(9),
        };
        Ok((key, RecordMeta::parse(&meta)?))
    }

    async fn load_group(&mut self, id: &Uuid) -> Result<(GroupRow, RecordMeta)> {
        let row = self
            .query_one(
                "SELECT name, description, scopes, field_meta FROM groups WHERE id = $1",
                &[&id.to_string()],
            )
            .await?;
        let scopes: String = row.get(2);
        let meta: String = row.get(3);
        Ok((
            GroupRow {
                name: row.get(0),
                description: row.get(1),
                scopes: parse_scopes(&scopes),
            },
            RecordMeta::parse(&meta)?,
        ))
    }

    async fn load_meta(&mut self, entity: Entity, id: &Uuid) -> Result<RecordMeta> {
        let sql = format!("SELECT field_meta FROM {} WHERE id = $1", table(entity));
        let row = self.query_one(&sql, &[&id.to_string()]).await?;
        RecordMeta::parse(row.get(0))
    }

    async fn name_of(&mut self, entity: Entity, id: &Uuid) -> Result<String> {
        let sql = format!("SELECT name FROM {} WHERE id = $1", table(entity));
        let row = self.query_one(&sql, &[&id.to_string()]).await?;
        Ok(row.get(0))
    }

    async fn write_key(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &KeyRow,
        meta: &RecordMeta,
        at: i64,
        groups_changed: bool,
    ) -> Result<()> {
        let fold = validate::fold(&row.name);
        // A key this push creates with no groups has no links to write.
        let new = self.prepared && !self.owners.contains_key(id);
        let holds = vec![
            Held::Name(Entity::Key, fold.clone()),
            Held::Verifier(row.verifier.clone()),
        ];
        self.wrote(id, holds);
        let id = id.to_string();
        self.queue_write(Write::Key(Box::new(KeyWrite {
            id: id.clone(),
            revision: revision as i64,
            row: row.clone(),
            at,
            fold,
            meta: meta.to_text()?,
        })));
        if groups_changed && !(new && row.groups.is_empty()) {
            let groups: Vec<String> = row.groups.iter().map(Uuid::to_string).collect();
            self.queue(
                "WITH gone AS (DELETE FROM key_groups WHERE key_id = $1)
                 INSERT INTO key_groups (key_id, group_id) SELECT $1, unnest($2::text[])",
                vec![Box::new(id), Box::new(groups)],
            );
        }
        Ok(())
    }

    async fn write_group(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &GroupRow,
        meta: &RecordMeta,
        at: i64,
    ) -> Result<()> {
        let fold = validate::fold(&row.name);
        self.wrote(id, vec![Held::Name(Entity::Group, fold.clone())]);
        self.queue(
            "INSERT INTO groups (id, account_id, revision, name, description, scopes, updated_at, name_fold, field_meta)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET revision = $3, name = $4, description = $5, scopes = $6,
                 updated_at = GREATEST(groups.updated_at, $7), name_fold = $8, field_meta = $9",
            vec![
                Box::new(id.to_string()),
                Box::new(self.account.0.clone()),
                Box::new(revision as i64),
                Box::new(row.name.clone()),
                Box::new(row.description.clone()),
                Box::new(scopes_column(&row.scopes)),
                Box::new(at),
                Box::new(fold),
                Box::new(meta.to_text()?),
            ],
        );
        Ok(())
    }

    async fn write_tombstone(
        &mut self,
        entity: Entity,
        id: &Uuid,
        revision: u64,
        at: i64,
        meta: &RecordMeta,
    ) -> Result<()> {
        self.wrote(id, Vec::new());
        let (table, id) = (table(entity), id.to_string());
        self.queue(
            format!(
                "INSERT INTO {table} (id, account_id, revision, deleted, updated_at) VALUES ($1, $2, $3, TRUE, $4)
                 ON CONFLICT (id) DO NOTHING"
            ),
            vec![
                Box::new(id.clone()),
                Box::new(self.account.0.clone()),
                Box::new(revision as i64),
                Box::new(at),
            ],
        );
        let clear = match entity {
            Entity::Group => "name = NULL, description = NULL, scopes = NULL",
            Entity::Key => {
                self.queue(
                    "DELETE FROM key_groups WHERE key_id = $1",
                    vec![Box::new(id.clone())],
                );
                "name = NULL, description = NULL, access = NULL, allow_unbind = NULL, status = NULL, hint = NULL,
                 verifier = NULL, created_at = NULL, created_by = NULL, last_used_at = NULL, expires_at = NULL"
            }
        };
        self.queue(
            format!(
                "UPDATE {table} SET deleted = TRUE, revision = $2, updated_at = GREATEST(updated_at, $3), name_fold = NULL,
                     field_meta = $4, {clear} WHERE id = $1"
            ),
            vec![
                Box::new(id),
                Box::new(revision as i64),
                Box::new(at),
                Box::new(meta.to_text()?),
            ],
        );
        Ok(())
    }

    async fn verifier_taken(&mut self, verifier: &[u8], except: &Uuid) -> Result<bool> {
        if self.prepared {
            let known = self.known_taken(&Held::Verifier(verifier.to_vec()), except);
            if let Some(taken) = known {
                return Ok(taken);
            }
        }
        let row = self
            .query_opt(
                "SELECT 1 FROM keys WHERE verifier = $1 AND id <> $2",
                &[&verifier, &except.to_string()],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn name_taken(&mut self, entity: Entity, name_fold: &str, except: &Uuid) -> Result<bool> {
        if self.prepared {
            let known = self.known_taken(&Held::Name(entity, name_fold.to_string()), except);
            if let Some(taken) = known {
                return Ok(taken);
            }
        }
        let sql = format!(
            "SELECT 1 FROM {} WHERE account_id = $1 AND NOT deleted AND name_fold = $2 AND id <> $3 LIMIT 1",
            table(entity)
        );
        let account = self.account.0.clone();
        let row = self
            .query_opt(&sql, &[&account, &name_fold, &except.to_string()])
            .await?;
        Ok(row.is_some())
    }

    async fn live_groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let account = self.account.0.clone();
        let rows = self
            .query(
                "SELECT id, name, scopes FROM groups WHERE id = ANY($1) AND account_id = $2 AND NOT deleted",
                &[&ids, &account],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let scopes: String = row.get(2);
                Ok((
                    parse_uuid(row.get(0))?,
                    GroupInfo {
                        name: row.get(1),
                        scopes: parse_scopes(&scopes),
                    },
                ))
            })
            .collect()
    }

    async fn write_notices(&mut self, revision: u64, notices: &[Notice]) -> Result<()> {
        for notice in notices {
            let conflict = serde_json::to_string(&notice.conflict)
                .map_err(|err| StoreError::Storage(err.to_string()))?;
            self.queue(
                "INSERT INTO conflict_notices (account_id, origin, revision, conflict) VALUES ($1, $2, $3, $4)",
                vec![
                    Box::new(self.account.0.clone()),
                    Box::new(notice.origin.to_string()),
                    Box::new(revision as i64),
                    Box::new(conflict),
                ],
            );
        }
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<()> {
        // Sent only if the change's writes go out before it ends.
        self.savepoint = Some((self.revision, Savepoint::Clean));
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<()> {
        if let Some((_, Savepoint::Sent)) = self.savepoint.take() {
            self.queue_write(Write::Control("RELEASE change"));
        }
        Ok(())
    }

    async fn rollback_to_savepoint(&mut self) -> Result<()> {
        let Some((revision, savepoint)) = self.savepoint.take() else {
            return Ok(());
        };
        self.revision = revision;
        match savepoint {
            Savepoint::Clean => return Ok(()),
            // Never sent: dropped.
            Savepoint::Queued(at) => self.pending.truncate(at),
            Savepoint::Sent => {
                // Whatever is queued is this change's.
                self.pending.clear();
                self.queue_write(Write::Control("ROLLBACK TO change"));
                self.queue_write(Write::Control("RELEASE change"));
            }
        }
        // What the caches learnt from the undone writes is gone with them:
        // from here on, ask the database.
        self.prepared = false;
        self.applied.clear();
        self.owners.clear();
        self.stored.clear();
        self.written.clear();
        self.holders.clear();
        Ok(())
    }

    async fn commit(mut self) -> Result<()> {
        if self.revision != self.stored_revision {
            // Records changed: every instance hears of it when this commits.
            self.queue(
                "WITH account AS (UPDATE accounts SET revision = $2 WHERE id = $1)
                 SELECT pg_notify($3, '')",
                vec![
                    Box::new(self.account.0.clone()),
                    Box::new(self.revision),
                    Box::new(COMMITS_CHANNEL),
                ],
            );
        }
        self.queue_write(Write::Control("COMMIT"));
        match self.send(None, &[]).await {
            Ok(_) => {
                self.conn.take();
                Ok(())
            }
            // In doubt: the connection does not go back to the pool (Drop).
            Err(err) => Err(err),
        }
    }
}

fn token_info(row: &tokio_postgres::Row) -> TokenInfo {
    TokenInfo {
        id: row.get(0),
        account: row.get(1),
        hint: row.get(2),
        created_at: from_millis(row.get(3)),
        revoked_at: row.get::<_, Option<i64>>(4).map(from_millis),
        label: row.get(5),
    }
}

const TOKEN_COLUMNS: &str = "SELECT t.id, a.name, t.hint, t.created_at, t.revoked_at, t.label FROM sync_tokens t JOIN accounts a ON a.id = t.account_id";

fn key_record(row: &tokio_postgres::Row) -> Result<PulledRecord> {
    if row.get::<_, bool>(2) {
        return Ok(PulledRecord::KeyDeleted);
    }
    let verifier: Vec<u8> = row.get(9);
    let groups: Option<String> = row.get(15);
    let access: String = row.get(5);
    let status: String = row.get(7);
    Ok(PulledRecord::Key(Box::new(KeyRecord {
        name: row.get(3),
        description: row.get(4),
        access: parse_access(&access)?,
        allow_unbind: row.get(6),
        status: KeyStatus::parse(&status),
        hint: row.get(8),
        verifier: Verifier(
            verifier
                .try_into()
                .map_err(|_| StoreError::Storage("a stored verifier is not 32 bytes".into()))?,
        ),
        created_at: from_millis(row.get(10)),
        created_by: row.get(11),
        updated_at: from_millis(row.get(12)),
        last_used_at: row.get::<_, Option<i64>>(13).map(from_millis),
        expires_at: row.get::<_, Option<i64>>(14).map(from_millis),
        groups: groups
            .unwrap_or_default()
            .split_whitespace()
            .map(parse_uuid)
            .collect::<Result<_>>()?,
    })))
}

#[async_trait]
impl Backend for PgBackend {
    type Tx = PgTx;
    const BLOCKING: bool = false;

    async fn begin(&self, account: &AccountId) -> Result<PgTx> {
        let conn = self.client().await?;
        conn.batch_execute("BEGIN").await.map_err(db)?;
        let mut tx = PgTx {
            conn: Some(conn),
            account: account.clone(),
            revision: 0,
            stored_revision: 0,
            savepoint: None,
            pending: Vec::new(),
            prepared: false,
            applied: HashMap::new(),
            owners: HashMap::new(),
            stored: HashMap::new(),
            written: HashMap::new(),
            holders: HashMap::new(),
        };
        // The account's write lock, held until the transaction ends.
        let locked = tx
            .conn()
            .query_opt(
                "SELECT revision FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account.0],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("no account {:?}", account.0)))?;
        tx.revision = locked.get(0);
        tx.stored_revision = tx.revision;
        Ok(tx)
    }

    async fn key_by_verifier(&self, verifier: &[u8; 32]) -> Result<Option<KeyGrant>> {
        let conn = self.client().await?;
        let statement = conn
            .prepare_cached(
                "SELECT k.id, k.status, k.expires_at, k.access, k.allow_unbind,
                        EXISTS (SELECT 1 FROM key_groups kg WHERE kg.key_id = k.id),
                        (SELECT string_agg(g.scopes, ' ') FROM key_groups kg
                           JOIN groups g ON g.id = kg.group_id AND g.account_id = k.account_id AND NOT g.deleted
                          WHERE kg.key_id = k.id)
                 FROM keys k WHERE k.verifier = $1 AND NOT k.deleted",
            )
            .await
            .map_err(db)?;
        let Some(row) = conn
            .query_opt(&statement, &[&verifier.as_slice()])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let status: String = row.get(1);
        let access: String = row.get(3);
        let has_groups: bool = row.get(5);
        let scopes: Option<String> = row.get(6);
        Ok(Some(KeyGrant {
            id: row.get(0),
            active: status == "active",
            expires_at: row.get::<_, Option<i64>>(2).map(from_millis),
            access: parse_access(&access)?,
            allow_unbind: row.get(4),
            // A key whose groups were all deleted gets an empty set, never its access type alone.
            scopes: has_groups.then(|| parse_scopes(&scopes.unwrap_or_default())),
        }))
    }

    async fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>> {
        let conn = self.client().await?;
        let row = conn
            .query_opt(
                "SELECT account_id, id FROM sync_tokens WHERE hash = $1 AND revoked_at IS NULL",
                &[&token_hash.as_slice()],
            )
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(SyncClient {
                account: AccountId(row.get(0)),
                origin: parse_uuid(row.get(1))?,
            })
        })
        .transpose()
    }

    async fn pull_rows(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullRows> {
        let mut conn = self.client().await?;
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let fetch = i64::from(limit) + 1;
        // One snapshot for the records and the notices.
        let tx = conn
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let account = &client.account.0;
        let mut changes = Vec::new();
        for row in tx
            .query(
                "SELECT id, revision, deleted, name, description, scopes, updated_at FROM groups
                 WHERE account_id = $1 AND revision > $2 ORDER BY revision LIMIT $3",
                &[account, &since, &fetch],
            )
            .await
            .map_err(db)?
        {
            let record = if row.get::<_, bool>(2) {
                PulledRecord::GroupDeleted
            } else {
                let scopes: String = row.get(5);
                PulledRecord::Group(GroupRecord {
                    name: row.get(3),
                    description: row.get(4),
                    scopes: parse_scopes(&scopes).into_iter().collect(),
                    updated_at: from_millis(row.get(6)),
                })
            };
            changes.push(PulledChange {
                revision: row.get::<_, i64>(1) as u64,
                id: parse_uuid(row.get(0))?,
                record,
            });
        }
        for row in tx
            .query(
                "SELECT id, revision, deleted, name, description, access, allow_unbind, status, hint, verifier,
                        created_at, created_by, updated_at, last_used_at, expires_at,
                        (SELECT string_agg(group_id, ' ' ORDER BY group_id) FROM key_groups WHERE key_id = k.id)
                 FROM keys k WHERE account_id = $1 AND revision > $2 ORDER BY revision LIMIT $3",
                &[account, &since, &fetch],
            )
            .await
            .map_err(db)?
        {
            changes.push(PulledChange {
                revision: row.get::<_, i64>(1) as u64,
                id: parse_uuid(row.get(0))?,
                record: key_record(&row)?,
            });
        }
        let upto = changes
            .iter()
            .map(|change| change.revision as i64)
            .max()
            .unwrap_or(since);
        let mut notices = Vec::new();
        for row in tx
            .query(
                "SELECT revision, conflict FROM conflict_notices
                 WHERE account_id = $1 AND origin = $2 AND revision > $3 AND revision <= $4
                 ORDER BY revision, seq",
                &[account, &client.origin.to_string(), &since, &upto],
            )
            .await
            .map_err(db)?
        {
            let text: String = row.get(1);
            let conflict: Conflict = serde_json::from_str(&text)
                .map_err(|err| StoreError::Storage(format!("unreadable conflict notice: {err}")))?;
            notices.push((row.get::<_, i64>(0) as u64, conflict));
        }
        tx.commit().await.map_err(db)?;
        Ok(PullRows { changes, notices })
    }

    async fn record_last_used(
        &self,
        uses: &HashMap<String, OffsetDateTime>,
        publish_after_ms: i64,
    ) -> Result<()> {
        let mut conn = self.client().await?;
        // By account: each account's revisions under its own lock, in one go.
        let mut by_account: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        {
            let ids: Vec<String> = uses.keys().cloned().collect();
            for row in conn
                .query(
                    "SELECT id, account_id FROM keys WHERE id = ANY($1) AND NOT deleted",
                    &[&ids],
                )
                .await
                .map_err(db)?
            {
                let id: String = row.get(0);
                let at = to_millis(uses[&id]);
                by_account.entry(row.get(1)).or_default().push((id, at));
            }
        }
        for (account, uses) in by_account {
            let tx = conn.transaction().await.map_err(db)?;
            tx.execute(
                "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account],
            )
            .await
            .map_err(db)?;
            for (id, at) in uses {
                // Only forward; a new revision only when the time moved on far
                // enough since the one its last revision carried.
                let publish = tx
                    .query_opt(
                        "SELECT 1 FROM keys WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)
                           AND (last_used_published IS NULL OR $2 - last_used_published > $3)",
                        &[&id, &at, &publish_after_ms],
                    )
                    .await
                    .map_err(db)?
                    .is_some();
                if publish {
                    tx.execute(
                        "WITH next AS (UPDATE accounts SET revision = revision + 1 WHERE id = $3 RETURNING revision)
                         UPDATE keys SET last_used_at = $2, last_used_published = $2,
                             revision = (SELECT revision FROM next)
                         WHERE id = $1",
                        &[&id, &at, &account],
                    )
                    .await
                    .map_err(db)?;
                } else {
                    tx.execute(
                        "UPDATE keys SET last_used_at = GREATEST(coalesce(last_used_at, $2), $2) WHERE id = $1",
                        &[&id, &at],
                    )
                    .await
                    .map_err(db)?;
                }
            }
            tx.commit().await.map_err(db)?;
        }
        Ok(())
    }

    async fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>> {
        let conn = self.client().await?;
        let row = conn
            .query_opt(
                "SELECT seq, hash FROM audit_heads WHERE token_id = $1",
                &[&client.origin.to_string()],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|row| AuditHead {
            seq: row.get::<_, i64>(0) as u64,
            hash: row.get(1),
        }))
    }

    async fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead> {
        let conn = self.client().await?;
        let token = client.origin.to_string();
        let row = conn
            .query_one(
                "INSERT INTO audit_heads AS h (token_id, seq, hash, recorded_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (token_id) DO UPDATE SET
                     seq = CASE WHEN $2 > h.seq THEN $2 ELSE h.seq END,
                     hash = CASE WHEN $2 > h.seq THEN $3 ELSE h.hash END,
                     recorded_at = CASE WHEN $2 > h.seq THEN $4 ELSE h.recorded_at END
                 RETURNING seq, hash",
                &[
                    &token,
                    &(head.seq as i64),
                    &head.hash,
                    &to_millis(OffsetDateTime::now_utc()),
                ],
            )
            .await
            .map_err(db)?;
        Ok(AuditHead {
            seq: row.get::<_, i64>(0) as u64,
            hash: row.get(1),
        })
    }

    async fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo> {
        let (name, label) = super::token_names(account_name, label)?;
        let fold = validate::fold(&name);
        let now = to_millis(OffsetDateTime::now_utc());
        let mut conn = self.client().await?;
        let tx = conn.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO accounts (id, name, name_fold, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name_fold) DO NOTHING",
            &[&Uuid::now_v7().to_string(), &name, &fold, &now],
        )
        .await
        .map_err(db)?;
        let account_id: String = tx
            .query_one("SELECT id FROM accounts WHERE name_fold = $1", &[&fold])
            .await
            .map_err(db)?
            .get(0);
        let id = Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO sync_tokens (id, account_id, hash, hint, created_at, label) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &account_id, &token_hash.as_slice(), &hint, &now, &label],
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(&format!("{TOKEN_COLUMNS} WHERE t.id = $1"), &[&id])
            .await
            .map_err(db)?;
        let info = token_info(&row);
        tx.commit().await.map_err(db)?;
        Ok(info)
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let conn = self.client().await?;
        let rows = conn
            .query(&format!("{TOKEN_COLUMNS} ORDER BY t.created_at, t.id"), &[])
            .await
            .map_err(db)?;
        Ok(rows.iter().map(token_info).collect())
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenInfo> {
        let id = id.trim();
        let conn = self.client().await?;
        let changed = conn
            .execute(
                "UPDATE sync_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
                &[&id, &to_millis(OffsetDateTime::now_utc())],
            )
            .await
            .map_err(db)?;
        if changed == 0 {
            return Err(super::unknown_token(id));
        }
        let row = conn
            .query_one(&format!("{TOKEN_COLUMNS} WHERE t.id = $1"), &[&id])
            .await
            .map_err(db)?;
        Ok(token_info(&row))
    }

    async fn check(&self) -> Result<()> {
        let conn = self.client().await?;
        conn.query_one("SELECT 1", &[]).await.map_err(db)?;
        Ok(())
    }

    fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Write {
        Write::Key(Box::new(KeyWrite {
            id: id.into(),
            revision: 1,
            row: KeyRow {
                name: id.into(),
                description: None,
                access: AccessType::Read,
                allow_unbind: false,
                groups: BTreeSet::new(),
                status: KeyStatus::Active,
                hint: "kw_…".into(),
                verifier: vec![0; 32],
                created_at: 0,
                created_by: "test".into(),
                expires_at: None,
            },
            at: 0,
            fold: id.into(),
            meta: "{}".into(),
        }))
    }

    fn applied(id: &str) -> Write {
        Write::Applied(AppliedWrite {
            id: id.into(),
            applied: Applied {
                account: "a".into(),
                fingerprint: vec![1],
                result: "{}".into(),
            },
            at: 0,
        })
    }

    /// Which statements a queue becomes, by their first words, and the rows
    /// of each batched one.
    fn shape(writes: Vec<Write>) -> Vec<String> {
        statements("a", writes)
            .iter()
            .map(|(sql, params)| {
                let head: String = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
                match sql.as_str() {
                    UPSERT_KEYS => format!("keys {:?}", params[1]),
                    INSERT_APPLIED => format!("applied {:?}", params[0]),
                    _ => head,
                }
            })
            .collect()
    }

    #[test]
    fn a_queue_becomes_few_statements_in_an_order_that_keeps_its_meaning() {
        let links = || Write::Sql {
            sql: "DELETE FROM key_groups WHERE key_id = $1".into(),
            params: Vec::new(),
        };
        let shaped = shape(vec![
            key("k1"),
            applied("c1"),
            key("k2"),
            applied("c2"),
            // The same key again: a statement may not upsert a row twice.
            key("k1"),
            links(),
            key("k3"),
            Write::Control("SAVEPOINT change"),
            applied("c3"),
            key("k4"),
        ]);
        assert_eq!(
            shaped,
            [
                r#"keys ["k1", "k2"]"#,
                r#"keys ["k1"]"#,
                "DELETE FROM key_groups",
                r#"keys ["k3"]"#,
                r#"applied ["c1", "c2"]"#,
                "SAVEPOINT change",
                r#"keys ["k4"]"#,
                r#"applied ["c3"]"#,
            ]
        );
    }
}
