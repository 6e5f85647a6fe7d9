//! Ids of sObject Tree records: their own `Id`, or one derived from their
//! `referenceId` that stays the same when the file is edited; and which
//! fields hold references.

use std::collections::HashSet;

use crate::id::SfId;

/// The key prefix of a standard object, `a0X` for anything else.
pub(super) fn key_prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        "Contact" => "003",
        "Opportunity" => "006",
        "Product2" => "01t",
        "PricebookEntry" => "01u",
        "Pricebook2" => "01s",
        "Order" => "801",
        "OrderItem" => "802",
        "Quote" => "0Q0",
        "QuoteLineItem" => "0QL",
        _ => "a0X",
    }
}

/// Whether a field holds a lookup to another record (a name ending in `Id`
/// or, as Data Loader exports spell it, `ID`; not `Id` itself): the only
/// fields whose `@ref` values are references.
pub(super) fn reference_field(name: &str) -> bool {
    name.len() > 2 && (name.ends_with("Id") || name.ends_with("ID"))
}

/// The base-62 digits of derived ids.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 128-bit FNV-1a: a hash that stays the same across Rust versions and
/// platforms (unlike `std::hash::DefaultHasher`).
pub(super) fn fnv1a_128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for part in parts {
        for &byte in *part {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The id of a tree record without `Id`, from its object and
/// `referenceId`: the key prefix, then 12 base-62 characters of the 128-bit
/// FNV-1a hash of `(object, referenceId, attempt)`, then the checksum suffix
/// of the 18-character form. `attempt` is 0 unless that id is taken (see
/// [`unique_id`]).
pub(super) fn derive_id(prefix: &str, object: &str, reference: &str, attempt: u32) -> SfId {
    let mut n = fnv1a_128(&[
        object.as_bytes(),
        reference.as_bytes(),
        &attempt.to_le_bytes(),
    ]);
    let mut digits = [0u8; 12];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut id = String::with_capacity(15);
    id.push_str(prefix);
    id.extend(digits.iter().map(|&b| b as char));
    SfId::parse(&id).expect("a 3-character key prefix and 12 base-62 digits are an id")
}

/// The first of `derive_id(.., 0)`, `derive_id(.., 1)`, ... that is not in
/// `taken`, which it is then added to; with the attempt that gave it (0:
/// no collision).
pub(super) fn unique_id(
    taken: &mut HashSet<SfId>,
    prefix: &str,
    object: &str,
    reference: &str,
) -> (SfId, u32) {
    let mut attempt = 0;
    loop {
        let id = derive_id(prefix, object, reference, attempt);
        if taken.insert(id.clone()) {
            return (id, attempt);
        }
        attempt += 1;
    }
}
