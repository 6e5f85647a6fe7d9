//! How a record's members are put in order and found again fast: what the
//! last record of a thread taught. A page's records come with the same
//! members in the same order (the query's), and a mapper asks each of them
//! for the same names; both memos are hints, checked before use.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;

use super::{Member, name_of, name_order};

thread_local! {
    /// The order of the last record sorted on this thread.
    static LAST_ORDER: RefCell<LastOrder> = RefCell::default();
}

/// Where a name asked of a record was last found on this thread: a hint,
/// checked before it is used.
#[derive(Clone, Copy)]
struct LastPlace {
    /// The asked name's address and length.
    addr: usize,
    len: usize,
    /// Its member's place in the record.
    at: usize,
}

impl LastPlace {
    const NONE: LastPlace = LastPlace {
        addr: 0,
        len: 0,
        at: 0,
    };
    const SLOTS: usize = 128;

    /// The slot of a name, by its address and length.
    fn slot(name: &str) -> usize {
        let addr = name.as_ptr() as usize;
        (addr ^ (addr >> 7) ^ name.len().wrapping_mul(31)) % LastPlace::SLOTS
    }
}

thread_local! {
    static LAST_PLACES: [Cell<LastPlace>; LastPlace::SLOTS] =
        const { [const { Cell::new(LastPlace::NONE) }; LastPlace::SLOTS] };
}

/// How the last record sorted on a thread came and how it was put in
/// order: the next record of the same page, with the same names in the
/// same order, is reordered by the same moves.
#[derive(Default)]
struct LastOrder {
    /// Its member names in the order they came, one after another.
    names: Vec<u8>,
    /// Where each name ends in `names`; empty when nothing is remembered.
    ends: Vec<u32>,
    /// For each place in sorted order, the place in arrival order of the
    /// member that goes there.
    moves: Vec<u32>,
    /// Where a record is reordered.
    scratch: Vec<Member>,
}

impl LastOrder {
    /// Puts `members` (in arrival order) in order by the remembered moves,
    /// if they have the remembered names in the remembered order.
    fn reorder(&mut self, buf: &str, members: &mut [Member]) -> bool {
        if self.ends.len() != members.len() || members.is_empty() {
            return false;
        }
        let mut start = 0;
        for (m, &end) in members.iter().zip(&self.ends) {
            if name_of(buf, m) != &self.names[start..end as usize] {
                return false;
            }
            start = end as usize;
        }
        self.scratch.clear();
        self.scratch
            .extend(self.moves.iter().map(|&from| members[from as usize]));
        members.copy_from_slice(&self.scratch);
        true
    }

    /// Remembers the names of `members`, in arrival order, before a sort.
    fn arrived(&mut self, buf: &str, members: &[Member]) {
        self.names.clear();
        self.ends.clear();
        for m in members {
            self.names.extend_from_slice(name_of(buf, m));
            self.ends.push(self.names.len() as u32);
        }
    }

    /// Remembers how the names [`arrived`](Self::arrived) were sorted into
    /// `members`; `whole` is false when duplicates were dropped, which a
    /// reorder cannot repeat (nothing is remembered then).
    fn sorted(&mut self, members: &[Member], whole: bool) {
        self.moves.clear();
        if !whole {
            self.ends.clear();
            return;
        }
        // Values came in the order of the text: a member's place in
        // arrival order is its value's rank by position.
        let mut starts: Vec<u32> = members.iter().map(|m| m.value.start).collect();
        starts.sort_unstable();
        self.moves.extend(members.iter().map(|m| {
            starts
                .binary_search(&m.value.start)
                .expect("a member of the record") as u32
        }));
    }
}

/// Sorts by name ([`name_order`]), keeping the last of duplicates
/// (the one whose value comes later in the text), in place.
///
/// A page's records come with the same members in the same order (the
/// query's): when this thread's last record had the very names this
/// one has, in the same order, it is put in order by the same moves
/// ([`LastOrder`]), checked name by name instead of sorted.
pub(super) fn sort_members(buf: &str, members: &mut Vec<Member>) {
    let name = |m: &Member| name_of(buf, m);
    if members.is_sorted_by(|a, b| name_order(name(a), name(b)) == Ordering::Less) {
        return;
    }
    LAST_ORDER.with_borrow_mut(|last| {
        if last.reorder(buf, members) {
            return;
        }
        last.arrived(buf, members);
        // Values lie in the text in the order they came: ties on the
        // name fall back to that, so an unstable sort (which needs no
        // scratch buffer) orders exactly as a stable one.
        members.sort_unstable_by(|a, b| {
            name_order(name(a), name(b)).then(a.value.start.cmp(&b.value.start))
        });
        let arrived = members.len();
        let mut kept = 0;
        for i in 0..members.len() {
            let m = members[i];
            if kept > 0 && name(&members[kept - 1]) == name(&m) {
                members[kept - 1] = m;
            } else {
                members[kept] = m;
                kept += 1;
            }
        }
        members.truncate(kept);
        last.sorted(members, kept == arrived);
    });
}

/// Where this thread last found `field` in a record, if it did: a hint
/// for [`SfRecord::position`](super::SfRecord), to check.
pub(super) fn last_place(field: &str) -> Option<usize> {
    let hint = LAST_PLACES.with(|places| places[LastPlace::slot(field)].get());
    (hint.addr == field.as_ptr() as usize && hint.len == field.len()).then_some(hint.at)
}

/// Notes that `field` was found at `at`.
pub(super) fn found_at(field: &str, at: usize) {
    LAST_PLACES.with(|places| {
        places[LastPlace::slot(field)].set(LastPlace {
            addr: field.as_ptr() as usize,
            len: field.len(),
            at,
        })
    });
}
