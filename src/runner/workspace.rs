//! A grading workspace: one student login role with its own database per setup and the
//! connections to them, kept open across submissions. A batch has one per worker, so that
//! no student can lock, signal or slow another's work beyond its own limits. A database
//! a file may have changed for good (it ended the grader's transaction, lost its
//! connection, or grew) is dropped and built again before anything else runs on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::db::server::RoleState;
use crate::db::{Limits, Link, Login, PgSession, Session, describe_error};
use crate::exercise::{CheckSpec, Dataset, Exercise, RunAs};

use super::RunError;

/// How long the grader keeps trying to reach the server after losing a connection; a
/// server restarting after a crashed backend answers again within a few seconds.
const RECONNECT_LIMIT: Duration = Duration::from_secs(15);

/// Growth of a database (dead rows a rolled-back file left) past which it is built again,
/// so that one student's bulk does not count against the next one's size limit.
const REBUILD_GROWTH: u64 = 32 * 1024 * 1024;

/// Rows a file may write before its database is measured after it: a row takes at most
/// a page (8 kB), so these can leave at most a quarter of [`REBUILD_GROWTH`] behind, and
/// measuring a database costs a walk over its files.
const UNMEASURED_ROWS: u64 = 1000;

/// One setup's database and what the grader knows of it.
#[derive(Debug)]
struct SetupDb {
    name: String,
    config: tokio_postgres::Config,
    /// Statements that put every sequence back as the setup left it, since `nextval` and
    /// `setval` are not undone by a rollback.
    restore_sequences: String,
    /// Its size right after the setup.
    baseline: u64,
    /// Set by the size watchdog while the database is over its limit.
    over_size: Arc<AtomicBool>,
    /// The tables and materialized views the setup made, as it left them.
    relations: Vec<SetupRelation>,
    /// Whether a file's first session must wait until the server has published the
    /// database's statistics (see [`Workspace::published`]).
    unpublished: bool,
    /// The planner's size estimates of its tables as the setup left them (see
    /// [`PLANNER_SIZES`]).
    planner_sizes: Option<String>,
}

/// The planner's size estimates of every table outside the catalog (`pg_class.relpages`
/// and `reltuples`), in one line. `ANALYZE` and `CREATE INDEX` write them in place, so a
/// rollback does not undo them: a file that analyzed the table with rows of its own in
/// it leaves the next file (and the next student) another plan.
const PLANNER_SIZES: &str = "SELECT pg_catalog.string_agg(c.oid::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
       OPERATOR(pg_catalog.||) c.relpages::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
       OPERATOR(pg_catalog.||) c.reltuples::pg_catalog.text, ' ' ORDER BY c.oid) \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm']::\"char\"[]) \
       AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema']) \
       AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp)'";

/// A table or materialized view a setup made: where it is, and the file that holds its
/// rows (a `TRUNCATE` or a rewrite gives it another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRelation {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    pub filenode: u32,
    /// Its columns as the catalog describes them (see `untouched::COLUMNS`).
    pub columns: String,
}

/// How a file's use of its connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing happened that a rollback does not undo.
    Clean,
    /// The connection was lost or its backend ended.
    Lost,
    /// The file may have changed the database for good.
    Tainted,
}

/// Which database: a setup's own data (`dataset` 0) or one of its variants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbKey {
    pub setup: String,
    pub dataset: usize,
}

impl DbKey {
    pub fn base(setup: &str) -> DbKey {
        DbKey {
            setup: setup.to_string(),
            dataset: 0,
        }
    }

    pub fn of(setup: &str, dataset: usize) -> DbKey {
        DbKey {
            setup: setup.to_string(),
            dataset,
        }
    }
}

/// One worker's role, databases and open connections.
#[derive(Debug)]
pub struct Workspace {
    link: Arc<Link>,
    student: Login,
    /// The student's role as the grader made it, to notice a file that changed it.
    role_state: Option<RoleState>,
    setup_files: BTreeMap<String, Vec<(PathBuf, RunAs)>>,
    /// Each setup's datasets.
    datasets: BTreeMap<String, Vec<Dataset>>,
    setups: BTreeMap<DbKey, SetupDb>,
    sessions: BTreeMap<DbKey, PgSession>,
    limits: Limits,
    /// The extensions every database gets before its setup.
    extensions: Vec<String>,
    /// The setups of files with an answer about the server's statistics (a `result`
    /// check with `against`).
    statistics: BTreeSet<String>,
}

