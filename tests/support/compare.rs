//! The CRM as a comparable map: each record with its lookups spelled as
//! the Salesforce ids of their targets, and whether it is deleted.

use std::collections::BTreeMap;

use salesforce_import::crm::{CrmRecord, Link};
use salesforce_import::{CrmId, InMemorySink, SObject, SfId, TenantId};

/// A record as the CRM holds it, with its lookups spelled as the
/// Salesforce ids of their targets, and whether it is deleted.
pub type Canonical = BTreeMap<(SObject, SfId), (CrmRecord, bool)>;

const LINKS: [Link; 7] = [
    Link::Account,
    Link::ParentAccount,
    Link::Contact,
    Link::Opportunity,
    Link::Product,
    Link::Order,
    Link::Quote,
];

pub fn canonical(sink: &InMemorySink, tenant: &TenantId) -> Canonical {
    let rows: Vec<(SObject, SfId, CrmId, CrmRecord)> = SObject::STANDARD
        .iter()
        .flat_map(|o| {
            sink.records(tenant, o)
                .into_iter()
                .map(move |(sf, crm, rec)| (o.clone(), sf, crm, rec))
        })
        .collect();
    let sf_of: BTreeMap<CrmId, SfId> = rows
        .iter()
        .map(|(_, sf, crm, _)| (crm.clone(), sf.clone()))
        .collect();
    rows.into_iter()
        .map(|(object, sf, crm, mut rec)| {
            for link in &LINKS {
                if let Some(target) = rec.link(link).cloned() {
                    let spelled = sf_of
                        .get(&target)
                        .map_or_else(|| format!("unknown {target}"), |s| s.to_string());
                    rec.set_link(link, CrmId::new(spelled));
                }
            }
            let deleted = sink.deleted_at(tenant, &crm).is_some();
            ((object, sf), (rec, deleted))
        })
        .collect()
}
