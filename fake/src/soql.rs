//! The SOQL subset the fake org understands: what a keyset-paging source
//! sends, and nothing else.
//!
//! ```text
//! SELECT f1, f2, Rel.f3 FROM Object [WHERE Id > '<id>'] [ORDER BY Id [ASC]] [LIMIT n]
//! ```
//!
//! Keywords are case-insensitive. Anything else is `MALFORMED_QUERY`, with
//! Salesforce's message layout (the query, a caret, `ERROR at
//! Row:r:Column:c`, the reason).

/// A parsed query. Positions are byte offsets into the query text, for
/// error messages about names the org does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) fields: Vec<Spanned>,
    pub(crate) object: Spanned,
    pub(crate) after: Option<Spanned>,
    pub(crate) limit: Option<u64>,
}

/// A name or literal and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned {
    pub(crate) text: String,
    pub(crate) at: usize,
}

/// A query the org refuses: Salesforce's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl SoqlError {
    /// An error about the text at byte `at`, laid out as Salesforce does.
    pub(crate) fn at(code: &'static str, soql: &str, at: usize, reason: &str) -> SoqlError {
        let at = at.min(soql.len());
        let before = &soql[..at];
        let row = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = soql[line_start..]
            .find('\n')
            .map_or(soql.len(), |i| line_start + i);
        let column = soql[line_start..at].chars().count() + 1;
        SoqlError {
            code,
            message: format!(
                "\n{}\n{}^\nERROR at Row:{row}:Column:{column}\n{reason}",
                &soql[line_start..line_end],
                " ".repeat(column - 1)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Punct(&'static str),
}

fn tokenize(soql: &str) -> Result<Vec<(Tok, usize)>, SoqlError> {
    let bytes = soql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push((Tok::Word(soql[start..i].to_owned()), start));
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            out.push((Tok::Num(soql[start..i].to_owned()), start));
        } else if c == b'\'' {
            i += 1;
            let mut text = String::new();
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(SoqlError::at(
                            "MALFORMED_QUERY",
                            soql,
                            start,
                            "line 1:0 mismatched character '<EOF>' expecting '''",
                        ));
                    }
                    Some(b'\\') => {
                        let next = soql[i + 1..].chars().next().unwrap_or('\\');
                        text.push(next);
                        i += 1 + next.len_utf8();
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        let ch = soql[i..].chars().next().expect("i is in bounds");
                        text.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push((Tok::Str(text), start));
        } else {
            let two = soql.get(i..i + 2).unwrap_or("");
            let punct = match (two, c) {
                (">=", _) => ">=",
                ("<=", _) => "<=",
                ("!=", _) => "!=",
                (_, b',') => ",",
                (_, b'(') => "(",
                (_, b')') => ")",
                (_, b'>') => ">",
                (_, b'<') => "<",
                (_, b'=') => "=",
                (_, b'*') => "*",
                _ => {
                    let ch = soql[i..].chars().next().expect("i is in bounds");
                    return Err(SoqlError::at(
                        "MALFORMED_QUERY",
                        soql,
                        start,
                        &format!("unexpected token: '{ch}'"),
                    ));
                }
            };
            i += punct.len();
            out.push((Tok::Punct(punct), start));
        }
    }
    Ok(out)
}

const KEYWORDS: [&str; 12] = [
    "SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "ASC", "DESC", "AND", "OR", "GROUP",
    "OFFSET",
];

struct Parser<'a> {
    soql: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn here(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.soql.len(), |(_, at)| *at)
    }

    fn unexpected(&self) -> SoqlError {
        let reason = match self.peek() {
            None => "unexpected token: '<EOF>'".to_owned(),
            Some(Tok::Word(w) | Tok::Num(w)) => format!("unexpected token: '{w}'"),
            Some(Tok::Str(s)) => format!("unexpected token: ''{s}''"),
            Some(Tok::Punct(p)) => format!("unexpected token: '{p}'"),
        };
        SoqlError::at("MALFORMED_QUERY", self.soql, self.here(), &reason)
    }

    fn unsupported(&self, what: &str) -> SoqlError {
        SoqlError::at(
            "MALFORMED_QUERY",
            self.soql,
            self.here(),
            &format!(
                "{what} is not supported by the fake org (it understands \
                 SELECT fields FROM Object [WHERE Id > 'id'] [ORDER BY Id [ASC]] [LIMIT n])"
            ),
        )
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn keyword(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.is_keyword(kw) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn name(&mut self) -> Result<Spanned, SoqlError> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), at))
                if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
                    && !w.ends_with('.')
                    && !w.contains("..") =>
            {
                let s = Spanned {
                    text: w.clone(),
                    at: *at,
                };
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }
}

