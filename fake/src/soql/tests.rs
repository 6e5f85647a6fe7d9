//! The parser's unit tests.

use super::*;

fn names(q: &Query) -> Vec<&str> {
    match &q.select {
        Select::Fields(f) => f.iter().map(|f| f.text.as_str()).collect(),
        Select::Count => vec!["COUNT()"],
    }
}

fn cmp(field: &str, op: Op, value: Literal) -> Expr {
    Expr::Compare {
        field: Spanned {
            text: field.to_owned(),
            at: 0,
        },
        op,
        value,
        at: 0,
    }
}

/// The filter with positions zeroed, to compare shapes.
fn shape(e: &Expr) -> Expr {
    match e {
        Expr::And(v) => Expr::And(v.iter().map(shape).collect()),
        Expr::Or(v) => Expr::Or(v.iter().map(shape).collect()),
        Expr::Compare {
            field, op, value, ..
        } => cmp(&field.text, *op, value.clone()),
    }
}

#[test]
fn parses_the_keyset_query() {
    let q = parse(
        "select Id, Name, Pricebook2.IsStandard from Account where Id > '001000000000001AAA' \
         order by Id asc limit 200",
    )
    .unwrap();
    assert_eq!(names(&q), ["Id", "Name", "Pricebook2.IsStandard"]);
    assert_eq!(q.object.text, "Account");
    assert_eq!(
        shape(q.filter.as_ref().unwrap()),
        cmp("Id", Op::Gt, Literal::Str("001000000000001AAA".into()))
    );
    assert_eq!(q.order[0].text, "Id");
    assert_eq!(q.limit, Some(200));

    let q = parse("SELECT Id FROM Order ORDER BY Id").unwrap();
    assert_eq!(q.object.text, "Order");
    assert!(parse("SELECT Id FROM ORDER BY Id").is_err());
    let q = parse("SELECT Id FROM Contact").unwrap();
    assert_eq!((q.filter, q.order, q.limit), (None, vec![], None));
    let q = parse("SELECT Id\nFROM Contact\nWHERE Id > 'a\\'b'").unwrap();
    assert_eq!(
        shape(q.filter.as_ref().unwrap()),
        cmp("Id", Op::Gt, Literal::Str("a'b".into()))
    );
}

#[test]
fn parses_the_sync_query() {
    let q = parse(
        "SELECT Id, IsDeleted FROM Account WHERE SystemModstamp >= 2026-01-01T00:00:00Z AND \
         (SystemModstamp > 2026-01-01T00:05:00.000Z OR (SystemModstamp = \
         2026-01-01T00:05:00.000+00:00 AND Id > '001000000000005AAA')) \
         ORDER BY SystemModstamp, Id ASC",
    )
    .unwrap();
    let t0 = 1_767_225_600_000;
    let t5 = t0 + 300_000;
    let want = Expr::And(vec![
        cmp("SystemModstamp", Op::Ge, Literal::DateTime(t0)),
        Expr::Or(vec![
            cmp("SystemModstamp", Op::Gt, Literal::DateTime(t5)),
            Expr::And(vec![
                cmp("SystemModstamp", Op::Eq, Literal::DateTime(t5)),
                cmp("Id", Op::Gt, Literal::Str("001000000000005AAA".into())),
            ]),
        ]),
    ]);
    assert_eq!(shape(q.filter.as_ref().unwrap()), want);
    let order: Vec<&str> = q.order.iter().map(|o| o.text.as_str()).collect();
    assert_eq!(order, ["SystemModstamp", "Id"]);

    for (literal, millis) in [
        ("2026-01-01T01:00:00+0100", t0),
        ("2026-01-01t00:00:00.5z", t0 + 500),
        ("2025-12-31T19:00:00-05:00", t0),
    ] {
        let q = parse(&format!(
            "SELECT Id FROM Account WHERE SystemModstamp < {literal}"
        ))
        .unwrap();
        assert_eq!(
            shape(q.filter.as_ref().unwrap()),
            cmp("SystemModstamp", Op::Lt, Literal::DateTime(millis)),
            "{literal}"
        );
    }
    let q = parse("SELECT COUNT() FROM Contact WHERE IsDeleted = TRUE LIMIT 3").unwrap();
    assert_eq!(q.select, Select::Count);
    assert_eq!(
        shape(q.filter.as_ref().unwrap()),
        cmp("IsDeleted", Op::Eq, Literal::Bool(true))
    );
    assert_eq!(q.limit, Some(3));
}

