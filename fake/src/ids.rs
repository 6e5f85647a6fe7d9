//! Salesforce's key prefixes: the first three characters of an id name the
//! object (`001` Account, `003` Contact, ...).

/// The key prefix the fake uses for the ids of `object`'s records; objects
/// it does not know get a custom object's `a0X`.
pub(crate) fn key_prefix(object: &str) -> &'static str {
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
