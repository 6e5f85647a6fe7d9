//! [`IdCache`]: the id mappings a job recorded or read, kept to resolve
//! lookups without asking the job store again.
//!
//! A contact page refers to accounts this very job imported moments
//! before: the store's answer is known. The cache holds what the job's own
//! pages recorded (only after the store took them, so it never knows more
//! than the store) and what the store answered its lookups
//! ([`learn`](IdCache::learn)), never over a mapping the run recorded
//! since: a mapping it holds is always the newest. A key it misses is
//! asked of the store as before; a key it holds is answered as the store
//! would: one job runs per tenant, only the job writes the tenant's id
//! map, and the cache lives as long as the job's run.
//!
//! It is bounded: two generations of at most half the capacity each; when
//! the young one is full it becomes the old one and the old one is
//! dropped, so memory stays flat however large the org. A key found in the
//! old generation moves to the young one: what was recorded or asked for
//! last stays longest (the products every line item refers to stay while
//! the line items come).
//!
//! Beside it, a Bloom filter of every key the run recorded answers "did
//! this run record it?" with "certainly not" or "maybe", in a fixed
//! megabyte. For an object the store had no mapping of when the run began
//! ([`mark_fresh`](IdCache::mark_fresh)), read in one pass where each
//! record comes once, a record the run did not record was not imported
//! before: the store need not be asked about it.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Mutex;

use crate::id::SfId;
use crate::jobs::{IdKey, IdMapping};
use crate::object::SObject;

/// A bounded map of the mappings a job recorded or read.
#[derive(Debug)]
pub(crate) struct IdCache {
    generation: usize,
    state: Mutex<Generations>,
}

/// A fast hasher, seeded at random per map: keys come from the org's data.
pub(crate) type FastState = foldhash::fast::RandomState;

/// What a page knows of the id map: its keys' mappings, by object and
/// then by id, so that a lookup builds no key (a key clones its id).
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// A page's keys name a few objects: its own and its lookups' targets.
    objects: Vec<(SObject, HashMap<SfId, IdMapping, FastState>)>,
}

impl Known {
    /// The mapping of `object`'s `id`, if known.
    pub(crate) fn get(&self, object: &SObject, id: &SfId) -> Option<&IdMapping> {
        self.objects
            .iter()
            .find(|(o, _)| o == object)
            .and_then(|(_, ids)| ids.get(id))
    }

    /// Whether the mapping of `object`'s `id` is known.
    pub(crate) fn contains(&self, object: &SObject, id: &SfId) -> bool {
        self.get(object, id).is_some()
    }

    /// Knows `mapping` for `key`, over any mapping known before.
    pub(crate) fn insert(&mut self, (object, id): IdKey, mapping: IdMapping) {
        let at = match self.objects.iter().position(|(o, _)| *o == object) {
            Some(at) => at,
            None => {
                self.objects.push((object, HashMap::default()));
                self.objects.len() - 1
            }
        };
        self.objects[at].1.insert(id, mapping);
    }

    /// How many mappings are known.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.objects.iter().map(|(_, ids)| ids.len()).sum()
    }

    /// Whether no mapping is known.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Extend<(IdKey, IdMapping)> for Known {
    fn extend<I: IntoIterator<Item = (IdKey, IdMapping)>>(&mut self, iter: I) {
        for (key, mapping) in iter {
            self.insert(key, mapping);
        }
    }
}

impl FromIterator<(IdKey, IdMapping)> for Known {
    fn from_iter<I: IntoIterator<Item = (IdKey, IdMapping)>>(iter: I) -> Known {
        let mut known = Known::default();
        known.extend(iter);
        known
    }
}