impl Workspace {
    /// Creates a student role and one database per setup the exercise's files use, and
    /// applies each setup's files, as the student or as the instructor; then one per
    /// variant dataset, a copy of its setup's database with the variant's file applied.
    pub async fn prepare(
        exercise: &Exercise,
        link: &Arc<Link>,
        limits: Limits,
    ) -> Result<Workspace, RunError> {
        let extensions = available(exercise, link).await?;
        let student = link.add_student().await?;
        let role_state = link.role_state(&student).await;
        let mut workspace = Workspace {
            link: link.clone(),
            student,
            role_state,
            setup_files: BTreeMap::new(),
            datasets: BTreeMap::new(),
            setups: BTreeMap::new(),
            sessions: BTreeMap::new(),
            limits,
            extensions,
            statistics: exercise
                .manifest
                .files
                .iter()
                .filter(|file| {
                    exercise.tasks_of(&file.name).any(|task| {
                        task.checks.iter().any(|c| {
                            matches!(
                                c,
                                CheckSpec::Result {
                                    against: Some(_),
                                    ..
                                }
                            )
                        })
                    })
                })
                .map(|file| file.setup.clone())
                .collect(),
        };
        let mut keys = Vec::new();
        for file in &exercise.manifest.files {
            if workspace.setup_files.contains_key(&file.setup) {
                continue;
            }
            workspace
                .setup_files
                .insert(file.setup.clone(), exercise.setup_files(&file.setup));
            let datasets = exercise.datasets(&file.setup);
            keys.push(DbKey::base(&file.setup));
            // A setup whose statistics an answer reads has them ready before any file
            // runs there: its hidden datasets too are made now (see `settle`), in full.
            // So is a variant applied after some of the setup's files only, which is
            // cheaper made from those than copied.
            let statistics = workspace.statistics.contains(&file.setup);
            keys.extend(
                datasets
                    .iter()
                    .filter(|d| d.index > 0 && (statistics || d.after.is_some()))
                    .map(|d| DbKey::of(&file.setup, d.index)),
            );
            workspace.datasets.insert(file.setup.clone(), datasets);
        }
        // Side by side: a setup that generates its data keeps a core busy while another
        // is made.
        let made = {
            let this = &workspace;
            futures_util::future::join_all(keys.iter().map(|key| this.make(key, None))).await
        };
        for (key, db) in keys.into_iter().zip(made) {
            workspace.setups.insert(key, db?);
        }
        // The other hidden datasets: copies of their setup's database, each with its
        // variant applied, made while nobody is connected to the setup's database yet
        // (a setup that generates 120,000 rows is not run again per dataset). One built
        // again later (after a file that broke it) runs its setup anew.
        let copies: Vec<(DbKey, String)> = workspace
            .datasets
            .iter()
            .flat_map(|(setup, datasets)| (1..datasets.len()).map(move |i| DbKey::of(setup, i)))
            .filter(|key| !workspace.setups.contains_key(key))
            .filter_map(|key| {
                let base = workspace.setups.get(&DbKey::base(&key.setup))?;
                Some((key, base.name.clone()))
            })
            .collect();
        let made = {
            let this = &workspace;
            futures_util::future::join_all(
                copies
                    .iter()
                    .map(|(key, base)| this.make(key, Some(base.as_str()))),
            )
            .await
        };
        for ((key, _), db) in copies.into_iter().zip(made) {
            workspace.setups.insert(key, db?);
        }
        Ok(workspace)
    }

    /// The tables the setup of `key` made, as it left them.
    pub fn relations(&self, key: &DbKey) -> &[SetupRelation] {
        self.setups
            .get(key)
            .map_or(&[], |db| db.relations.as_slice())
    }

