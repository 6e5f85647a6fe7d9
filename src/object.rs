//! Salesforce object names.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The API name of a Salesforce object (`Account`, `OrderItem`, `Invoice__c`).
///
/// The standard objects this crate maps have constants; a host that adds its
/// own [`Mapper`](crate::mapping::Mapper) names its object with
/// [`SObject::new`].
///
/// ```
/// use salesforce_import::SObject;
/// assert_eq!(SObject::ACCOUNT.as_str(), "Account");
/// assert_eq!(SObject::new("Invoice__c").as_str(), "Invoice__c");
/// assert_eq!("Quote".parse::<SObject>().unwrap(), SObject::QUOTE);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SObject(Cow<'static, str>);

impl SObject {
    /// `Product2`: products.
    pub const PRODUCT2: SObject = SObject::from_static("Product2");
    /// `PricebookEntry`: a product's price in one price book. Imported with
    /// [`SObject::PRODUCT2`]; the standard price book's entry becomes the
    /// product's price.
    pub const PRICEBOOK_ENTRY: SObject = SObject::from_static("PricebookEntry");
    /// `Account`: companies.
    pub const ACCOUNT: SObject = SObject::from_static("Account");
    /// `Contact`: people, usually at an account.
    pub const CONTACT: SObject = SObject::from_static("Contact");
    /// `Opportunity`: deals.
    pub const OPPORTUNITY: SObject = SObject::from_static("Opportunity");
    /// `Order`.
    pub const ORDER: SObject = SObject::from_static("Order");
    /// `OrderItem`: an order's lines. Imported with [`SObject::ORDER`].
    pub const ORDER_ITEM: SObject = SObject::from_static("OrderItem");
    /// `Quote`.
    pub const QUOTE: SObject = SObject::from_static("Quote");
    /// `QuoteLineItem`: a quote's lines. Imported with [`SObject::QUOTE`].
    pub const QUOTE_LINE_ITEM: SObject = SObject::from_static("QuoteLineItem");

    /// Every standard object this crate maps, in a dependency-respecting order.
    pub const STANDARD: [SObject; 9] = [
        SObject::PRODUCT2,
        SObject::PRICEBOOK_ENTRY,
        SObject::ACCOUNT,
        SObject::CONTACT,
        SObject::OPPORTUNITY,
        SObject::ORDER,
        SObject::ORDER_ITEM,
        SObject::QUOTE,
        SObject::QUOTE_LINE_ITEM,
    ];

    /// The objects an admin chooses from, in the order an import page lists
    /// them; the others come along (`PricebookEntry` with `Product2`,
    /// `OrderItem` with `Order`, `QuoteLineItem` with `Quote`).
    pub const SELECTABLE: [SObject; 6] = [
        SObject::ACCOUNT,
        SObject::CONTACT,
        SObject::OPPORTUNITY,
        SObject::PRODUCT2,
        SObject::ORDER,
        SObject::QUOTE,
    ];

    const fn from_static(name: &'static str) -> SObject {
        SObject(Cow::Borrowed(name))
    }

    /// Names any object by its API name. Standard names resolve to the
    /// same value as the constants.
    pub fn new(name: impl Into<String>) -> SObject {
        let name = name.into();
        SObject::STANDARD
            .iter()
            .find(|o| o.as_str() == name)
            .cloned()
            .unwrap_or(SObject(Cow::Owned(name)))
    }

    /// The API name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The error returned when parsing an empty or malformed object name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Salesforce object name: {0:?}")]
pub struct InvalidSObject(String);

impl std::str::FromStr for SObject {
    type Err = InvalidSObject;
    /// Accepts an API name made of letters, digits and underscores.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 80
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(SObject::new(s))
        } else {
            Err(InvalidSObject(s.chars().take(80).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_names_are_the_constants() {
        for o in SObject::STANDARD {
            assert_eq!(SObject::new(o.as_str()), o);
            assert!(matches!(SObject::new(o.as_str()).0, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in ["", "1Account", "Account; DROP", "Acc ount"] {
            assert!(bad.parse::<SObject>().is_err(), "{bad}");
        }
    }
}
