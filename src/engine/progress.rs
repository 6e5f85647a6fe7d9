//! Progress events and cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, broadcast};

use crate::id::JobId;
use crate::jobs::{Job, ObjectProgress};
use crate::object::SObject;
use crate::source::ApiUsage;

/// What an import reports while it runs, in order. The same state is kept
/// in the [`JobStore`](crate::JobStore) as snapshots, for readers in other
/// processes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// The job started (or resumed), with its objects in import order.
    JobStarted {
        /// The job.
        job: JobId,
        /// The objects, in import order.
        objects: Vec<SObject>,
    },
    /// An object started.
    ObjectStarted {
        /// The object.
        object: SObject,
    },
    /// A page was recorded; the object's progress so far.
    Page {
        /// The object's progress after the page.
        progress: ObjectProgress,
    },
    /// The org's API usage, as the source reported it with the page just
    /// recorded (REST sources only). An admin page shows it so that an
    /// import does not surprise anyone by using up the daily allowance.
    ApiUsage {
        /// Requests used and the allowance.
        usage: ApiUsage,
    },
    /// References set by the second pass (accounts linked to parents
    /// imported after them).
    Relinked {
        /// The object.
        object: SObject,
        /// How many references were set.
        links: u64,
    },
    /// An object finished (done, unavailable, failed or cancelled).
    ObjectFinished {
        /// The object's final progress.
        progress: ObjectProgress,
    },
    /// The job finished; its final state.
    JobFinished {
        /// The job.
        job: Box<Job>,
    },
}

/// Sends events to whoever listens; nobody listening is fine.
#[derive(Debug, Clone)]
pub(crate) struct Events(broadcast::Sender<ProgressEvent>);

impl Events {
    pub(crate) fn new() -> (Events, broadcast::Receiver<ProgressEvent>) {
        let (tx, rx) = broadcast::channel(1024);
        (Events(tx), rx)
    }

    pub(crate) fn send(&self, event: ProgressEvent) {
        // An error only means no receiver is listening right now.
        let _ = self.0.send(event);
    }

    /// A handle that can subscribe while the job runs without keeping
    /// the channel open after it ends (so listeners see the stream end).
    pub(crate) fn downgrade(&self) -> broadcast::WeakSender<ProgressEvent> {
        self.0.downgrade()
    }
}

/// A cancellation flag shared by a handle and its running job. The job
/// checks it between pages, so what was written stays consistent; a fetch
/// (and its retries' waits) is abandoned as soon as it is raised.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cancel(Arc<CancelState>);

#[derive(Debug, Default)]
pub(crate) struct CancelState {
    raised: AtomicBool,
    wake: Notify,
}

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.0.raised.store(true, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is raised.
    pub(crate) async fn cancelled(&self) {
        loop {
            // Registered before the check, so a `cancel` in between wakes it.
            let woken = self.0.wake.notified();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }
}
