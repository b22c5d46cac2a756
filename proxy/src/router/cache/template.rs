//! One summary per query shape, filled in with each query's constants.
//!
//! A template is the summary of a shape's text (constants as `$n`). Filling it in turns
//! each `Value::Param` that stands for a constant back into the value the summariser reads
//! from that constant, so a filled-in template equals the summary of the query itself.
//!
//! Not every shape keeps that promise: a constant can mean more than a value (`-5` is one
//! constant but `-$1` an expression; `SET x = 5` has no `$n` form). So a template
//! is only kept after it has been checked once: filled in with the first query's constants,
//! it must equal that query's own summary. A shape that fails is remembered as such and its
//! queries are parsed one by one, as without this cache. The one case where the check
//! could pass by coincidence (`ORDER BY 0` reads like a parameter, `ORDER BY 2` does not)
//! is kept out by the lexer, which leaves ORDER BY and GROUP BY numbers in the shape.

use std::sync::Arc;

use super::shape::{Literal, Shape};
use super::Summaries;
use crate::router::statement::{Statement, Value};

/// What the cache knows about a shape.
#[derive(Clone)]
pub enum Template {
    /// The shape's summaries, with `Value::Param(n)` where constants go.
    Fill(Summaries),
    /// The constants appear nowhere in the summaries: every query of the shape has these.
    Same(Summaries),
    /// Its queries must each be parsed.
    Unusable,
    /// One query of this shape was parsed; the template is built when a second comes.
    /// Texts that never repeat their shape (a unique comment per query, as tracing tools
    /// write) then cost one parse each, not two.
    Seen,
}

impl Template {
    /// Builds the template of `shape` from its summaries, and checks it against the
    /// summaries of the query the shape was taken from.
    pub fn check(shape: &Shape<'_>, template: Summaries, query: &Summaries) -> Template {
        if query.iter().any(|s| s.parse_error.is_some()) {
            return Template::Unusable;
        }
        match fill(&template, shape) {
            Some(filled) if filled[..] == query[..] => {
                if filled[..] == template[..] {
                    Template::Same(template)
                } else {
                    Template::Fill(template)
                }
            }
            _ => Template::Unusable,
        }
    }
}

/// The template's summaries with `shape`'s constants in place; `None` if a placeholder has
/// no constant (never for a checked template).
pub fn fill(template: &Summaries, shape: &Shape<'_>) -> Option<Summaries> {
    let mut out = Vec::with_capacity(template.len());
    for stmt in template.iter() {
        out.push(fill_one(stmt, shape)?);
    }
    Some(Arc::from(out))
}

fn fill_one(stmt: &Statement, shape: &Shape<'_>) -> Option<Statement> {
    let mut stmt = stmt.clone();
    for predicate in &mut stmt.predicates {
        for value in &mut predicate.values {
            fill_value(value, shape)?;
        }
    }
    if let Some(insert) = &mut stmt.insert {
        for value in insert.rows.iter_mut().flatten() {
            fill_value(value, shape)?;
        }
    }
    for value in [&mut stmt.limit, &mut stmt.offset].into_iter().flatten() {
        fill_value(value, shape)?;
    }
    Some(stmt)
}

fn fill_value(value: &mut Value, shape: &Shape<'_>) -> Option<()> {
    let Value::Param(n) = *value else {
        return Some(());
    };
    let Some(index) = n.checked_sub(shape.base).filter(|&k| k > 0) else {
        // One of the query's own parameters.
        return Some(());
    };
    *value = match shape.literals.get(usize::from(index) - 1)? {
        Literal::String(text) => Value::Text(text.to_string()),
        // As the summariser reads a numeric constant: an integer that fits i64, or the
        // text as written (PostgreSQL's parser keeps both `1.5` and overflows as text).
        Literal::Number(text) => text
            .parse::<i64>()
            .map_or_else(|_| Value::Text(text.to_string()), Value::Integer),
    };
    Some(())
}