/// Parses a query of the supported subset.
pub(crate) fn parse(soql: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        soql,
        toks: tokenize(soql)?,
        pos: 0,
    };
    p.keyword("SELECT")?;
    let mut fields: Vec<Spanned> = Vec::new();
    loop {
        if p.punct("(") {
            return Err(p.unsupported("a subquery"));
        }
        let field = p.name()?;
        if p.punct("(") {
            p.pos -= 1;
            return Err(p.unsupported("a function call"));
        }
        if let Some(dup) = fields
            .iter()
            .find(|f| f.text.eq_ignore_ascii_case(&field.text))
        {
            return Err(SoqlError {
                code: "MALFORMED_QUERY",
                message: format!("duplicate field selected: {}", dup.text),
            });
        }
        fields.push(field);
        if p.punct(",") {
            p.pos += 1;
        } else {
            break;
        }
    }
    p.keyword("FROM")?;
    // `Order` is an object as well as a keyword.
    let order_object = p.is_keyword("ORDER")
        && !matches!(p.toks.get(p.pos + 1), Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case("BY"));
    let object = if order_object {
        let (tok, at) = &p.toks[p.pos];
        let Tok::Word(w) = tok else {
            unreachable!("is_keyword matched a word")
        };
        p.pos += 1;
        Spanned {
            text: w.clone(),
            at: *at,
        }
    } else {
        p.name()?
    };
    if object.text.contains('.') {
        return Err(SoqlError::at(
            "MALFORMED_QUERY",
            soql,
            object.at,
            &format!("unexpected token: '{}'", object.text),
        ));
    }
    let mut after = None;
    if p.is_keyword("WHERE") {
        p.pos += 1;
        let field = p.name()?;
        if !field.text.eq_ignore_ascii_case("Id") {
            p.pos -= 1;
            return Err(p.unsupported("a filter on a field other than Id"));
        }
        if !p.punct(">") {
            return Err(p.unsupported("an operator other than '>'"));
        }
        p.pos += 1;
        match p.toks.get(p.pos) {
            Some((Tok::Str(s), at)) => {
                after = Some(Spanned {
                    text: s.clone(),
                    at: *at,
                });
                p.pos += 1;
            }
            _ => return Err(p.unexpected()),
        }
        if p.is_keyword("AND") || p.is_keyword("OR") {
            return Err(p.unsupported("a compound filter"));
        }
    }
    if p.is_keyword("ORDER") {
        p.pos += 1;
        p.keyword("BY")?;
        let field = p.name()?;
        if !field.text.eq_ignore_ascii_case("Id") {
            p.pos -= 1;
            return Err(p.unsupported("ordering by a field other than Id"));
        }
        if p.is_keyword("DESC") {
            return Err(p.unsupported("descending order"));
        }
        if p.is_keyword("ASC") {
            p.pos += 1;
        }
    }
    let mut limit = None;
    if p.is_keyword("LIMIT") {
        p.pos += 1;
        match p.peek() {
            Some(Tok::Num(n)) => {
                let n = n.parse::<u64>().map_err(|_| p.unexpected())?;
                limit = Some(n);
                p.pos += 1;
            }
            _ => return Err(p.unexpected()),
        }
    }
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    Ok(Query {
        fields,
        object,
        after,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &Query) -> Vec<&str> {
        q.fields.iter().map(|f| f.text.as_str()).collect()
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
        assert_eq!(q.after.unwrap().text, "001000000000001AAA");
        assert_eq!(q.limit, Some(200));

        let q = parse("SELECT Id FROM Order ORDER BY Id").unwrap();
        assert_eq!(q.object.text, "Order");
        assert!(parse("SELECT Id FROM ORDER BY Id").is_err());
        let q = parse("SELECT Id FROM Contact ORDER BY Id").unwrap();
        assert_eq!((q.after, q.limit), (None, None));
        let q = parse("SELECT Id\nFROM Contact\nWHERE Id > 'a\\'b'").unwrap();
        assert_eq!(q.after.unwrap().text, "a'b");
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
            ("SELECT Id FROM Account WHERE Name = 'x'", "other than Id"),
            ("SELECT Id FROM Account WHERE Id < 'x'", "other than '>'"),
            (
                "SELECT Id FROM Account WHERE Id > 'x' AND Id > 'y'",
                "compound",
            ),
            ("SELECT Id FROM Account ORDER BY Name", "other than Id"),
            ("SELECT Id FROM Account ORDER BY Id DESC", "descending"),
            ("SELECT Id FROM Account LIMIT x", "unexpected token: 'x'"),
            (
                "SELECT Id FROM Account LIMIT 5 OFFSET 5",
                "unexpected token: 'OFFSET'",
            ),
            ("SELECT COUNT() FROM Account", "function"),
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
}
