//! Where a problem of a jobs file is: the key a wrong value is under, and its line and column.
//!
//! The sections are checked as tables, which keep no positions, so serde's "invalid type" by
//! itself says neither which key nor where. The key is found by trying each one alone, its
//! place by reading the text again with spans. Messages go through
//! [`without_values`]: a jobs file may hold secrets, and a secret given with the wrong type
//! must not be echoed.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::settings::{line_column, without_values};

/// A section of a jobs file.
#[derive(Clone, Copy, Debug)]
pub(super) enum Section {
    /// `[connection]`.
    Connection,
    /// `[defaults]`.
    Defaults,
    /// The `[[dataset]]` with this index.
    Dataset(usize),
}

/// The places of a jobs file's keys.
pub(super) struct Positions<'i> {
    text: &'i str,
    doc: Option<Spanned<DeTable<'i>>>,
}

impl<'i> Positions<'i> {
    /// The places of the keys of `text` (none when it is not TOML; it was parsed already).
    pub(super) fn new(text: &'i str) -> Self {
        Positions {
            text,
            doc: DeTable::parse(text).ok(),
        }
    }

    /// ` (line L, column C)` where the key `path` of `section` starts, or nothing when it
    /// cannot be found: the end of a problem about that key.
    pub(super) fn at(&self, section: Section, path: &[String]) -> String {
        self.find(section, path)
            .map(|at| format!(" ({at})"))
            .unwrap_or_default()
    }

    fn find(&self, section: Section, path: &[String]) -> Option<String> {
        let doc = self.doc.as_ref()?.get_ref();
        let (name, index) = match section {
            Section::Connection => ("connection", None),
            Section::Defaults => ("defaults", None),
            Section::Dataset(i) => ("dataset", Some(i)),
        };
        let (_, mut value) = entry(doc, name)?;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                return None;
            };
            value = items.get(i)?;
        }
        let mut start = None;
        for key in path {
            let DeValue::Table(t) = value.get_ref() else {
                return None;
            };
            let (k, v) = entry(t, key)?;
            start = Some(k.span().start);
            value = v;
        }
        Some(line_column(self.text, start?))
    }
}

/// The entry `name` of a table read with spans.
fn entry<'a, 'i>(
    t: &'a DeTable<'i>,
    name: &str,
) -> Option<(&'a Spanned<DeString<'i>>, &'a Spanned<DeValue<'i>>)> {
    t.iter().find(|(k, _)| k.get_ref().as_ref() == name)
}

/// The keys of `t` that `T` refuses, each as its path with serde's reason (without the value
/// it quotes). A table value (`storage_options`, `types`) is searched one level down, so a bad
/// storage option is named by its own key. Empty when no key is refused on its own.
pub(super) fn refused_keys<T: DeserializeOwned>(t: &toml::Table) -> Vec<(Vec<String>, String)> {
    let refusal = |table: toml::Table| {
        toml::Value::Table(table)
            .try_into::<T>()
            .err()
            .map(|e| without_values(e.message()))
    };
    let mut out = Vec::new();
    for (key, value) in t {
        let Some(why) = refusal(toml::Table::from_iter([(key.clone(), value.clone())])) else {
            continue;
        };
        let mut inner = Vec::new();
        if let toml::Value::Table(entries) = value {
            for (k, v) in entries {
                let one = toml::Table::from_iter([(k.clone(), v.clone())]);
                if let Some(why) = refusal(toml::Table::from_iter([(
                    key.clone(),
                    toml::Value::Table(one),
                )])) {
                    inner.push((vec![key.clone(), k.clone()], why));
                }
            }
        }
        if inner.is_empty() {
            out.push((vec![key.clone()], why));
        } else {
            out.extend(inner);
        }
    }
    out
}

/// A refused key as a problem: `` `storage_options.sas_token`: invalid type: integer, ... ``.
pub(super) fn refused(path: &[String], why: &str) -> String {
    format!("`{}`: {why}", path.join("."))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Settings {
        retries: Option<u32>,
        options: Option<BTreeMap<String, String>>,
    }

    const TEXT: &str = "[defaults]\nretries = 3\n\n[[dataset]]\nname = \"a\"\n\n[[dataset]]\n\
                        name = \"b\"\noptions = { region = \"eu\", secret_key = 12345678 }\n";

    #[test]
    fn keys_are_placed_by_section_and_path() {
        let p = Positions::new(TEXT);
        assert_eq!(
            p.at(Section::Defaults, &["retries".into()]),
            " (line 2, column 1)"
        );
        assert_eq!(
            p.at(
                Section::Dataset(1),
                &["options".into(), "secret_key".into()]
            ),
            " (line 9, column 28)"
        );
        assert_eq!(p.at(Section::Dataset(0), &["options".into()]), "");
        assert_eq!(p.at(Section::Connection, &["x".into()]), "");
    }

    #[test]
    fn a_refused_option_is_named_by_its_key_without_its_value() {
        let doc: toml::Table = toml::from_str(TEXT).unwrap();
        let dataset = doc["dataset"].as_array().unwrap()[1].as_table().unwrap();
        let mut t = dataset.clone();
        t.remove("name");
        t.insert("retries".into(), toml::Value::String("hunter2".into()));
        let found = refused_keys::<Settings>(&t);
        let shown: Vec<String> = found.iter().map(|(p, why)| refused(p, why)).collect();
        assert_eq!(
            shown,
            [
                "`options.secret_key`: invalid type: integer, expected a string",
                "`retries`: invalid type: string, expected u32",
            ]
        );
    }
}
