//! The compact byte form of a [`CrmRecord`] that the in-memory sink keeps.
//!
//! A `CrmRecord` is as large as its largest variant (an order, with two
//! addresses) and holds each text in an allocation of its own; packed, a
//! record is one exact-size allocation: every value in field order, texts
//! length-prefixed, absent values one byte. Nothing outside this crate
//! reads the bytes, so the format only has to round-trip; the macros below
//! build a struct with every field named, so a field added to a record
//! without being packed fails to compile.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::crm::{
    Account, Address, Contact, CrmRecord, CustomRecord, CustomValue, Opportunity, OpportunityStage,
    Order, OrderLine, OrderStatus, Product, ProductPrice, Quote, QuoteLine, QuoteStatus,
};
use crate::id::CrmId;

/// A record in its packed form.
#[derive(Clone)]
pub(crate) struct Packed(Box<[u8]>);

impl Packed {
    /// Packs `record`, using `scratch` as the working buffer.
    pub(crate) fn new(record: &CrmRecord, scratch: &mut Vec<u8>) -> Packed {
        scratch.clear();
        record.put(scratch);
        Packed(scratch.as_slice().into())
    }

    /// The record back.
    pub(crate) fn unpack(&self) -> CrmRecord {
        let mut r = Reader(&self.0);
        let record = CrmRecord::take(&mut r);
        debug_assert!(r.0.is_empty(), "a packed record is read to its end");
        record
    }
}

impl std::fmt::Debug for Packed {
    /// The length only: records are customer data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({} bytes)", self.0.len())
    }
}

/// Reads what [`Field::put`] wrote. The bytes were written by this module,
/// so malformed input is a bug and panics.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.bytes(N).try_into().expect("N bytes")
    }

    fn byte(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    fn len(&mut self) -> usize {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let b = self.byte();
            value |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }

    fn str(&mut self) -> &'a str {
        let n = self.len();
        std::str::from_utf8(self.bytes(n)).expect("packed from a str")
    }
}

fn put_len(w: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        w.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    w.push(n as u8);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_len(w, s.len());
    w.extend_from_slice(s.as_bytes());
}

/// A value that packs.
trait Field: Sized {
    fn put(&self, w: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>) -> Self;
}

impl Field for String {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, self);
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.str().to_owned()
    }
}

impl Field for CrmId {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, self.as_str());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        CrmId::new(r.str())
    }
}

impl<T: Field> Field for Option<T> {
    fn put(&self, w: &mut Vec<u8>) {
        match self {
            None => w.push(0),
            Some(v) => {
                w.push(1);
                v.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        (r.byte() == 1).then(|| T::take(r))
    }
}

impl Field for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.push(u8::from(*self));
    }
    fn take(r: &mut Reader<'_>) -> Self {
        r.byte() == 1
    }
}

impl Field for i64 {
    fn put(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        i64::from_le_bytes(r.array())
    }
}

impl Field for Decimal {
    fn put(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.serialize());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        Decimal::deserialize(r.array())
    }
}

impl Field for NaiveDate {
    fn put(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.num_days_from_ce().to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(r.array())).expect("a packed date")
    }
}

impl Field for DateTime<Utc> {
    fn put(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.timestamp().to_le_bytes());
        w.extend_from_slice(&self.timestamp_subsec_nanos().to_le_bytes());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        let secs = i64::from_le_bytes(r.array());
        let nanos = u32::from_le_bytes(r.array());
        DateTime::from_timestamp(secs, nanos).expect("a packed datetime")
    }
}

impl Field for CustomValue {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, self.json());
    }
    fn take(r: &mut Reader<'_>) -> Self {
        CustomValue::from_json(r.str()).expect("packed from JSON")
    }
}

