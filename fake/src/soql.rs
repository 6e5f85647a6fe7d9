//! The SOQL subset the fake org understands: what a keyset-paging or
//! incremental-sync source sends, and nothing else.
//!
//! ```text
//! query   := SELECT select FROM Object [WHERE expr] [ORDER BY order] [LIMIT n]
//! select  := COUNT() | field {, field}          field: Name or Rel.Name
//! expr    := term {AND term} | term {OR term}   (mixing needs parentheses)
//! term    := ( expr ) | field op literal
//! op      := = | != | < | <= | > | >=
//! literal := 'text' | 2026-01-01T00:00:00[.000](Z | +hh:mm | -hhmm) | TRUE | FALSE
//! order   := field [ASC] {, field [ASC]}
//! ```
//!
//! Keywords are case-insensitive. Which fields a filter or an order may
//! name (`Id`, references, datetimes, booleans) is the org's check, made
//! when the query is planned. Anything else is `MALFORMED_QUERY`, with
//! Salesforce's message layout (the query, a caret, `ERROR at
//! Row:r:Column:c`, the reason).

/// A parsed query. Positions are byte offsets into the query text, for
/// error messages about names the org does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) select: Select,
    pub(crate) object: Spanned,
    pub(crate) filter: Option<Expr>,
    /// `ORDER BY` fields, all ascending; empty without `ORDER BY`.
    pub(crate) order: Vec<Spanned>,
    pub(crate) limit: Option<u64>,
}

/// What a query selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Select {
    /// `SELECT COUNT()`: the number of matching records, no rows.
    Count,
    /// Fields, some through a relationship (`Account.Name`).
    Fields(Vec<Spanned>),
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare {
        field: Spanned,
        op: Op,
        value: Literal,
        /// Where the literal starts.
        at: usize,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Whether `ordering` (a value compared with the literal) satisfies
    /// the operator.
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
        }
    }
}

/// A literal a field is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    /// A quoted string (ids are quoted), unescaped.
    Str(String),
    /// A datetime literal, in milliseconds since the epoch.
    DateTime(i64),
    Bool(bool),
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
    /// A datetime literal: its text and its instant in milliseconds.
    DateTime(String, i64),
    Punct(&'static str),
}

