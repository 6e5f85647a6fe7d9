//! Running one job: objects in plan order, pages in Id order, then the
//! second pass for self-references.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use tracing::Instrument;

use super::ids::IdCache;
use super::lease::{Heartbeat, HeldLease};
use super::page::{ObjectRun, PageContext, Pending};
use super::progress::{Cancel, Events, ProgressEvent};
use super::task::Task;
use super::{Inner, page};
use crate::crm::WriteMode;
use crate::error::{Error, Result};
use crate::error::{FieldError, Problem};
use crate::id::{SfId, TenantId};
use crate::jobs::PageRecord;
use crate::jobs::{Job, LogEntry, ObjectProgress};
use crate::mapping::{LookupSpec, Mapper};
use crate::object::SObject;
use crate::sink::Relink;
use crate::source::{Cursor, Page, PageRequest};
use crate::status::{JobStatus, ObjectState};

pub(crate) struct Runner {
    pub(crate) inner: Arc<Inner>,
    pub(crate) events: Events,
    pub(crate) cancel: Cancel,
    /// The job's lease, renewed by the heartbeat; every write carries it.
    pub(crate) held: Arc<HeldLease>,
    /// The id mappings this run recorded, for later pages' lookups.
    pub(crate) ids: Arc<IdCache>,
}

/// How an object's import ended, short of an error.
enum ObjectEnd {
    Done(ObjectProgress),
    Cancelled(ObjectProgress),
}