/// Custom fields, and a custom record's links.
impl<V: Field> Field for BTreeMap<String, V> {
    fn put(&self, w: &mut Vec<u8>) {
        put_len(w, self.len());
        for (name, value) in self {
            put_str(w, name);
            value.put(w);
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        (0..r.len())
            .map(|_| (r.str().to_owned(), V::take(r)))
            .collect()
    }
}

/// A fieldless enum packs as its position in the list.
macro_rules! enum_field {
    ($ty:ident { $($variant:ident),* $(,)? }) => {
        impl Field for $ty {
            fn put(&self, w: &mut Vec<u8>) {
                const ALL: &[$ty] = &[$($ty::$variant),*];
                let i = ALL.iter().position(|v| v == self).expect("every variant is listed");
                w.push(i as u8);
            }
            fn take(r: &mut Reader<'_>) -> Self {
                const ALL: &[$ty] = &[$($ty::$variant),*];
                // Exhaustive: a new variant fails to compile until listed.
                match ALL[usize::from(r.byte())] {
                    $($ty::$variant => $ty::$variant),*
                }
            }
        }
    };
}

enum_field!(OpportunityStage {
    Prospecting,
    Qualification,
    Proposal,
    Negotiation,
    ClosedWon,
    ClosedLost,
});
enum_field!(OrderStatus {
    Draft,
    Activated,
    Completed,
    Cancelled,
});
enum_field!(QuoteStatus {
    Draft,
    Sent,
    Accepted,
    Declined,
});

/// A struct packs as its fields in order; reading names every field.
macro_rules! struct_field {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Field for $ty {
            fn put(&self, w: &mut Vec<u8>) {
                $( self.$field.put(w); )*
            }
            fn take(r: &mut Reader<'_>) -> Self {
                $ty { $( $field: Field::take(r), )* }
            }
        }
    };
}

struct_field!(Address {
    line,
    city,
    state,
    postcode,
    country,
});
struct_field!(Account {
    name,
    email,
    phone,
    website,
    industry,
    account_type,
    number_of_employees,
    annual_revenue,
    currency,
    address,
    description,
    parent,
    custom_fields,
});
struct_field!(Contact {
    first_name,
    last_name,
    email,
    phone,
    title,
    department,
    do_not_call,
    address,
    description,
    account,
    custom_fields,
});
struct_field!(Opportunity {
    name,
    stage,
    amount,
    probability,
    closed_on,
    lead_source,
    opportunity_type,
    currency,
    description,
    account,
    contact,
    custom_fields,
});
struct_field!(Product {
    name,
    sku,
    description,
    is_active,
    family,
    price,
    currency,
    custom_fields,
});
struct_field!(ProductPrice {
    product,
    price,
    currency,
    is_active,
});
struct_field!(Order {
    name,
    order_number,
    status,
    order_date,
    activated_date,
    total_amount,
    currency,
    billing_address,
    shipping_address,
    description,
    account,
    contact,
    opportunity,
    custom_fields,
});
struct_field!(OrderLine {
    order,
    product,
    name,
    quantity,
    unit_price,
    discount_amount,
    total,
});
struct_field!(Quote {
    title,
    quote_number,
    status,
    subtotal,
    discount,
    tax,
    total,
    currency,
    expiry_date,
    notes,
    account,
    contact,
    opportunity,
    custom_fields,
});
struct_field!(QuoteLine {
    quote,
    product,
    name,
    quantity,
    unit_price,
    discount,
    total,
});
struct_field!(CustomRecord { fields, links });

/// The variants, with their tags.
macro_rules! record_field {
    ($($tag:literal => $variant:ident),* $(,)?) => {
        impl Field for CrmRecord {
            fn put(&self, w: &mut Vec<u8>) {
                match self {
                    $(CrmRecord::$variant(v) => {
                        w.push($tag);
                        v.put(w);
                    })*
                }
            }
            fn take(r: &mut Reader<'_>) -> Self {
                match r.byte() {
                    $($tag => CrmRecord::$variant(Field::take(r)),)*
                    tag => unreachable!("no record has tag {tag}"),
                }
            }
        }
    };
}