/// Keys hold the object as its place in [`Generations::objects`] and the
/// id inline ([`SfId::to_bytes`]): 20 bytes, no allocation a key.
type Key = (u16, [u8; 18]);

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Key, IdMapping, FastState>,
    old: HashMap<Key, IdMapping, FastState>,
    /// Every key the run recorded, evicted ones included.
    seen: Bloom,
    /// Objects the store had no mapping of when the run began them.
    fresh: HashSet<SObject, FastState>,
    /// The objects keys name, in the order first seen (a run has a few).
    objects: Vec<SObject>,
    /// How many times the old generation was dropped: a store answer read
    /// before a drop may be older than a mapping the drop took away.
    drops: u64,
}

/// What [`IdCache::split`] answers.
#[derive(Debug)]
pub(crate) struct Split {
    /// The keys the cache holds, with their mappings.
    pub(crate) known: Known,
    /// The keys to ask the store about.
    pub(crate) missing: Vec<IdKey>,
    /// When it was split, for [`IdCache::learn`].
    pub(crate) at: u64,
}

/// A Bloom filter of fixed size: "certainly not added" or "maybe".
#[derive(Debug, Default)]
struct Bloom {
    bits: Vec<u64>,
    hasher: FastState,
}

impl Bloom {
    /// 2^23 bits (one MiB): about 2% false answers at a million keys, 6
    /// probes a key.
    const WORDS: usize = 1 << 17;
    const PROBES: u64 = 6;