    /// The datasets of `setup`, its own data first.
    pub fn datasets(&self, setup: &str) -> &[Dataset] {
        self.datasets.get(setup).map_or(&[], Vec::as_slice)
    }

    /// Creates the database of `key` and applies its setup's files, then its variant's.
    async fn build(&mut self, key: &DbKey) -> Result<(), RunError> {
        let db = self.make(key, None).await?;
        self.setups.insert(key.clone(), db);
        Ok(())
    }

    /// Makes the database of `key`: creates it and applies its setup's files, then its
    /// variant's; or, `from` the setup's own database, copies that and applies the
    /// variant's file alone.
    async fn make(&self, key: &DbKey, from: Option<&str>) -> Result<SetupDb, RunError> {
        let dataset = self.datasets(&key.setup).get(key.dataset);
        let mut files = match (from, dataset.and_then(|d| d.after.clone())) {
            (Some(_), _) => Vec::new(),
            (None, Some(after)) => after,
            (None, None) => self
                .setup_files
                .get(&key.setup)
                .cloned()
                .unwrap_or_default(),
        };
        if key.dataset > 0 {
            let variant = self
                .datasets(&key.setup)
                .get(key.dataset)
                .and_then(|d| d.file.clone())
                .ok_or_else(|| {
                    RunError::Lost(format!(
                        "setup `{}` has no dataset {}",
                        key.setup, key.dataset
                    ))
                })?;
            files.push(variant);
        }
        let name = match from {
            Some(base) => self.link.copy_database(&self.student, base).await?,
            None => {
                self.link
                    .create_database(&self.student, &self.extensions)
                    .await?
            }
        };
        let config = self.link.config_for(&self.student, &name);
        let client = crate::db::server::connect(&config)
            .await
            .map_err(|e| RunError::Lost(describe_error(&e)))?;
        let mut backends = vec![backend_pid(&client).await?];
        for (path, run_as) in files {
            match run_as {
                RunAs::Student => super::setup::apply(&client, &path).await?,
                RunAs::Instructor => {
                    let instructor = self.link.config_for(self.link.instructor(), &name);
                    let as_instructor = crate::db::server::connect(&instructor)
                        .await
                        .map_err(|e| RunError::Lost(describe_error(&e)))?;
                    backends.push(backend_pid(&as_instructor).await?);
                    super::setup::apply(&as_instructor, &path).await?;
                }
            }
        }
        let restore_sequences = sequence_states(&client).await?;
        let relations = setup_relations(&client).await?;
        let planner_sizes = client
            .query_one(PLANNER_SIZES, &[])
            .await
            .ok()
            .and_then(|row| row.get::<_, Option<String>>(0));
        let baseline = match self.link.database_size(&name).await {
            Some(size) => size,
            None => database_size(&client).await.unwrap_or(0),
        };
        drop(client);
        self.settle(&backends).await;
        let over_size =
            self.link
                .watchdog
                .watch(&name, &self.student.role, self.limits.max_database);
        Ok(SetupDb {
            name,
            config,
            restore_sequences,
            baseline,
            over_size,
            relations,
            unpublished: self.link.major < 15 && self.statistics.contains(&key.setup),
            planner_sizes,
        })
    }

    /// Waits until the setup's sessions have ended. A session reports what it did to the
    /// server's statistics (`pg_stat_user_indexes`' scans) when it ends, before it leaves
    /// `pg_stat_activity`: a file graded after that sees the statistics the setup made,
    /// which an answer about them is graded on. Bounded: a session that does not end in
    /// time leaves its statistics late, which changes what such an answer sees, never a
    /// snapshot.
    async fn settle(&self, backends: &[i32]) {
        let deadline = std::time::Instant::now() + SETTLE_LIMIT;
        while std::time::Instant::now() < deadline {
            let rows = self
                .link
                .admin_query(
                    "SELECT 1 FROM pg_catalog.pg_stat_activity \
                     WHERE pid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int4[])",
                    &[&backends],
                )
                .await;
            match rows {
                Ok(rows) if rows.is_empty() => return,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
                Err(_) => return,
            }
        }
    }

