//! A preview against the run that followed it.

use salesforce_import::Job;
use salesforce_import::engine::Preview;

/// Asserts that `preview` foretold `job` object by object: created =
/// imported, update = updated, skip = skipped, delete = deleted, reject =
/// errors.
pub fn assert_preview_matches(preview: &Preview, job: &Job) {
    let planned: Vec<_> = preview.objects.iter().map(|o| o.object.clone()).collect();
    let ran: Vec<_> = job.objects.iter().map(|o| o.object.clone()).collect();
    assert_eq!(planned, ran, "the preview's plan is the job's");
    for (p, o) in preview.objects.iter().zip(&job.objects) {
        let foretold = (p.create, p.update, p.skip, p.delete, p.reject);
        let done = (o.imported, o.updated, o.skipped, o.deleted, o.errors);
        assert_eq!(
            foretold, done,
            "{}: preview (create, update, skip, delete, reject) against the run (imported, updated, skipped, deleted, errors)",
            p.object
        );
    }
}