/// An error with its sources, for the job's message: "gave up after 5
/// attempts: crm sink failed: writing a page: connection reset".
fn describe(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Runner {
    pub(crate) async fn run(self, job: Job) -> Result<Job> {
        let span = tracing::info_span!("import.job", tenant = %job.tenant, job = %job.id);
        let _heartbeat = Heartbeat::start(
            self.inner.clone(),
            job.tenant.clone(),
            job.id.clone(),
            self.held.clone(),
            self.cancel.clone(),
        );
        let (id, tenant) = (job.id.clone(), job.tenant.clone());
        match self.run_job(job).instrument(span).await {
            // The final status went through under this run's lease: the job
            // was ours to the end (a heartbeat after that write finds the
            // lease released, and is no takeover).
            Ok(job) => Ok(job),
            // Taken over: the job is the new owner's now, and none of this
            // run's writes after the takeover went through.
            Err(_) if self.held.is_lost() => Err(Error::LeaseLost { job: id }),
            Err(e) => {
                // The run broke on a write of its own bookkeeping (the job
                // store failed past its retries). Say so and release the
                // lease if the store answers now: the job is FAILED and
                // resumable at once, not stranded until its lease lapses.
                let lease = self.held.current();
                let ended = self
                    .inner
                    .jobs
                    .set_status(
                        &tenant,
                        &id,
                        JobStatus::Failed,
                        self.now(),
                        Some(describe(&e)),
                        Some(&lease),
                    )
                    .await;
                if let Err(also) = ended {
                    tracing::warn!(error = %also, "could not mark the broken job failed; it is stranded until its lease lapses");
                }
                Err(e)
            }
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.inner.clock)()
    }

    async fn set_object_state(
        &self,
        job: &Job,
        object: &SObject,
        state: ObjectState,
    ) -> Result<()> {
        self.inner
            .backoff
            .run("set object state", || {
                let lease = self.held.current();
                async move {
                    self.inner
                        .jobs
                        .set_object_state(&job.tenant, &job.id, object, state, Some(&lease))
                        .await
                }
            })
            .await
    }

    async fn run_job(&self, job: Job) -> Result<Job> {
        let jobs = &self.inner.jobs;
        let at = self.now();
        self.inner
            .backoff
            .run("start job", || {
                let lease = self.held.current();
                let job = &job;
                async move {
                    jobs.set_status(
                        &job.tenant,
                        &job.id,
                        JobStatus::InProgress,
                        at,
                        None,
                        Some(&lease),
                    )
                    .await
                }
            })
            .await?;
        tracing::info!(objects = job.objects.len(), "import started");
        self.events.send(ProgressEvent::JobStarted {
            job: job.id.clone(),
            objects: job.objects.iter().map(|o| o.object.clone()).collect(),
        });

        let mut failure: Option<String> = None;
        let mut cancelled = false;
        let mut unavailable: Vec<String> = Vec::new();
        // Objects run as soon as the objects they refer to are done, up to
        // `objects_in_flight` at once (Product2 beside Account; Contact
        // only after Account), started in plan order.
        let needs = self.dependencies(&job);
        let mut finished: HashSet<SObject> = HashSet::new();
        let mut waiting: Vec<ObjectProgress> = Vec::new();
        for progress in &job.objects {
            match progress.state {
                ObjectState::Done => {
                    finished.insert(progress.object.clone());
                }
                ObjectState::Unavailable => {
                    unavailable.push(progress.object.to_string());
                    finished.insert(progress.object.clone());
                }
                _ => waiting.push(progress.clone()),
            }
        }
        let mut running = FuturesUnordered::new();
        loop {
            while failure.is_none() && !cancelled && running.len() < self.inner.objects_in_flight {
                let Some(i) = waiting.iter().position(|p| {
                    needs
                        .get(&p.object)
                        .is_none_or(|n| n.iter().all(|o| finished.contains(o)))
                }) else {
                    break;
                };
                if self.stop_requested(&job).await {
                    cancelled = true;
                    break;
                }
                let progress = waiting.remove(i);
                let object = progress.object.clone();
                self.set_object_state(&job, &object, ObjectState::Importing)
                    .await?;
                self.events.send(ProgressEvent::ObjectStarted {
                    object: object.clone(),
                });
                let span = tracing::info_span!("import.object", object = %object);
                let job = &job;
                running.push(
                    async move {
                        let end = self.import_object(job, progress.clone()).await;
                        (progress, end)
                    }
                    .instrument(span),
                );
            }
            let Some((progress, end)) = running.next().await else {
                break;
            };
            let object = &progress.object;
            let (state, mut last) = match end {
                Ok(ObjectEnd::Done(p)) => (ObjectState::Done, p),
                Ok(ObjectEnd::Cancelled(p)) => {
                    cancelled = true;
                    (ObjectState::Cancelled, p)
                }
                Err(Error::ObjectNotAvailable { .. }) => {
                    unavailable.push(object.to_string());
                    (ObjectState::Unavailable, progress.clone())
                }
                Err(e @ Error::LeaseLost { .. }) => return Err(e),
                Err(e) => {
                    tracing::error!(object = %object, error = %e, "object failed");
                    if failure.is_none() {
                        failure = Some(format!("{object}: {}", describe(&e)));
                    }
                    // The objects running beside it stop once their pages in
                    // flight are recorded (a resume continues them).
                    self.cancel.cancel();
                    let p = jobs
                        .job(&job.tenant, &job.id)
                        .await?
                        .object(object)
                        .cloned();
                    (ObjectState::Failed, p.unwrap_or_else(|| progress.clone()))
                }
            };
            if matches!(state, ObjectState::Done | ObjectState::Unavailable) {
                finished.insert(object.clone());
            }
            self.set_object_state(&job, object, state).await?;
            last.state = state;
            self.events
                .send(ProgressEvent::ObjectFinished { progress: last });
        }

        let current = jobs.job(&job.tenant, &job.id).await?;
        let (status, message) = if let Some(failure) = failure {
            (JobStatus::Failed, Some(failure))
        } else if cancelled {
            (
                JobStatus::Cancelled,
                Some("cancelled on request".to_owned()),
            )
        } else {
            let status = if current.errors() > 0 {
                JobStatus::CompletedWithErrors
            } else {
                JobStatus::Completed
            };
            let message = (!unavailable.is_empty()).then(|| {
                format!(
                    "not available in this Salesforce org: {}",
                    unavailable.join(", ")
                )
            });
            (status, message)
        };
        let at = self.now();
        self.inner
            .backoff
            .run("finish job", || {
                let (lease, message) = (self.held.current(), message.clone());
                let job = &job;
                async move {
                    jobs.set_status(&job.tenant, &job.id, status, at, message, Some(&lease))
                        .await
                }
            })
            .await?;
        let finished = jobs.job(&job.tenant, &job.id).await?;
        tracing::info!(
            status = %finished.status,
            imported = finished.imported(),
            skipped = finished.skipped(),
            errors = finished.errors(),
            "import finished"
        );
        self.events.send(ProgressEvent::JobFinished {
            job: Box::new(finished.clone()),
        });
        Ok(finished)
    }

    /// For each object of the job, the other objects of the job it refers
    /// to (its lookups' targets, and the object it is imported with): it
    /// starts once they are done.
    fn dependencies(&self, job: &Job) -> HashMap<SObject, Vec<SObject>> {
        let in_job: HashSet<&SObject> = job.objects.iter().map(|p| &p.object).collect();
        job.objects
            .iter()
            .map(|p| {
                let object = &p.object;
                let mut needs: Vec<SObject> = Vec::new();
                if let Some(mapper) = self.inner.mappers.get(object) {
                    let targets = mapper
                        .lookups()
                        .iter()
                        .map(|l| l.target.clone())
                        .chain(mapper.imported_with());
                    for target in targets {
                        if &target != object && in_job.contains(&target) && !needs.contains(&target)
                        {
                            needs.push(target);
                        }
                    }
                }
                (object.clone(), needs)
            })
            .collect()
    }

    /// Whether to stop after the page in hand: cancelled through the
    /// handle or [`Importer::cancel`](super::Importer::cancel) in this
    /// process, or marked cancelled in the job store by another one.
    async fn stop_requested(&self, job: &Job) -> bool {
        if self.cancel.is_cancelled() {
            return true;
        }
        match self.inner.jobs.job(&job.tenant, &job.id).await {
            Ok(stored) if stored.status == JobStatus::Cancelled => {
                tracing::info!("cancelled in the job store by another process");
                self.cancel.cancel();
                true
            }
            // A store that cannot answer now will fail the next write.
            _ => false,
        }
    }

    /// A page, with the engine's retries; `None` when the import is
    /// cancelled meanwhile (a fetch only reads, so it is simply dropped,
    /// retry waits included).
    async fn fetch(&self, tenant: &TenantId, request: &PageRequest) -> Result<Option<Page>> {
        let fetch = self.inner.backoff.run("fetch page", || {
            self.inner.source.fetch_page(tenant, request)
        });
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Ok(None),
            page = fetch => page.map(Some),
        }
    }

    async fn import_object(&self, job: &Job, progress: ObjectProgress) -> Result<ObjectEnd> {
        let object = progress.object.clone();
        let mapper = self
            .inner
            .mappers
            .get(&object)
            .cloned()
            .ok_or_else(|| Error::config(format!("no mapper for {object}")))?;
        let (request, since) =
            page::read_request(&self.inner, &job.tenant, &object, job.sync).await?;
        let resumed = progress.checkpoint.is_some();
        let request = request
            .after(progress.checkpoint.clone())
            .after_modstamp(progress.checkpoint_modstamp);
        // A durable cursor kept with the checkpoint (a Bulk job's locator)
        // continues the read without querying again.
        let first_request = match &progress.resume_cursor {
            Some(cursor) if resumed => {
                tracing::info!("continuing from the cursor kept with the checkpoint");
                request
                    .clone()
                    .cursor(Some(Cursor::durable(cursor.clone())))
            }
            _ => request.clone(),
        };
        let mut run = ObjectRun {
            floor: progress.watermark,
            track_watermark: job.mode != WriteMode::SkipExisting,
            sync_read: since.is_some(),
            ..ObjectRun::default()
        };
        if since.is_none() && self.ids.is_on() {
            let tenant = &job.tenant;
            let any = self
                .inner
                .backoff
                .run("read the id map", || {
                    self.inner.jobs.has_mappings(tenant, &object)
                })
                .await?;
            if !any {
                // First import: only this run can have recorded a record.
                self.ids.mark_fresh(&object);
            }
        }
        let mut local = progress;
        local.state = ObjectState::Importing;
        let context = PageContext {
            inner: self.inner.clone(),
            held: self.held.clone(),
            ids: self.ids.clone(),
            job: Arc::new(job.clone()),
            mapper: mapper.clone(),
            sync_read: run.sync_read,
            deletes_unsupported: run.deletes_unsupported.clone(),
        };
        let processed_before = local.processed();

        let Some(first_page) = self.fetch(&job.tenant, &first_request).await? else {
            return Ok(ObjectEnd::Cancelled(local));
        };
        // Pages flow through three stages: fetched one after another (each
        // page's answer says where the next starts), prepared (mapped,
        // resolved, written) up to `pages_in_flight` at once on their own
        // tasks, and recorded in page order, so a checkpoint never passes a
        // page that is not recorded.
        let depth = self.inner.pages_in_flight;
        let mut next_page = Some(first_page);
        let mut fetching: Option<BoxFuture<'_, Result<Option<Page>>>> = None;
        let mut in_flight = FuturesOrdered::new();
        let mut first = true;
        let mut stopping = false;
        // A fetch that failed: the pages before it are recorded first.
        let mut failed_fetch = None;
        loop {
            if !stopping
                && in_flight.len() < depth
                && let Some(page) = next_page.take()
            {
                if let Some(cursor) = page.next.clone() {
                    let next = request.clone().cursor(Some(cursor));
                    let tenant = &job.tenant;
                    fetching = Some(Box::pin(async move { self.fetch(tenant, &next).await }));
                }
                let before = first.then_some(processed_before);
                first = false;
                in_flight.push_back(Task::spawn(page::prepare(context.clone(), page, before)));
                continue;
            }
            if in_flight.is_empty() && (fetching.is_none() || stopping) {
                break;
            }
            tokio::select! {
                // Recording first: it frees a place for the next page.
                biased;
                prepared = in_flight.next(), if !in_flight.is_empty() => {
                    let prepared = prepared.expect("a page in flight")?;
                    let usage = prepared.usage;
                    page::commit(&self.inner, &self.held, &self.ids, job, &object, prepared, &mut local, &mut run)
                        .await?;
                    self.events.send(ProgressEvent::Page {
                        progress: local.clone(),
                    });
                    if let Some(usage) = usage {
                        tracing::debug!(used = usage.used, max = usage.max, "api usage");
                        self.events.send(ProgressEvent::ApiUsage { usage });
                    }
                    // Cancelled: the pages in flight are finished and
                    // recorded, no new one starts.
                    if !stopping && self.stop_requested(job).await {
                        stopping = true;
                    }
                }
                fetched = async {
                    match fetching.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if fetching.is_some() && next_page.is_none() && !stopping => {
                    fetching = None;
                    match fetched {
                        Ok(Some(page)) => next_page = Some(page),
                        Ok(None) => stopping = true,
                        Err(e) => {
                            stopping = true;
                            failed_fetch = Some(e);
                        }
                    }
                }
            }
        }
        if let Some(e) = failed_fetch {
            return Err(e);
        }
        if stopping {
            return Ok(ObjectEnd::Cancelled(local));
        }

        let self_refs: Vec<&LookupSpec> = mapper
            .lookups()
            .iter()
            .filter(|l| l.target == object)
            .collect();
        // The second pass: from the references kept in memory, or, when
        // they could not all be kept (or a resumed job lost those of its
        // earlier run), by reading the object's references again.
        let end = if self_refs.is_empty() || (run.deferred == 0 && !resumed) {
            None
        } else if run.overflow || resumed {
            self.relink(job, mapper.as_ref(), &self_refs, since, local.clone())
                .await?
        } else {
            let pending = std::mem::take(&mut run.pending);
            let specs = std::mem::take(&mut run.pending_specs);
            self.relink_pending(job, &object, pending, &specs, local.clone())
                .await?
        };
        if let Some(end) = end {
            return Ok(end);
        }
        Ok(ObjectEnd::Done(local))
    }

    /// The second pass, from the references the first one kept: sets
    /// those whose targets were imported after the records that name them,
    /// a page at a time. No second read of the object.
    async fn relink_pending(
        &self,
        job: &Job,
        object: &SObject,
        pending: Vec<Pending>,
        specs: &[LookupSpec],
        local: ObjectProgress,
    ) -> Result<Option<ObjectEnd>> {
        let mut linked = 0u64;
        for chunk in pending.chunks(self.inner.page_size) {
            let refs = chunk.iter().map(|d| d.parts(specs)).collect();
            linked += self.link(job, object, refs).await?;
            if self.cancel.is_cancelled() {
                return Ok(Some(ObjectEnd::Cancelled(local)));
            }
        }
        tracing::info!(linked, "second pass set references");
        self.events.send(ProgressEvent::Relinked {
            object: object.clone(),
            links: linked,
        });
        Ok(None)
    }

    /// The second pass when the first could not keep its references (a
    /// resumed job, or more than it keeps in memory): streams `Id` and the
    /// self-referencing fields again and sets the references whose targets
    /// were imported after the records that name them. Bounded by the page
    /// size like the first pass.
    async fn relink(
        &self,
        job: &Job,
        mapper: &dyn Mapper,
        specs: &[&LookupSpec],
        since: Option<chrono::DateTime<chrono::Utc>>,
        local: ObjectProgress,
    ) -> Result<Option<ObjectEnd>> {
        let object = mapper.object();
        let tenant = &job.tenant;
        let mut fields = vec!["Id".to_owned()];
        fields.extend(specs.iter().map(|s| s.field.to_string()));
        if since.is_some() {
            fields.extend(["SystemModstamp".to_owned(), "IsDeleted".to_owned()]);
        }
        // The same records as the first pass: all of them, or what changed.
        let request =
            PageRequest::new(object.clone(), fields, self.inner.page_size).changed_since(since);
        let mut cursor = None;
        let mut linked = 0u64;
        loop {
            let Some(page) = self.fetch(tenant, &request.clone().cursor(cursor)).await? else {
                return Ok(Some(ObjectEnd::Cancelled(local)));
            };
            // (child, spec, parent) for every reference in the page.
            let mut refs = Vec::new();
            for record in page.records.iter().filter(|r| !r.is_deleted()) {
                let Ok(child) = record.id() else { continue };
                for spec in specs {
                    if let Ok(Some(parent)) = record.sf_id(&spec.field)
                        && parent != child
                    {
                        refs.push((child.clone(), *spec, parent));
                    }
                }
            }
            linked += self.link(job, &object, refs).await?;
            if self.cancel.is_cancelled() {
                return Ok(Some(ObjectEnd::Cancelled(local)));
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(linked, "second pass set references");
        self.events.send(ProgressEvent::Relinked {
            object,
            links: linked,
        });
        Ok(None)
    }

    /// Sets one batch of self-references `(child, spec, parent)`: both ends
    /// resolved in one id-map query, one relink call, one record of the
    /// warnings. Returns how many were set.
    async fn link(
        &self,
        job: &Job,
        object: &SObject,
        refs: Vec<(SfId, &LookupSpec, SfId)>,
    ) -> Result<u64> {
        let tenant = &job.tenant;
        let mut linked = 0;
        let mut keys: Vec<_> = refs
            .iter()
            .flat_map(|(c, _, p)| [(object.clone(), c.clone()), (object.clone(), p.clone())])
            .collect();
        keys.sort();
        keys.dedup();
        let known = if keys.is_empty() {
            Default::default()
        } else {
            self.inner
                .backoff
                .run("resolve ids", || self.inner.jobs.resolve_ids(tenant, &keys))
                .await?
        };
        let mut links = Vec::new();
        let mut fields = Vec::new();
        let mut log = Vec::new();
        for (child, spec, parent) in refs {
            let Some(child_crm) = known.get(&(object.clone(), child.clone())) else {
                continue; // the record itself failed: already logged
            };
            match known.get(&(object.clone(), parent.clone())) {
                Some(parent_crm) => {
                    links.push(Relink::new(
                        child_crm.crm_id.clone(),
                        child,
                        spec.link.clone(),
                        parent_crm.crm_id.clone(),
                    ));
                    fields.push(spec.field.clone());
                }
                None => log.push(LogEntry::warning(
                    object.clone(),
                    Some(child),
                    FieldError::new(
                        spec.field.clone(),
                        Problem::UnresolvedLookup {
                            target: object.clone(),
                            sf_id: parent,
                        },
                    ),
                )),
            }
        }
        if !links.is_empty() {
            let results = self
                .inner
                .backoff
                .run("relink", || async {
                    self.held.check(&job.id, self.now())?;
                    self.inner.sink.relink(tenant, object, &links).await
                })
                .await?;
            for ((link, field), result) in links.iter().zip(fields).zip(results) {
                match result {
                    Ok(()) => linked += 1,
                    Err(e) => {
                        let problem = Problem::Rejected {
                            reason: e.to_string().into(),
                        };
                        log.push(LogEntry::warning(
                            object.clone(),
                            Some(link.sf_id.clone()),
                            FieldError::new(field, problem),
                        ));
                    }
                }
            }
        }
        if !log.is_empty() {
            let record = PageRecord {
                log,
                ..PageRecord::default()
            };
            self.inner
                .backoff
                .run("record page", || {
                    let lease = self.held.current();
                    let record = &record;
                    async move {
                        self.inner
                            .jobs
                            .record_page(tenant, &job.id, object, record, Some(&lease))
                            .await
                    }
                })
                .await?;
        }
        Ok(linked)
    }
}