    /// On PostgreSQL 14 and earlier, waits until the statistics collector has written
    /// database `name` into the file sessions read statistics from. Until then a session
    /// in it takes the file it finds, up to half a second old, for that database's
    /// statistics, which then hold none of what its setup did; from then on the first
    /// session to read them asks for them anew. Bounded: a late collector leaves an
    /// answer about statistics graded on fewer of them, never a snapshot.
    async fn published(&self, name: &str) {
        let deadline = std::time::Instant::now() + SETTLE_LIMIT;
        while std::time::Instant::now() < deadline {
            let rows = self
                .link
                .admin_query(
                    "SELECT 1 FROM pg_catalog.pg_database d \
                     WHERE d.datname OPERATOR(pg_catalog.=) $1 \
                       AND pg_catalog.pg_stat_get_db_xact_commit(d.oid) OPERATOR(pg_catalog.>) 0",
                    &[&name],
                )
                .await;
            match rows {
                Ok(rows) if !rows.is_empty() => return,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                Err(_) => return,
            }
        }
    }

    /// Drops the database of `key` and builds it again.
    async fn rebuild(&mut self, key: &DbKey) -> Result<(), RunError> {
        if let Some(old) = self.setups.remove(key) {
            self.link.watchdog.forget(&old.name);
            // A database that cannot be dropped is left to `close`; the new one is clean.
            let _ = self.link.drop_database(&old.name).await;
        }
        self.build(key).await
    }

    /// A connection to the database of `key`, outside any transaction: a kept one, or a
    /// new one (waiting while a recovering server comes back). A variant's database
    /// dropped after a file broke it is built again here.
    pub async fn session(&mut self, key: &DbKey) -> Result<&mut PgSession, RunError> {
        if key.dataset > 0 && !self.setups.contains_key(key) {
            self.build(key).await?;
        }
        if let Some(db) = self.setups.get(key) {
            // Watched while in use: only then can it grow.
            self.link.watchdog.busy(&db.name, true);
        }
        // Waited for here, not when the database is made: files of other setups are
        // graded meanwhile.
        if let Some(name) = self
            .setups
            .get(key)
            .filter(|db| db.unpublished)
            .map(|db| db.name.clone())
        {
            self.published(&name).await;
            if let Some(db) = self.setups.get_mut(key) {
                db.unpublished = false;
            }
        }
        if !self.sessions.contains_key(key) {
            let db = self
                .setups
                .get(key)
                .ok_or_else(|| RunError::Lost(format!("no database for setup `{}`", key.setup)))?;
            let session = connect_retrying(
                &db.config,
                self.limits,
                self.link.clone(),
                db.over_size.clone(),
            )
            .await?;
            self.sessions.insert(key.clone(), session);
        }
        self.sessions
            .get_mut(key)
            .ok_or_else(|| RunError::Lost(format!("no connection for setup `{}`", key.setup)))
    }

    /// True when a file changed the student's login role (its settings, its password):
    /// only a file that escapes the grader's transaction can. The role is put back, and
    /// must then look as it did when the grader made it; its password's hash alone is new
    /// (a hash is salted).
    ///
    /// A file whose transaction the guard saw intact cannot have changed it, so `suspect`
    /// says when to look: always where logins use passwords (a password the student set
    /// would let anyone in while the run lasts), else only after a file that broke.
    pub async fn role_changed(&mut self, suspect: bool) -> Result<bool, RunError> {
        if !suspect && !self.link.uses_passwords() {
            return Ok(false);
        }
        let Some(before) = self.role_state.clone() else {
            return Ok(false);
        };
        match self.link.role_state(&self.student).await {
            Some(now) if now != before => {
                self.link.restore_role(&self.student).await;
                let restored = self.link.role_state(&self.student).await;
                match restored {
                    Some(r) if r.attributes == before.attributes => {
                        self.role_state = Some(r);
                        Ok(true)
                    }
                    _ => Err(RunError::Lost(format!(
                        "the student role `{}` was changed and cannot be put back",
                        self.student.role
                    ))),
                }
            }
            _ => Ok(false),
        }
    }

