//! An index as a `plan` check judges it: its definition as the catalog gives it, and
//! whether it has the shape a check asks for (leading keys, INCLUDE columns, a predicate
//! whose top-level `AND` terms may come in any order, a method).

use crate::exercise::IndexShape;

/// An index's definition as the catalog gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFacts {
    pub method: String,
    pub keys: Vec<String>,
    pub include: Vec<String>,
    pub predicate: String,
}

impl IndexFacts {
    /// `btree (user_id, created_at DESC) INCLUDE (value) WHERE is_active`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({})", self.method, self.keys.join(", "));
        if !self.include.is_empty() {
            s.push_str(&format!(" INCLUDE ({})", self.include.join(", ")));
        }
        if !self.predicate.is_empty() {
            s.push_str(&format!(" WHERE {}", self.predicate));
        }
        s
    }
}

/// One key column as a comparison sees it: lower case, one space, no `ASC`.
fn key(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().filter(|w| *w != "asc").collect();
    words.join(" ")
}

/// The top-level `AND` terms of a predicate as the catalog prints it, each trimmed, in a
/// canonical order: the order in which the student wrote them does not count.
pub fn conjuncts(predicate: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = predicate.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && predicate[i..].starts_with(" AND ") => {
                terms.push(predicate[start..i].trim().to_string());
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    terms.push(predicate[start..].trim().to_string());
    // A term the catalog wraps in parentheses of its own; a boolean compared with a
    // constant as the boolean itself (`is_active = true` holds for the same rows as
    // `is_active`, and PostgreSQL uses an index with either for a query with the other).
    let mut terms: Vec<String> = terms
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| {
            let t = unwrap(&t);
            match (t.strip_suffix(" = true"), t.strip_suffix(" = false")) {
                (Some(b), _) if plain(b) => b.to_string(),
                (_, Some(b)) if plain(b) => format!("NOT {b}"),
                _ => t.to_string(),
            }
        })
        .collect();
    terms.sort();
    terms
}

/// A column name alone.
fn plain(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '"')
}

/// `t` without parentheses that enclose all of it.
fn unwrap(t: &str) -> &str {
    let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
        return t;
    };
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return t;
        }
    }
    unwrap(inner)
}

/// What `facts` lacks of `shape`, in words; `None` when it has it all. `predicate` is
/// the shape's predicate as the catalog prints it (see `normalised_predicate`).
pub fn unlike(facts: &IndexFacts, shape: &IndexShape, predicate: Option<&str>) -> Option<String> {
    if let Some(method) = &shape.method
        && !method.eq_ignore_ascii_case(&facts.method)
    {
        return Some(format!("it is a {} index, not {method}", facts.method));
    }
    let have: Vec<String> = facts.keys.iter().map(|k| key(k)).collect();
    let want: Vec<String> = shape.columns.iter().map(|k| key(k)).collect();
    if have.len() < want.len() || have[..want.len()] != want[..] {
        return Some(format!(
            "its keys are ({}), not ({}{})",
            facts.keys.join(", "),
            shape.columns.join(", "),
            if want.len() < have.len() { ", ..." } else { "" }
        ));
    }
    let included: Vec<String> = facts.include.iter().map(|k| key(k)).collect();
    let missing: Vec<&String> = shape
        .include
        .iter()
        .filter(|c| !included.contains(&key(c)))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Some(format!("it does not INCLUDE {}", names.join(", ")));
    }
    match (shape.predicate.as_ref(), predicate) {
        (None, _) => None,
        (Some(_), Some(want)) if conjuncts(want) == conjuncts(&facts.predicate) => None,
        // The grader could not have the catalog print the shape's predicate: as written.
        (Some(written), None) if conjuncts(written) == conjuncts(&facts.predicate) => None,
        (Some(written), _) if facts.predicate.is_empty() => {
            Some(format!("it is not partial (expected WHERE {written})"))
        }
        (Some(written), _) => Some(format!(
            "its predicate is {}, not {written}",
            facts.predicate
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_matched_by_its_definition() {
        let facts = IndexFacts {
            method: "btree".into(),
            keys: vec![
                "user_id".into(),
                "created_at DESC".into(),
                "feature_name".into(),
            ],
            include: vec!["value".into()],
            predicate: "is_active AND version = 'latest'::text".into(),
        };
        let shape = |columns: &[&str], include: &[&str], predicate: Option<&str>| IndexShape {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            include: include.iter().map(|c| c.to_string()).collect(),
            predicate: predicate.map(str::to_string),
            method: Some("btree".into()),
        };
        assert_eq!(
            unlike(
                &facts,
                &shape(&["user_id", "created_at desc"], &[], None),
                None
            ),
            None
        );
        assert!(unlike(&facts, &shape(&["user_id", "created_at"], &[], None), None).is_some());
        assert!(unlike(&facts, &shape(&["created_at desc"], &[], None), None).is_some());
        assert!(unlike(&facts, &shape(&["user_id"], &["metadata"], None), None).is_some());
        assert_eq!(
            unlike(&facts, &shape(&["user_id"], &["VALUE"], None), None),
            None
        );
        // The predicate's terms in another order, as the catalog would print them.
        let p = "version = 'latest'::text AND is_active";
        assert_eq!(
            unlike(&facts, &shape(&["user_id"], &[], Some("x")), Some(p)),
            None
        );
        assert!(
            unlike(
                &facts,
                &shape(&["user_id"], &[], Some("x")),
                Some("is_active")
            )
            .is_some()
        );
    }

    #[test]
    fn conjuncts_split_at_the_top_level_only() {
        assert_eq!(
            conjuncts("(a OR b AND c) AND d = 'x AND y' AND e"),
            ["a OR b AND c", "d = 'x AND y'", "e"]
        );
        assert_eq!(conjuncts("(is_active)"), ["is_active"]);
        assert_eq!(
            conjuncts("version = 'latest'::text AND is_active = true"),
            conjuncts("is_active AND version = 'latest'::text")
        );
        assert_eq!(conjuncts("archived = false"), ["NOT archived"]);
        assert_eq!(conjuncts("(a) OR (b)"), ["(a) OR (b)"]);
    }
}
