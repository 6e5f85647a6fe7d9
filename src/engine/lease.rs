//! The lease a running job holds, and the heartbeat that renews it.
//!
//! Every write of the job goes to the store with the lease, so that once
//! another process has taken the job over (the lease lapsed: this process
//! stalled, or lost the database for longer than the lease), this one can
//! change nothing more: the store answers [`Error::LeaseLost`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Inner;
use super::progress::Cancel;
use crate::error::Error;
use crate::id::{JobId, TenantId};
use crate::jobs::Lease;

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseTimes {
    pub(crate) ttl: Duration,
    pub(crate) heartbeat: Duration,
}

impl LeaseTimes {
    /// When a lease taken or renewed now ends.
    pub(crate) fn until(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX)
    }
}

/// The lease of the job this process runs, as last renewed.
#[derive(Debug)]
pub(crate) struct HeldLease {
    current: Mutex<Lease>,
    lost: AtomicBool,
}

impl HeldLease {
    pub(crate) fn new(lease: Lease) -> Arc<HeldLease> {
        Arc::new(HeldLease {
            current: Mutex::new(lease),
            lost: AtomicBool::new(false),
        })
    }

    /// The lease to send with a write.
    pub(crate) fn current(&self) -> Lease {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the heartbeat found the job taken over.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Before a write to the CRM, which the job store cannot fence: refuses
    /// once the job was taken over, or once the lease, as last renewed,
    /// has run out (the heartbeat could not reach the store, and another
    /// process may own the job by now). Such a process stops instead of
    /// writing values older than the new owner's.
    pub(crate) fn check(
        &self,
        job: &JobId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        if self.is_lost() || self.current().is_expired(now) {
            self.lost.store(true, Ordering::Relaxed);
            return Err(Error::LeaseLost { job: job.clone() });
        }
        Ok(())
    }
}

/// Renews the lease every `heartbeat` until dropped. When the store says
/// the lease is another's, the job is cancelled here (its next write would
/// be refused anyway) and marked lost; any other failure is retried at the
/// next beat, the lease's remaining time being the margin.
pub(crate) struct Heartbeat(JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Heartbeat {
    pub(crate) fn start(
        inner: Arc<Inner>,
        tenant: TenantId,
        job: JobId,
        held: Arc<HeldLease>,
        cancel: Cancel,
    ) -> Heartbeat {
        let times = inner.lease;
        Heartbeat(tokio::spawn(async move {
            let mut beat = tokio::time::interval(times.heartbeat);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            beat.tick().await; // the first tick is immediate
            loop {
                beat.tick().await;
                let lease = held.current();
                let until = times.until((inner.clock)());
                match inner.jobs.renew_lease(&tenant, &job, &lease, until).await {
                    Ok(renewed) => {
                        *held.current.lock().unwrap_or_else(|p| p.into_inner()) = renewed;
                    }
                    Err(Error::LeaseLost { .. }) => {
                        tracing::warn!(%tenant, %job, "lease lost: another process took the job over");
                        held.lost.store(true, Ordering::Relaxed);
                        cancel.cancel();
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%tenant, %job, error = %e, "could not renew the job's lease");
                    }
                }
            }
        }))
    }
}