record_field! {
    0 => Account,
    1 => Contact,
    2 => Opportunity,
    3 => Product,
    4 => ProductPrice,
    5 => Order,
    6 => OrderLine,
    7 => Quote,
    8 => QuoteLine,
    9 => Custom,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{CustomFields, Link};

    fn round_trip(record: CrmRecord) {
        let mut scratch = Vec::new();
        let packed = Packed::new(&record, &mut scratch);
        assert_eq!(packed.unpack(), record);
    }

    #[test]
    fn every_kind_of_record_round_trips() {
        let money: Decimal = "999999999999.9999".parse().unwrap();
        let mut custom = CustomFields::new();
        custom.insert(
            "Big__c".into(),
            CustomValue::from_json("999999999999999999.99").unwrap(),
        );
        custom.insert(
            "Text__c".into(),
            CustomValue::from_json(r#""Zoë""#).unwrap(),
        );
        let address = Address {
            line: Some("1 Main St\nSuite 2".into()),
            city: Some("Zürich".into()),
            state: None,
            postcode: Some("8001".into()),
            country: Some("CH".into()),
        };
        let long = "x".repeat(70_000);
        round_trip(CrmRecord::Account(Account {
            name: "Acme".into(),
            number_of_employees: Some(-12),
            annual_revenue: Some(money),
            address: address.clone(),
            description: Some(long),
            parent: Some(CrmId::new("17")),
            custom_fields: custom.clone(),
            ..Account::default()
        }));
        round_trip(CrmRecord::Contact(Contact {
            last_name: "Lovelace".into(),
            do_not_call: true,
            address: address.clone(),
            ..Contact::default()
        }));
        round_trip(CrmRecord::Opportunity(Opportunity {
            name: "Deal".into(),
            stage: OpportunityStage::ClosedLost,
            closed_on: NaiveDate::from_ymd_opt(1899, 12, 31),
            probability: Some(Decimal::new(-5, 1)),
            ..Opportunity::default()
        }));
        round_trip(CrmRecord::Product(Product {
            name: "Widget".into(),
            is_active: true,
            price: Some(Decimal::ZERO),
            ..Product::default()
        }));
        round_trip(CrmRecord::ProductPrice(ProductPrice {
            product: Some(CrmId::new("p")),
            price: Some(money),
            currency: Some("EUR".into()),
            is_active: true,
        }));
        round_trip(CrmRecord::Order(Order {
            status: OrderStatus::Cancelled,
            activated_date: DateTime::from_timestamp(1_700_000_000, 123_456_789),
            billing_address: address.clone(),
            shipping_address: Address::default(),
            custom_fields: custom.clone(),
            ..Order::default()
        }));
        round_trip(CrmRecord::OrderLine(OrderLine {
            quantity: Decimal::new(15, 1),
            total: money,
            ..OrderLine::default()
        }));
        round_trip(CrmRecord::Quote(Quote {
            title: "Q".into(),
            status: QuoteStatus::Declined,
            expiry_date: NaiveDate::from_ymd_opt(2030, 1, 1),
            ..Quote::default()
        }));
        round_trip(CrmRecord::QuoteLine(QuoteLine {
            discount: Some(Decimal::ONE_HUNDRED),
            ..QuoteLine::default()
        }));
        let mut rec = CustomRecord::new(custom);
        rec.links.insert("Owner".into(), CrmId::new("9"));
        let rec = CrmRecord::Custom(rec);
        assert_eq!(
            rec.link(&Link::Custom("Owner".into())),
            Some(&CrmId::new("9"))
        );
        round_trip(rec);
    }

    #[test]
    fn a_packed_record_is_smaller_than_the_record() {
        let record = CrmRecord::Account(Account {
            name: "Acme Corporation".into(),
            phone: Some("+1 555 0100".into()),
            ..Account::default()
        });
        let packed = Packed::new(&record, &mut Vec::new());
        assert!(packed.0.len() < 64, "{} bytes", packed.0.len());
    }
}
