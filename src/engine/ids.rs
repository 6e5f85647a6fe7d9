//! [`IdCache`]: the id mappings a job recorded, kept to resolve lookups
//! without asking the job store again.
//!
//! A contact page refers to accounts this very job imported moments
//! before: the store's answer is known. The cache holds what the job's own
//! pages recorded (only after the store took them, so it never knows more
//! than the store) and nothing it read, so that a mapping it holds is
//! always the newest. A key it misses is asked of the store as before; a
//! key it holds is answered as the store would: one job runs per tenant,
//! and the cache lives as long as the job's run.
//!
//! It is bounded: two generations of at most half the capacity each; when
//! the young one is full it becomes the old one and the old one is
//! dropped, so memory stays flat however large the org, and what was
//! recorded last stays longest.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::id::SfId;
use crate::jobs::{IdKey, IdMapping};
use crate::object::SObject;

/// A bounded map of the mappings a job recorded.
#[derive(Debug)]
pub(crate) struct IdCache {
    generation: usize,
    state: Mutex<Generations>,
}

/// Keys hold ids inline ([`SfId::to_bytes`]): no allocation a key.
type Key = (SObject, [u8; 18]);

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Key, IdMapping>,
    old: HashMap<Key, IdMapping>,
}

impl IdCache {
    /// A cache of at most `capacity` mappings (0: off).
    pub(crate) fn new(capacity: usize) -> IdCache {
        IdCache {
            generation: capacity / 2,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // Every mutation is a plain insert or swap: a panic cannot leave
        // the maps inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers the mappings of `object` a page recorded.
    pub(crate) fn remember<'a>(
        &self,
        object: &SObject,
        mappings: impl IntoIterator<Item = &'a (SfId, IdMapping)>,
    ) {
        if self.generation == 0 {
            return;
        }
        let mut g = self.lock();
        for (sf_id, mapping) in mappings {
            let key = (object.clone(), sf_id.to_bytes());
            // The newest answer wins: drop an older one from the old
            // generation so that a lookup cannot find it first.
            g.old.remove(&key);
            g.young.insert(key, mapping.clone());
            if g.young.len() >= self.generation {
                g.old = std::mem::take(&mut g.young);
            }
        }
    }

    /// Splits `keys` into what the cache knows and what it does not.
    pub(crate) fn split(&self, keys: Vec<IdKey>) -> (HashMap<IdKey, IdMapping>, Vec<IdKey>) {
        if self.generation == 0 {
            return (HashMap::new(), keys);
        }
        let g = self.lock();
        let mut known = HashMap::new();
        let mut missing = Vec::with_capacity(keys.len());
        for key in keys {
            let inline = (key.0.clone(), key.1.to_bytes());
            match g.young.get(&inline).or_else(|| g.old.get(&inline)) {
                Some(mapping) => {
                    known.insert(key, mapping.clone());
                }
                None => missing.push(key),
            }
        }
        (known, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::CrmId;

    fn id(n: usize) -> SfId {
        SfId::parse(&format!("001{n:012}")).unwrap()
    }

    fn mapping(crm: &str) -> IdMapping {
        IdMapping::new(CrmId::new(crm), None)
    }

    #[test]
    fn answers_what_was_remembered_and_passes_on_the_rest() {
        let cache = IdCache::new(100);
        let a = SObject::ACCOUNT;
        cache.remember(&a, &[(id(1), mapping("c1")), (id(2), mapping("c2"))]);
        let keys = vec![
            (a.clone(), id(1)),
            (a.clone(), id(3)),
            (SObject::CONTACT, id(2)),
        ];
        let (known, missing) = cache.split(keys);
        assert_eq!(known.len(), 1);
        assert_eq!(known[&(a.clone(), id(1))].crm_id, CrmId::new("c1"));
        assert_eq!(missing, vec![(a.clone(), id(3)), (SObject::CONTACT, id(2))]);
    }

    #[test]
    fn the_newest_mapping_wins_across_generations() {
        let cache = IdCache::new(4);
        let a = SObject::ACCOUNT;
        cache.remember(&a, &[(id(1), mapping("old"))]);
        // Fills the young generation: id 1 moves to the old one.
        cache.remember(&a, &[(id(2), mapping("c2"))]);
        cache.remember(&a, &[(id(1), mapping("new").deleted())]);
        let (known, _) = cache.split(vec![(a.clone(), id(1))]);
        let m = &known[&(a.clone(), id(1))];
        assert_eq!((m.crm_id.as_str(), m.deleted), ("new", true));
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let cache = IdCache::new(10);
        let a = SObject::ACCOUNT;
        let all: Vec<(SfId, IdMapping)> = (0..100).map(|n| (id(n), mapping("c"))).collect();
        cache.remember(&a, &all);
        let g = cache.lock();
        assert!(g.young.len() + g.old.len() <= 10);
        drop(g);
        // The latest are kept.
        let (known, missing) = cache.split(vec![(a.clone(), id(99)), (a.clone(), id(0))]);
        assert!(known.contains_key(&(a.clone(), id(99))));
        assert_eq!(missing, vec![(a, id(0))]);
    }

    #[test]
    fn off_at_zero() {
        let cache = IdCache::new(0);
        cache.remember(&SObject::ACCOUNT, &[(id(1), mapping("c1"))]);
        let (known, missing) = cache.split(vec![(SObject::ACCOUNT, id(1))]);
        assert!(known.is_empty());
        assert_eq!(missing.len(), 1);
    }
}