/// The length of the SOQL datetime literal at the start of `s`, if one
/// is there: `YYYY-MM-DDThh:mm:ss[.f+]` then `Z`, `+hh:mm` or `+hhmm`.
fn datetime_len(s: &[u8]) -> Option<usize> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    if s.len() < SHAPE.len() {
        return None;
    }
    let fits = SHAPE.iter().zip(s).all(|(want, got)| match want {
        b'd' => got.is_ascii_digit(),
        b'T' => got.eq_ignore_ascii_case(&b'T'),
        c => got == c,
    });
    if !fits {
        return None;
    }
    let digits = |from: usize| {
        s[from.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut i = SHAPE.len();
    if s.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    match s.get(i) {
        Some(b'Z' | b'z') => Some(i + 1),
        Some(b'+' | b'-') => {
            i += 1;
            if digits(i) == 4 {
                return Some(i + 4);
            }
            (digits(i) == 2 && s.get(i + 2) == Some(&b':') && digits(i + 3) == 2).then_some(i + 5)
        }
        _ => None,
    }
}

/// The instant of a datetime literal [`datetime_len`] accepted.
fn datetime_millis(text: &str) -> Option<i64> {
    crate::store::parse_datetime(&text.to_ascii_uppercase()).map(|at| at.timestamp_millis())
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
        } else if let Some(n) = c
            .is_ascii_digit()
            .then(|| datetime_len(&bytes[i..]))
            .flatten()
        {
            i += n;
            let text = &soql[start..i];
            let millis = datetime_millis(text).ok_or_else(|| {
                SoqlError::at(
                    "MALFORMED_QUERY",
                    soql,
                    start,
                    &format!("invalid datetime literal: '{text}'"),
                )
            })?;
            out.push((Tok::DateTime(text.to_owned(), millis), start));
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

const KEYWORDS: [&str; 16] = [
    "SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "ASC", "DESC", "AND", "OR", "NOT", "GROUP",
    "OFFSET", "NULLS", "TRUE", "FALSE",
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
            Some(Tok::Word(w) | Tok::Num(w) | Tok::DateTime(w, _)) => {
                format!("unexpected token: '{w}'")
            }
            Some(Tok::Str(s)) => format!("unexpected token: ''{s}''"),
            Some(Tok::Punct(p)) => format!("unexpected token: '{p}'"),
        };
        SoqlError::at("MALFORMED_QUERY", self.soql, self.here(), &reason)
    }

    fn unsupported(&self, what: &str) -> SoqlError {
        unsupported(self.soql, self.here(), what)
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

    fn expect(&mut self, p: &str) -> Result<(), SoqlError> {
        if self.punct(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// `SELECT`'s list.
    fn select(&mut self) -> Result<Select, SoqlError> {
        let count_call = self.is_keyword("COUNT")
            && matches!(self.toks.get(self.pos + 1), Some((Tok::Punct("("), _)));
        if count_call {
            if !matches!(self.toks.get(self.pos + 2), Some((Tok::Punct(")"), _))) {
                self.pos += 2;
                return Err(self.unsupported("an aggregate function"));
            }
            self.pos += 3;
            if !self.is_keyword("FROM") {
                return Err(self.unexpected());
            }
            return Ok(Select::Count);
        }
        let mut fields: Vec<Spanned> = Vec::new();
        loop {
            if self.punct("(") {
                return Err(self.unsupported("a subquery"));
            }
            let field = self.name()?;
            if self.punct("(") {
                self.pos -= 1;
                return Err(self.unsupported("a function call"));
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
            if self.punct(",") {
                self.pos += 1;
            } else {
                return Ok(Select::Fields(fields));
            }
        }
    }

    /// A condition: terms joined by one of `AND` or `OR` (Salesforce wants
    /// parentheses to mix them).
    fn expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.term()?;
        let and = if self.is_keyword("AND") {
            true
        } else if self.is_keyword("OR") {
            false
        } else {
            return Ok(first);
        };
        let joiner = if and { "AND" } else { "OR" };
        let mut terms = vec![first];
        while self.is_keyword(joiner) {
            self.pos += 1;
            terms.push(self.term()?);
        }
        if self.is_keyword("AND") || self.is_keyword("OR") {
            return Err(self.unexpected());
        }
        Ok(if and {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, SoqlError> {
        if self.punct("(") {
            self.pos += 1;
            let inner = self.expr()?;
            self.expect(")")?;
            return Ok(inner);
        }
        if self.is_keyword("NOT") {
            return Err(self.unsupported("NOT"));
        }
        let field = self.name()?;
        let op = match self.peek() {
            Some(Tok::Punct("=")) => Op::Eq,
            Some(Tok::Punct("!=")) => Op::Ne,
            Some(Tok::Punct("<")) => Op::Lt,
            Some(Tok::Punct("<=")) => Op::Le,
            Some(Tok::Punct(">")) => Op::Gt,
            Some(Tok::Punct(">=")) => Op::Ge,
            Some(Tok::Word(w))
                if ["IN", "LIKE", "INCLUDES", "EXCLUDES"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(w)) =>
            {
                let what = format!("the {} operator", w.to_ascii_uppercase());
                return Err(self.unsupported(&what));
            }
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        let at = self.here();
        let value = match self.peek() {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::DateTime(_, millis)) => Literal::DateTime(*millis),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Literal::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NULL") => {
                return Err(self.unsupported("a comparison with null"));
            }
            Some(Tok::Word(w)) => {
                let what = format!("the literal {w}");
                return Err(self.unsupported(&what));
            }
            Some(Tok::Num(_)) => return Err(self.unsupported("a number literal")),
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        Ok(Expr::Compare {
            field,
            op,
            value,
            at,
        })
    }

    /// `ORDER BY`'s list.
    fn order(&mut self) -> Result<Vec<Spanned>, SoqlError> {
        let mut order = Vec::new();
        loop {
            order.push(self.name()?);
            if self.is_keyword("DESC") {
                return Err(self.unsupported("descending order"));
            }
            if self.is_keyword("ASC") {
                self.pos += 1;
            }
            if self.is_keyword("NULLS") {
                return Err(self.unsupported("NULLS FIRST or LAST"));
            }
            if !self.punct(",") {
                return Ok(order);
            }
            self.pos += 1;
        }
    }
}

/// `MALFORMED_QUERY` for something real SOQL has but the fake does not.
pub(crate) fn unsupported(soql: &str, at: usize, what: &str) -> SoqlError {
    SoqlError::at(
        "MALFORMED_QUERY",
        soql,
        at,
        &format!(
            "{what} is not supported by the fake org (it understands SELECT fields or \
             COUNT() FROM Object [WHERE comparisons of Id, reference, datetime and boolean \
             fields, = and != on text fields, joined by AND or OR] [ORDER BY Id, reference or datetime fields ASC] \
             [LIMIT n])"
        ),
    )
}

/// Parses a query of the supported subset.
pub(crate) fn parse(soql: &str) -> Result<Query, SoqlError> {
    let mut p = Parser {
        soql,
        toks: tokenize(soql)?,
        pos: 0,
    };
    p.keyword("SELECT")?;
    let select = p.select()?;
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
    let mut filter = None;
    if p.is_keyword("WHERE") {
        p.pos += 1;
        filter = Some(p.expr()?);
    }
    let mut order = Vec::new();
    if p.is_keyword("ORDER") {
        p.pos += 1;
        p.keyword("BY")?;
        order = p.order()?;
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
        select,
        object,
        filter,
        order,
        limit,
    })
}

#[cfg(test)]
mod tests;