#[test]
fn rejects_the_rest_with_a_located_message() {
    let cases = [
        (
            "SELECT Id FRM Account",
            "Row:1:Column:11\nunexpected token: 'FRM'",
        ),
        ("SELECT FROM Account", "unexpected token: 'FROM'"),
        ("SELECT Id, FROM Account", "unexpected token: 'FROM'"),
        (
            "SELECT Id FROM Account WHERE Name LIKE 'x%'",
            "the LIKE operator",
        ),
        (
            "SELECT Id FROM Account WHERE Id > 'x' AND Id > 'y' OR Id = 'z'",
            "Column:52\nunexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Account WHERE (Id > 'x' AND Id > 'y'",
            "unexpected token: '<EOF>'",
        ),
        (
            "SELECT Id FROM Account WHERE Id >",
            "unexpected token: '<EOF>'",
        ),
        (
            "SELECT Id FROM Account WHERE AND",
            "unexpected token: 'AND'",
        ),
        ("SELECT Id FROM Account WHERE NOT Id = 'x'", "NOT is not"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > YESTERDAY",
            "the literal YESTERDAY",
        ),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01",
            "Column:51\nunexpected token: '-'",
        ),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01T00:00:00",
            "unexpected token: '-'",
        ),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > 2026-13-01T00:00:00Z",
            "invalid datetime literal",
        ),
        (
            "SELECT Id FROM Account WHERE Amount > 5",
            "a number literal",
        ),
        ("SELECT Id FROM Account ORDER BY Id DESC", "descending"),
        ("SELECT Id FROM Account ORDER BY Id NULLS LAST", "NULLS"),
        ("SELECT Id FROM Account LIMIT x", "unexpected token: 'x'"),
        (
            "SELECT Id FROM Account LIMIT 5 OFFSET 5",
            "unexpected token: 'OFFSET'",
        ),
        ("SELECT MAX(Name) FROM Account", "function"),
        ("SELECT COUNT(Id) FROM Account", "aggregate"),
        ("SELECT COUNT(), Id FROM Account", "unexpected token: ','"),
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
            "subquery",
        ),
        (
            "SELECT Id FROM Account WHERE Id > 'x",
            "mismatched character",
        ),
        ("SELECT Id; FROM Account", "unexpected token: ';'"),
        ("SELECT Id, Id FROM Account", "duplicate field selected: Id"),
        ("", "unexpected token: '<EOF>'"),
    ];
    for (soql, want) in cases {
        let err = parse(soql).unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY", "{soql}");
        assert!(err.message.contains(want), "{soql}: {}", err.message);
        assert!(err.message.contains("^\nERROR at Row:1:Column:") || want.starts_with("dup"));
    }
}

#[test]
fn message_layout_matches_salesforce() {
    let err = SoqlError::at(
        "INVALID_FIELD",
        "SELECT Id, Foo FROM Account",
        11,
        "No such column",
    );
    assert_eq!(
        err.message,
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column"
    );
}

#[test]
fn operators_compare() {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let table = [
        (Op::Eq, [false, true, false]),
        (Op::Ne, [true, false, true]),
        (Op::Lt, [true, false, false]),
        (Op::Le, [true, true, false]),
        (Op::Gt, [false, false, true]),
        (Op::Ge, [false, true, true]),
    ];
    for (op, want) in table {
        let got = [Less, Equal, Greater].map(|o| op.holds(o));
        assert_eq!(got, want, "{op:?}");
    }
}