    /// The (word, bit) pairs of a key hashed to `h`.
    fn probes(h: u64) -> impl Iterator<Item = (usize, u64)> {
        // Two hashes from one (Kirsch and Mitzenmacher).
        let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
        let bits = (Bloom::WORDS * 64) as u64;
        (0..Bloom::PROBES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % bits;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn add(&mut self, key: &Key) {
        if self.bits.is_empty() {
            self.bits = vec![0; Bloom::WORDS];
        }
        for (word, mask) in Bloom::probes(self.hasher.hash_one(key)) {
            self.bits[word] |= mask;
        }
    }

    fn maybe(&self, key: &Key) -> bool {
        !self.bits.is_empty()
            && Bloom::probes(self.hasher.hash_one(key))
                .all(|(word, mask)| self.bits[word] & mask != 0)
    }
}

impl Generations {
    /// The key of `object`'s `id`, if any key names the object yet.
    fn key(&self, object: &SObject, id: &SfId) -> Option<Key> {
        let at = self.objects.iter().position(|o| o == object)?;
        Some((at as u16, id.to_bytes()))
    }

    /// The key of `object`'s `id`, naming the object from now on.
    fn key_of_new(&mut self, object: &SObject, id: &SfId) -> Key {
        if let Some(key) = self.key(object, id) {
            return key;
        }
        // An org has at most a few thousand objects, a run far fewer.
        assert!(
            self.objects.len() < usize::from(u16::MAX),
            "too many objects"
        );
        self.objects.push(object.clone());
        (self.objects.len() as u16 - 1, id.to_bytes())
    }
}

impl IdCache {
    /// A cache of at most `capacity` mappings (0: off).
    pub(crate) fn new(capacity: usize) -> IdCache {
        IdCache {
            generation: capacity / 2,
            state: Mutex::default(),
        }
    }

    /// Whether it keeps anything (a capacity of 0 turns it off).
    pub(crate) fn is_on(&self) -> bool {
        self.generation > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // Every mutation is a plain insert or swap: a panic cannot leave
        // the maps inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that the store held no mapping of `object` when the run began
    /// it, and that it is read in one pass where each record comes once
    /// (not a sync's read by modification stamp).
    pub(crate) fn mark_fresh(&self, object: &SObject) {
        if self.is_on() {
            self.lock().fresh.insert(object.clone());
        }
    }

    /// Remembers the mappings of `object` a page recorded.
    pub(crate) fn remember<'a>(
        &self,
        object: &SObject,
        mappings: impl IntoIterator<Item = &'a (SfId, IdMapping)>,
    ) {
        if !self.is_on() {
            return;
        }
        let mut g = self.lock();
        for (sf_id, mapping) in mappings {
            let key = g.key_of_new(object, sf_id);
            g.seen.add(&key);
            // The newest answer wins: drop an older one from the old
            // generation so that a lookup cannot find it first.
            g.old.remove(&key);
            self.keep(&mut g, key, mapping.clone());
        }
    }

    /// Puts `key` in the young generation, which becomes the old one
    /// when full.
    fn keep(&self, g: &mut Generations, key: Key, mapping: IdMapping) {
        g.young.insert(key, mapping);
        if g.young.len() >= self.generation {
            g.old = std::mem::take(&mut g.young);
            g.drops += 1;
        }
    }

    /// Keeps the store's answers to a page's [`split`](IdCache::split)
    /// (`at` is the split's), where the cache holds no mapping of the key:
    /// a mapping the run recorded since the store answered is newer and
    /// stays. If the old generation was dropped since the split, a newer
    /// mapping may have gone with it: nothing is kept.
    pub(crate) fn learn<S>(&self, at: u64, found: &HashMap<IdKey, IdMapping, S>) {
        if !self.is_on() || found.is_empty() {
            return;
        }
        let mut g = self.lock();
        for (key, mapping) in found {
            if g.drops != at {
                return;
            }
            let inline = g.key_of_new(&key.0, &key.1);
            if !g.young.contains_key(&inline) && !g.old.contains_key(&inline) {
                self.keep(&mut g, inline, mapping.clone());
            }
        }
    }

    /// Splits `keys` into what the cache knows and what the store must be
    /// asked; `own` says which keys are the page's own records (not
    /// references), whose absence a fresh object answers.
    pub(crate) fn split(&self, keys: Vec<IdKey>, own: impl Fn(&IdKey) -> bool) -> Split {
        if !self.is_on() {
            return Split {
                known: Known::default(),
                missing: keys,
                at: 0,
            };
        }
        let mut g = self.lock();
        let mut known = Known::default();
        let mut missing = Vec::new();
        for key in keys {
            let Some(inline) = g.key(&key.0, &key.1) else {
                // No key of the object was ever kept or recorded.
                if !(g.fresh.contains(&key.0) && own(&key)) {
                    missing.push(key);
                }
                continue;
            };
            if let Some(mapping) = g.young.get(&inline) {
                known.insert(key, mapping.clone());
                continue;
            }
            match g.old.remove(&inline) {
                // Asked for again: young again.
                Some(mapping) => {
                    known.insert(key, mapping.clone());
                    self.keep(&mut g, inline, mapping);
                }
                // Not in the store before the run, not recorded by it:
                // certainly unknown.
                None if g.fresh.contains(&key.0) && own(&key) && !g.seen.maybe(&inline) => {}
                None => missing.push(key),
            }
        }
        Split {
            known,
            missing,
            at: g.drops,
        }
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
        let Split { known, missing, .. } = cache.split(keys.clone(), |_| false);
        assert_eq!(known.len(), 1);
        assert_eq!(known.get(&a, &id(1)).unwrap().crm_id, CrmId::new("c1"));
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
        let Split { known, .. } = cache.split(vec![(a.clone(), id(1))], |_| false);
        let m = &known.get(&a, &id(1)).unwrap();
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
        let Split { known, missing, .. } =
            cache.split(vec![(a.clone(), id(99)), (a.clone(), id(0))], |_| false);
        assert!(known.contains(&a, &id(99)));
        assert_eq!(missing, vec![(a, id(0))]);
    }

    #[test]
    fn a_fresh_objects_own_records_unrecorded_are_not_asked() {
        let cache = IdCache::new(4);
        let a = SObject::ACCOUNT;
        cache.mark_fresh(&a);
        // Recorded, then evicted from the map: the filter still knows.
        let all: Vec<(SfId, IdMapping)> = (0..20).map(|n| (id(n), mapping("c"))).collect();
        cache.remember(&a, &all);
        let keys: Vec<IdKey> = [0, 19, 500, 501]
            .iter()
            .map(|&n| (a.clone(), id(n)))
            .collect();
        let Split { known, missing, .. } = cache.split(keys.clone(), |_| true);
        // 19 is still held; 0 was evicted and may have been imported: asked;
        // 500 and 501 were never recorded: neither known nor asked.
        assert_eq!(known.len(), 1);
        assert_eq!(missing, vec![(a.clone(), id(0))]);
        // References are always asked, and so is an object not fresh.
        let Split { missing, .. } = cache.split(keys.clone(), |_| false);
        assert_eq!(missing.len(), 3);
        let c = SObject::CONTACT;
        let Split { missing, .. } = cache.split(vec![(c.clone(), id(500))], |_| true);
        assert_eq!(missing, vec![(c, id(500))]);
    }

    #[test]
    fn store_answers_are_kept_unless_the_run_recorded_newer() {
        let cache = IdCache::new(100);
        let a = SObject::ACCOUNT;
        let keys = [(a.clone(), id(1)), (a.clone(), id(2))];
        let split = cache.split(keys.to_vec(), |_| false);
        assert_eq!(split.missing.len(), 2);
        // The run records id 2 while the store's (older) answer is on its way.
        cache.remember(&a, &[(id(2), mapping("recorded"))]);
        let found: HashMap<IdKey, IdMapping> = [
            ((a.clone(), id(1)), mapping("stored")),
            ((a.clone(), id(2)), mapping("older")),
        ]
        .into();
        cache.learn(split.at, &found);
        let Split { known, missing, .. } = cache.split(keys.to_vec(), |_| false);
        assert!(missing.is_empty());
        assert_eq!(
            known.get(&keys[0].0, &keys[0].1).unwrap().crm_id.as_str(),
            "stored"
        );
        assert_eq!(
            known.get(&keys[1].0, &keys[1].1).unwrap().crm_id.as_str(),
            "recorded"
        );
    }

    #[test]
    fn nothing_is_learned_across_a_drop() {
        let cache = IdCache::new(4);
        let a = SObject::ACCOUNT;
        let key = (a.clone(), id(1));
        let split = cache.split(vec![key.clone()], |_| false);
        // Recorded, then dropped with the old generation before the store's
        // older answer arrives: keeping that answer would be stale.
        cache.remember(&a, &[(id(1), mapping("new"))]);
        let others: Vec<(SfId, IdMapping)> = (2..6).map(|n| (id(n), mapping("c"))).collect();
        cache.remember(&a, &others);
        cache.learn(split.at, &[(key.clone(), mapping("old"))].into());
        let Split { known, missing, .. } = cache.split(vec![key.clone()], |_| false);
        assert!(known.is_empty());
        assert_eq!(missing, vec![key]);
    }

    #[test]
    fn what_is_asked_for_stays() {
        let cache = IdCache::new(4);
        let (a, p) = (SObject::ACCOUNT, SObject::new("Product2"));
        cache.remember(&p, &[(id(0), mapping("product"))]);
        let product = (p.clone(), id(0));
        // Every page refers to the product while accounts stream past it.
        for n in 1..20 {
            cache.remember(&a, &[(id(n), mapping("c"))]);
            let Split { known, .. } = cache.split(vec![product.clone()], |_| false);
            assert!(known.contains(&product.0, &product.1), "after {n} accounts");
        }
        let g = cache.lock();
        assert!(g.young.len() + g.old.len() <= 4);
    }

    #[test]
    fn off_at_zero() {
        let cache = IdCache::new(0);
        cache.remember(&SObject::ACCOUNT, &[(id(1), mapping("c1"))]);
        let Split { known, missing, .. } = cache.split(vec![(SObject::ACCOUNT, id(1))], |_| false);
        assert!(known.is_empty());
        assert_eq!(missing.len(), 1);
    }
}