    /// Ends a file's use of its connection. A clean one is rolled back, its sequences put
    /// back and everything the session holds discarded (settings, prepared statements,
    /// advisory locks, temporary tables); otherwise, or when the database grew, the
    /// connection is closed, its backend ended, and the database built again.
    pub async fn release(
        &mut self,
        key: &DbKey,
        after: After,
        written: Option<u64>,
    ) -> Result<(), RunError> {
        if let Some(db) = self.setups.get(key) {
            self.link.watchdog.busy(&db.name, false);
        }
        let Some(mut session) = self.sessions.remove(key) else {
            return Ok(());
        };
        session.set_deadline(None);
        if after == After::Clean && self.still_clean(key, &mut session, written).await {
            // DISCARD ALL also dropped the statements the client caches for types.
            session.forget_prepared();
            self.sessions.insert(key.clone(), session);
            return Ok(());
        }
        let _ = session.control("ROLLBACK").await;
        let backend = session.backend;
        drop(session);
        // Closing the connection ends its backend, unless it is busy ignoring signals:
        // it is ended by force before the next file starts.
        self.link.end_backend(backend).await;
        // A prepared transaction would keep the database from being dropped.
        self.rollback_prepared(key).await;
        // A server that cannot make a database now is lost, not misconfigured.
        self.rebuild(key).await.map_err(|e| match e {
            RunError::Provision(p) => RunError::Lost(p.to_string()),
            other => other,
        })
    }

    /// Makes a session ready for the next file: rolled back, its sequences put back, all
    /// it holds discarded. False when its database must be built again instead: it holds
    /// a prepared transaction, or grew.
    async fn still_clean(
        &self,
        key: &DbKey,
        session: &mut PgSession,
        written: Option<u64>,
    ) -> bool {
        let Some(db) = self.setups.get(key) else {
            return false;
        };
        // One round trip: whatever fails, the database is built again, so nothing after a
        // failed step can leave a mark that counts.
        let reset = session
            .run_between("ROLLBACK", &db.restore_sequences, "DISCARD ALL")
            .await;
        if reset.before.is_err() || reset.answer.is_err() || reset.after.is_err() {
            return false;
        }
        // On a server that allows them, a prepared transaction is something a rollback
        // cannot undo.
        if self.link.prepared_transactions
            && session_rows(
                session,
                "SELECT 1 FROM pg_catalog.pg_prepared_xacts \
                 WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
            )
            .await
                != Some(0)
        {
            return false;
        }
        if db.over_size.load(Ordering::SeqCst) {
            return false;
        }
        // What the rollback left of the file's ANALYZE: the next file must plan on the
        // setup's estimates.
        let sizes = session
            .control(PLANNER_SIZES)
            .await
            .ok()
            .and_then(|out| out.rows.first().and_then(|r| r.first().cloned().flatten()));
        if sizes != db.planner_sizes {
            return false;
        }
        if written.is_some_and(|rows| rows <= UNMEASURED_ROWS) {
            return true;
        }
        let size = match self.link.database_size(&db.name).await {
            Some(size) => Some(size),
            None => session_size(session).await,
        };
        size.is_some_and(|size| size <= db.baseline + REBUILD_GROWTH)
    }

