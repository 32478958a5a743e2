//! Jobs: the policies TimescaleDB runs in background workers, here run by one scheduler
//! task ([`run_policies`]) or at once by `CALL run_job(id)` ([`run_job`]).
//!
//! A job is a policy kept in the storage catalog (so it survives restarts):
//! - a continuous aggregate refresh policy (`add_continuous_aggregate_policy`): the window
//!   `[now - start_offset, now - end_offset)` is recomputed from raw rows
//!   ([`crate::cagg::refresh`]);
//! - a retention policy (`add_retention_policy`): partitions entirely older than
//!   `now - drop_after` are dropped;
//! - a tiering policy (`add_tiering_policy`): partitions entirely older than
//!   `now - move_after` are moved to the cold object store
//!   ([`strata_storage::Storage::tier_partitions`]).
//!
//! Run statistics ([`JobStats`]: last start/finish, status, counts, last error, next start)
//! are kept **in memory** by [`Jobs`], one per engine; a restart resets them (as if every
//! job had never run), the policies themselves stay. `timescaledb_information.job_stats`
//! and `job_errors` read them.
//!
//! Scheduling: a job first runs one `schedule_interval` after the scheduler first sees it
//! (server start, or the policy's creation), then every `schedule_interval` after the end
//! of its previous run, whether it failed or not (TimescaleDB backs off after failures;
//! Strata retries at the normal pace). Jobs run one at a time, in job id order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use strata_storage::{CatalogState, RefreshPolicy, RetentionPolicy, TieringPolicy};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// How many failures `timescaledb_information.job_errors` remembers.
const MAX_ERRORS: usize = 100;

/// Default `schedule_interval` of a tiering policy.
pub const TIERING_DEFAULT_SCHEDULE: &str = "1 hour";

/// What a job does.
#[derive(Debug, Clone)]
pub enum Policy {
    /// Refresh policy of the continuous aggregate `view`.
    Refresh {
        view: String,
        policy: RefreshPolicy,
    },
    Retention(RetentionPolicy),
    Tiering(TieringPolicy),
}

/// One job of the catalog.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    /// As the user gave it (`1 hour`).
    pub schedule: String,
    pub policy: Policy,
}

impl Job {
    /// TimescaleDB's procedure name (`timescaledb_information.jobs.proc_name`).
    pub fn proc_name(&self) -> &'static str {
        match self.policy {
            Policy::Refresh { .. } => "policy_refresh_continuous_aggregate",
            Policy::Retention(_) => "policy_retention",
            Policy::Tiering(_) => "policy_tiering",
        }
    }

    /// TimescaleDB's check function name, if the policy kind has one.
    pub fn check_name(&self) -> Option<&'static str> {
        match self.policy {
            Policy::Refresh { .. } => Some("policy_refresh_continuous_aggregate_check"),
            Policy::Retention(_) => Some("policy_retention_check"),
            Policy::Tiering(_) => None,
        }
    }

    /// `application_name`, as TimescaleDB names its policy jobs.
    pub fn application_name(&self) -> String {
        let kind = match self.policy {
            Policy::Refresh { .. } => "Refresh Continuous Aggregate Policy",
            Policy::Retention(_) => "Retention Policy",
            Policy::Tiering(_) => "Tiering Policy",
        };
        format!("{kind} [{}]", self.id)
    }

    /// The schedule in microseconds (at least one second; a day if it does not parse).
    pub fn schedule_micros(&self) -> i64 {
        crate::ddl::simple_interval_micros(&self.schedule)
            .unwrap_or(86_400_000_000)
            .max(1_000_000)
    }
}

/// Every job of a catalog snapshot, by id.
pub fn list(cat: &CatalogState) -> Vec<Job> {
    let mut jobs: Vec<Job> = cat
        .caggs
        .iter()
        .filter_map(|v| {
            v.policy.as_ref().map(|p| Job {
                id: p.job_id,
                schedule: p.schedule_interval.clone(),
                policy: Policy::Refresh {
                    view: v.name.clone(),
                    policy: p.clone(),
                },
            })
        })
        .chain(cat.retention.iter().map(|p| Job {
            id: p.job_id,
            schedule: p.schedule_interval.clone(),
            policy: Policy::Retention(p.clone()),
        }))
        .chain(cat.tiering.iter().map(|p| Job {
            id: p.job_id,
            schedule: p.schedule_interval.clone(),
            policy: Policy::Tiering(p.clone()),
        }))
        .collect();
    jobs.sort_by_key(|j| j.id);
    jobs
}

/// Looks a job up by id.
pub fn find(cat: &CatalogState, id: i64) -> Option<Job> {
    list(cat).into_iter().find(|j| j.id == id)
}

/// Statistics of one job since the server started (times in µs since the epoch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    pub last_run_started_at: Option<i64>,
    pub last_finish: Option<i64>,
    pub last_successful_finish: Option<i64>,
    /// Whether the last finished run succeeded.
    pub last_run_success: Option<bool>,
    /// When the scheduler runs it next.
    pub next_start: Option<i64>,
    pub total_runs: i64,
    pub total_successes: i64,
    pub total_failures: i64,
    /// A run is under way.
    pub running: bool,
    /// SQLSTATE and message of the last failure.
    pub last_error: Option<(String, String)>,
}

