//! PostgreSQL utility statements that sqlparser does not take as PostgreSQL writes them:
//! `VACUUM` / `ANALYZE` (accepted and checked, nothing to do: Strata has no dead tuples
//! and plans without statistics) and the boolean option values of `COPY` (`FREEZE on`).

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::ddl::object_name;
use crate::error::{Error, Result, SqlState};

/// `VACUUM ...` or `ANALYZE ...`: the command and the tables it names (none: all).
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// `VACUUM` or `ANALYZE`: the command tag.
    pub tag: &'static str,
    pub tables: Vec<String>,
}

/// Recognises `VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [t [(cols)], ...]` and
/// `ANALYZE [(options)] [VERBOSE] [t [(cols)], ...]`. None for other statements.
pub fn parse_maintenance(sql: &str) -> Result<Option<Maintenance>> {
    let first = sql.split_whitespace().next().unwrap_or("");
    let first = first.split('(').next().unwrap_or("");
    let tag = if first.eq_ignore_ascii_case("vacuum") {
        "VACUUM"
    } else if first.eq_ignore_ascii_case("analyze") || first.eq_ignore_ascii_case("analyse") {
        "ANALYZE"
    } else {
        return Ok(None);
    };
    let syntax = |e: sqlparser::parser::ParserError| {
        Error::user(SqlState::SyntaxError, format!("syntax error: {e}"))
    };
    let mut p = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql[first.len()..])
        .map_err(syntax)?;
    if p.consume_token(&Token::LParen) {
        // Options such as (VERBOSE, SKIP_LOCKED): nothing to do with them.
        let mut depth = 1;
        while depth > 0 {
            match p.next_token().token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::EOF => {
                    return Err(syntax(sqlparser::parser::ParserError::ParserError(
                        "unclosed option list".into(),
                    )));
                }
                _ => {}
            }
        }
    }
    loop {
        if p.parse_one_of_keywords(&[
            Keyword::FULL,
            Keyword::FREEZE,
            Keyword::VERBOSE,
            Keyword::ANALYZE,
        ])
        .is_some()
        {
            continue;
        }
        match &p.peek_token().token {
            Token::Word(w)
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("analyse") =>
            {
                p.next_token();
            }
            _ => break,
        }
    }
    let mut tables = vec![];
    if p.peek_token().token != Token::EOF {
        let names = p
            .parse_comma_separated(|p| {
                let n = p.parse_object_name(false)?;
                if p.consume_token(&Token::LParen) {
                    p.parse_comma_separated(|p| p.parse_identifier())?;
                    p.expect_token(&Token::RParen)?;
                }
                Ok(n)
            })
            .map_err(syntax)?;
        for n in &names {
            tables.push(object_name(n)?);
        }
    }
    while p.consume_token(&Token::SemiColon) {}
    p.expect_token(&Token::EOF).map_err(syntax)?;
    Ok(Some(Maintenance { tag, tables }))
}

/// PostgreSQL writes boolean COPY options as `on`/`off`/`1`/`0` too (pgbench sends
/// `WITH (freeze on)`); sqlparser takes only TRUE/FALSE. Returns the statement with those
/// values spelled TRUE/FALSE, None if there was nothing to change.
pub fn copy_boolean_options(sql: &str) -> Option<String> {
    if !crate::session::starts_with_words(sql, &["copy"]) {
        return None;
    }
    let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut changed = false;
    for i in 0..tokens.len() {
        let Token::Word(w) = &tokens[i] else {
            continue;
        };
        if !matches!(w.keyword, Keyword::FREEZE | Keyword::HEADER) {
            continue;
        }
        let Some(j) = (i + 1..tokens.len()).find(|&j| {
            !matches!(
                tokens[j],
                Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
            )
        }) else {
            continue;
        };
        let value = match &tokens[j] {
            Token::Word(v) if v.quote_style.is_none() => v.value.to_ascii_lowercase(),
            Token::Number(n, _) => n.clone(),
            _ => continue,
        };
        let b = match value.as_str() {
            "on" | "1" => "TRUE",
            "off" | "0" => "FALSE",
            _ => continue,
        };
        tokens[j] = Token::make_keyword(b);
        changed = true;
    }
    changed.then(|| tokens.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacuum_and_analyze_forms() {
        let m = parse_maintenance("vacuum analyze pgbench_branches")
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.tag, m.tables),
            ("VACUUM", vec!["pgbench_branches".to_string()])
        );
        let m = parse_maintenance("VACUUM (VERBOSE, ANALYZE) a, \"B\" (x, y)")
            .unwrap()
            .unwrap();
        assert_eq!(m.tables, vec!["a".to_string(), "B".to_string()]);
        let m = parse_maintenance("analyse").unwrap().unwrap();
        assert_eq!((m.tag, m.tables.len()), ("ANALYZE", 0));
        assert!(parse_maintenance("vacuum full t u").is_err());
        assert!(parse_maintenance("select 1").unwrap().is_none());
    }

    #[test]
    fn copy_on_off() {
        assert_eq!(
            copy_boolean_options("copy t from stdin with (freeze on)").as_deref(),
            Some("copy t from stdin with (freeze TRUE)")
        );
        assert_eq!(
            copy_boolean_options("copy t from stdin with (freeze)"),
            None
        );
        assert_eq!(copy_boolean_options("select 1"), None);
    }
}