    /// The `SECURITY DEFINER` functions of the setups that code of the student's could
    /// take over: ones whose `search_path` is not pinned, or names a schema the student
    /// may create objects in (or create, when it does not exist). An exercise must ship
    /// none, since such a function runs the student's overload of any function or
    /// operator it calls with its owner's rights.
    pub async fn definer_problems(&mut self) -> Result<Vec<String>, RunError> {
        let mut out = Vec::new();
        let setups: Vec<String> = self.setup_files.keys().cloned().collect();
        let role = crate::db::server::quote_literal(&self.student.role);
        for setup in setups {
            let key = DbKey::base(&setup);
            let session = self.session(&key).await?;
            let found = session
                .control(
                    "SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text, \
                     (SELECT pg_catalog.substr(c, 13) FROM pg_catalog.unnest(p.proconfig) AS c \
                      WHERE c OPERATOR(pg_catalog.~~) 'search_path=%') \
                     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace \
                     WHERE p.prosecdef AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema']) \
                     ORDER BY 1",
                )
                .await
                .map_err(|f| RunError::Lost(f.message()))?;
            for row in found.rows {
                let name = row.first().cloned().flatten().unwrap_or_default();
                let Some(Some(path)) = row.get(1).cloned() else {
                    out.push(format!(
                        "setup `{setup}`: the SECURITY DEFINER function `{name}` does not pin `search_path`; add `SET search_path = pg_catalog, pg_temp` and name every table with its schema"
                    ));
                    continue;
                };
                let schemas: Vec<String> = path
                    .split(',')
                    .map(|s| s.trim().trim_matches('"').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for (i, schema) in schemas.iter().enumerate() {
                    let verdict = match schema.as_str() {
                        "pg_catalog" => None,
                        "pg_temp" if i + 1 == schemas.len() => None,
                        "pg_temp" => Some("puts `pg_temp`, where the student creates tables, before other schemas".to_string()),
                        "$user" => Some("names `$user`, a schema the student could create".to_string()),
                        other => {
                            let sql = format!(
                                "SELECT COALESCE((SELECT pg_catalog.has_schema_privilege({role}, n.oid, 'CREATE') \
                                 FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) {}), true)",
                                crate::db::server::quote_literal(other)
                            );
                            let open = session
                                .control(&sql)
                                .await
                                .map_err(|f| RunError::Lost(f.message()))?;
                            let writable = open.rows.first().and_then(|r| r.first().cloned().flatten());
                            (writable.as_deref() != Some("f")).then(|| {
                                format!("names `{other}`, a schema the student may create objects in")
                            })
                        }
                    };
                    if let Some(why) = verdict {
                        out.push(format!(
                            "setup `{setup}`: the SECURITY DEFINER function `{name}` {why}; use `SET search_path = pg_catalog, pg_temp` and name every table with its schema"
                        ));
                    }
                }
            }
            self.release(&key, After::Clean, Some(0)).await?;
        }
        Ok(out)
    }

    /// Rolls back every prepared transaction of the database of `key`, on a connection
    /// of the student's own (who prepared them), on a server that allows them.
    async fn rollback_prepared(&self, key: &DbKey) {
        let Some(db) = self.setups.get(key) else {
            return;
        };
        if !self.link.prepared_transactions {
            return;
        }
        let Ok(client) = crate::db::server::connect(&db.config).await else {
            return;
        };
        let Ok(rows) = client
            .query(
                "SELECT gid FROM pg_catalog.pg_prepared_xacts \
                 WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
                &[],
            )
            .await
        else {
            return;
        };
        for row in rows {
            let gid: String = row.get(0);
            let _ = client
                .batch_execute(&format!(
                    "ROLLBACK PREPARED {}",
                    crate::db::server::quote_literal(&gid)
                ))
                .await;
        }
    }
}

/// How many rows `sql` returns on the session.
async fn session_rows(session: &mut PgSession, sql: &str) -> Option<usize> {
    session.control(sql).await.ok().map(|out| out.rows.len())
}

/// How long [`Workspace::settle`] waits for a setup's sessions to end.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The server process behind `client`.
async fn backend_pid(client: &tokio_postgres::Client) -> Result<i32, RunError> {
    client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .await
        .map(|row| row.get(0))
        .map_err(|e| RunError::Lost(describe_error(&e)))
}

/// The size of the session's database.
async fn session_size(session: &mut PgSession) -> Option<u64> {
    let out = session
        .control("SELECT pg_catalog.pg_database_size(pg_catalog.current_database())")
        .await
        .ok()?;
    out.rows.first()?.first()?.as_ref()?.parse().ok()
}

async fn database_size(client: &tokio_postgres::Client) -> Option<u64> {
    let row = client
        .query_one(
            "SELECT pg_catalog.pg_database_size(pg_catalog.current_database())",
            &[],
        )
        .await
        .ok()?;
    Some(row.get::<_, i64>(0).max(0) as u64)
}

/// The tables and materialized views outside the catalog, as they are now.
async fn setup_relations(client: &tokio_postgres::Client) -> Result<Vec<SetupRelation>, RunError> {
    let rows = client
        .query(
            &format!(
                "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.oid, c.relfilenode, {} \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = ANY (ARRAY['r', 'p', 'm']::\"char\"[]) \
               AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema']) \
               AND n.nspname !~ '^pg_toast'",
                super::untouched::COLUMNS
            ),
            &[],
        )
        .await
        .map_err(|e| RunError::Lost(describe_error(&e)))?;
    Ok(rows
        .iter()
        .map(|r| SetupRelation {
            schema: r.get(0),
            name: r.get(1),
            oid: r.get(2),
            filenode: r.get(3),
            columns: r.get(4),
        })
        .collect())
}

/// The statements that set every sequence of the database back to its present state.
async fn sequence_states(client: &tokio_postgres::Client) -> Result<String, RunError> {
    let lost = |e: tokio_postgres::Error| RunError::Lost(describe_error(&e));
    let names = client
        .query(
            // Only the sequences the student could move; the instructor's own advance
            // only through the instructor's code.
            "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c \
             WHERE CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(c.oid, 'UPDATE') END \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(lost)?;
    let mut out = String::new();
    for row in names {
        let name: String = row.get(0);
        let state = client
            .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(lost)?;
        let last: i64 = state.get(0);
        let called: bool = state.get(1);
        out.push_str(&format!(
            "SELECT pg_catalog.setval({}, {last}, {called});",
            crate::db::server::quote_literal(&name)
        ));
    }
    Ok(out)
}

/// The names of the extensions `exercise` requires, once the server is known to have
/// each in a version recent enough; else why not, and how to get it.
async fn available(exercise: &Exercise, link: &Link) -> Result<Vec<String>, RunError> {
    let wanted = exercise.requirements();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = wanted.iter().map(|r| r.name.clone()).collect();
    let rows = link
        .admin_query(
            "SELECT name::pg_catalog.text, default_version FROM pg_catalog.pg_available_extensions \
             WHERE name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])",
            &[&names],
        )
        .await
        .map_err(RunError::Lost)?;
    for r in &wanted {
        let version: Option<String> = rows
            .iter()
            .find(|row| row.get::<_, String>(0) == r.name)
            .and_then(|row| row.get(1));
        let have = match &version {
            Some(v) if r.accepts(v) => continue,
            Some(v) => format!("has {} {v}", r.name),
            None => format!("does not have `{}`", r.name),
        };
        return Err(RunError::Unsupported(format!(
            "exercise `{}` needs the extension `{}`{}, and this PostgreSQL {} {have}: {}",
            exercise.id,
            r.name,
            r.at_least
                .as_ref()
                .map(|v| format!(" {v} or later"))
                .unwrap_or_default(),
            link.major,
            how_to_get(&r.name, link.major)
        )));
    }
    Ok(names)
}

/// How to get extension `name` for PostgreSQL `major`, in a clause.
fn how_to_get(name: &str, major: u32) -> String {
    match name {
        "vector" => format!(
            "install pgvector for it (Debian and Ubuntu: `apt-get install postgresql-{major}-pgvector`, where the release packages it; Homebrew: `brew install pgvector`), point `--pg-bin` at a server that has it, or use `--db docker --image pgvector/pgvector:pg{major}`"
        ),
        _ => format!(
            "install `{name}` for PostgreSQL {major}, point `--pg-bin` at a server that has it, or use `--db docker` with an image that ships it"
        ),
    }
}

/// Connects, retrying while the server recovers.
async fn connect_retrying(
    config: &tokio_postgres::Config,
    limits: Limits,
    link: Arc<Link>,
    over_size: Arc<AtomicBool>,
) -> Result<PgSession, RunError> {
    let started = Instant::now();
    loop {
        match PgSession::connect(config, limits, link.clone(), over_size.clone()).await {
            Ok(session) => return Ok(session),
            Err(e) if started.elapsed() >= RECONNECT_LIMIT => {
                return Err(RunError::Lost(format!(
                    "{e} (gave up after {} s)",
                    RECONNECT_LIMIT.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