/// One failed run, for `timescaledb_information.job_errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    pub job_id: i64,
    pub proc_name: &'static str,
    pub start_time: i64,
    pub finish_time: i64,
    pub sqlerrcode: String,
    pub message: String,
}

/// In-memory job statistics of an engine (reset by a restart).
#[derive(Debug, Default)]
pub struct Jobs {
    stats: parking_lot::Mutex<HashMap<i64, JobStats>>,
    errors: parking_lot::Mutex<VecDeque<JobError>>,
}

impl Jobs {
    /// The statistics of a job (all empty if it has not run since the start).
    pub fn stats(&self, id: i64) -> JobStats {
        self.stats.lock().get(&id).cloned().unwrap_or_default()
    }

    /// Recent failures, oldest first.
    pub fn errors(&self) -> Vec<JobError> {
        self.errors.lock().iter().cloned().collect()
    }

    /// Sets when the scheduler runs a job next.
    pub fn set_next_start(&self, id: i64, at: i64) {
        self.stats.lock().entry(id).or_default().next_start = Some(at);
    }

    /// Forgets the statistics of jobs that no longer exist.
    fn retain(&self, ids: &[i64]) {
        self.stats.lock().retain(|id, _| ids.contains(id));
    }

    /// True if the job is due at `now`; a job seen for the first time is scheduled one
    /// interval from now.
    fn due(&self, id: i64, now: i64, every: i64) -> bool {
        let mut stats = self.stats.lock();
        let s = stats.entry(id).or_default();
        match s.next_start {
            Some(t) => t <= now && !s.running,
            None => {
                s.next_start = Some(now.saturating_add(every));
                false
            }
        }
    }

    fn started(&self, id: i64, at: i64) {
        let mut stats = self.stats.lock();
        let s = stats.entry(id).or_default();
        s.last_run_started_at = Some(at);
        s.running = true;
    }

    fn finished(&self, job: &Job, start: i64, at: i64, result: &Result<()>, next: Option<i64>) {
        let mut stats = self.stats.lock();
        let s = stats.entry(job.id).or_default();
        s.running = false;
        s.last_finish = Some(at);
        s.total_runs += 1;
        if let Some(n) = next {
            s.next_start = Some(n);
        }
        match result {
            Ok(()) => {
                s.last_run_success = Some(true);
                s.last_successful_finish = Some(at);
                s.total_successes += 1;
            }
            Err(e) => {
                let code = e.sqlstate().code().to_string();
                let message = e.to_string();
                s.last_run_success = Some(false);
                s.total_failures += 1;
                s.last_error = Some((code.clone(), message.clone()));
                let mut errors = self.errors.lock();
                if errors.len() >= MAX_ERRORS {
                    errors.pop_front();
                }
                errors.push_back(JobError {
                    job_id: job.id,
                    proc_name: job.proc_name(),
                    start_time: start,
                    finish_time: at,
                    sqlerrcode: code,
                    message,
                });
            }
        }
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Runs one job now (`CALL run_job`). Returns false if there is none with this id; a
/// failure of the job is returned (and recorded in its statistics).
pub async fn run_job(engine: &Engine, job_id: i64) -> Result<bool> {
    let Some(job) = find(&engine.storage().catalog(), job_id) else {
        return Ok(false);
    };
    execute(engine, &job, false).await?;
    Ok(true)
}

/// Runs a job and records its statistics; a scheduled run also sets its next start.
async fn execute(engine: &Engine, job: &Job, scheduled: bool) -> Result<()> {
    let start = now_micros();
    let clock = Instant::now();
    engine.jobs().started(job.id, start);
    let result = match &job.policy {
        Policy::Refresh { view, policy } => run_refresh_policy(engine, view, policy).await,
        Policy::Retention(p) => run_retention_policy(engine, p).await,
        Policy::Tiering(p) => run_tiering_policy(engine, p).await,
    };
    let finish = start.saturating_add(i64::try_from(clock.elapsed().as_micros()).unwrap_or(0));
    let next = scheduled.then(|| finish.saturating_add(job.schedule_micros()));
    engine.jobs().finished(job, start, finish, &result, next);
    match &result {
        Ok(()) => {
            tracing::debug!(job = job.id, proc = job.proc_name(), "job finished");
        }
        Err(e) => {
            tracing::error!(job = job.id, proc = job.proc_name(), sqlstate = e.sqlstate().code(), error = %e, hint = e.hint().unwrap_or(""), "job failed; see timescaledb_information.job_stats / job_errors");
        }
    }
    result
}

async fn run_refresh_policy(engine: &Engine, view: &str, p: &RefreshPolicy) -> Result<()> {
    let now = now_micros();
    let off = |o: &Option<String>| {
        o.as_deref()
            .map(|t| crate::ddl::simple_interval_micros(t).unwrap_or(0))
    };
    let start = off(&p.start_offset).map(|o| now.saturating_sub(o));
    let end = off(&p.end_offset).map(|o| now.saturating_sub(o));
    crate::cagg::refresh(engine, view, start, end, &|_| {}).await
}

/// Drops the partitions of the policy's table (or of the continuous aggregate's states)
/// that end before `now - drop_after`. Rollups of a table are not touched.
async fn run_retention_policy(engine: &Engine, p: &RetentionPolicy) -> Result<()> {
    let storage = engine.storage();
    let cat = storage.catalog();
    let table = match cat.cagg(&p.relation) {
        Some(v) => v.state_table,
        None => match cat.table(&p.relation) {
            Some(t) => t.id,
            None => return Ok(()),
        },
    };
    let after = crate::ddl::simple_interval_micros(&p.drop_after)?;
    let cutoff = now_micros().saturating_sub(after);
    let dropped = storage.drop_partitions(table, Some(cutoff), None).await?;
    if !dropped.is_empty() {
        tracing::info!(relation = %p.relation, job = p.job_id, chunks = dropped.len(), "retention policy dropped chunks");
    }
    Ok(())
}

/// Moves the partitions of the policy's table that end before `now - move_after` to the
/// cold store. A failure leaves the partitions not yet moved in the hot tier, readable.
async fn run_tiering_policy(engine: &Engine, p: &TieringPolicy) -> Result<()> {
    let storage = engine.storage();
    let Some(table) = storage.catalog().table(&p.relation).map(|t| t.id) else {
        return Ok(());
    };
    let after = crate::ddl::simple_interval_micros(&p.move_after)?;
    let cutoff = now_micros().saturating_sub(after);
    match storage.tier_partitions(table, cutoff).await {
        Ok(moved) => {
            if !moved.is_empty() {
                tracing::info!(relation = %p.relation, job = p.job_id, chunks = moved.len(), "tiering policy moved chunks to the cold store");
            }
            Ok(())
        }
        Err(e) => {
            let e = Error::from(e);
            Err(Error::with_hint(
                e.sqlstate(),
                format!(
                    "tiering job {} could not move old chunks of \"{}\" to the cold store {}: {e}",
                    p.job_id,
                    p.relation,
                    storage.cold().url()
                ),
                format!(
                    "The chunks not moved stay in the hot tier and remain readable. Check that the cold store is reachable and writable (--cold-store, [cold_store_options]), then CALL run_job({}) or wait for the next scheduled run.",
                    p.job_id
                ),
            ))
        }
    }
}

/// Runs the jobs on their schedules until `shutdown` resolves (see the module docs).
pub async fn run_policies(engine: Arc<Engine>, shutdown: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let cat = engine.storage().catalog();
        let jobs = list(&cat);
        engine
            .jobs()
            .retain(&jobs.iter().map(|j| j.id).collect::<Vec<_>>());
        for job in jobs {
            if cat.paused_jobs.contains(&job.id) {
                continue;
            }
            if !engine
                .jobs()
                .due(job.id, now_micros(), job.schedule_micros())
            {
                continue;
            }
            // A failure is logged and recorded by `execute`; the next run retries.
            let _ = execute(&engine, &job, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64) -> Job {
        Job {
            id,
            schedule: "1 hour".into(),
            policy: Policy::Tiering(TieringPolicy {
                job_id: id,
                relation: "t".into(),
                move_after: "7 days".into(),
                schedule_interval: "1 hour".into(),
            }),
        }
    }

    #[test]
    fn first_sight_schedules_one_interval_later() {
        let jobs = Jobs::default();
        assert!(!jobs.due(1000, 10, 5));
        assert_eq!(jobs.stats(1000).next_start, Some(15));
        assert!(!jobs.due(1000, 14, 5));
        assert!(jobs.due(1000, 15, 5));
    }

    #[test]
    fn runs_are_counted_and_failures_kept() {
        let jobs = Jobs::default();
        let j = job(1000);
        jobs.started(1000, 100);
        assert!(jobs.stats(1000).running);
        jobs.set_next_start(1000, 50);
        assert!(
            !jobs.due(1000, 200, 5),
            "a running job is not started twice"
        );
        jobs.finished(&j, 100, 150, &Ok(()), Some(500));
        jobs.started(1000, 600);
        let err = Err(Error::user(crate::error::SqlState::IoError, "store down"));
        jobs.finished(&j, 600, 700, &err, None);
        let s = jobs.stats(1000);
        assert_eq!(
            (s.total_runs, s.total_successes, s.total_failures),
            (2, 1, 1)
        );
        assert_eq!(s.last_successful_finish, Some(150));
        assert_eq!(s.last_run_success, Some(false));
        assert_eq!(s.next_start, Some(500));
        assert!(!s.running);
        assert_eq!(
            s.last_error,
            Some(("58030".to_string(), "store down".to_string()))
        );
        let errors = jobs.errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].proc_name, "policy_tiering");
        assert_eq!((errors[0].start_time, errors[0].finish_time), (600, 700));
        jobs.retain(&[]);
        assert_eq!(jobs.stats(1000), JobStats::default());
    }
}
