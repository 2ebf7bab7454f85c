//! The data of views and lists, generated on the fly: any record of any view or list, from its
//! index alone, so a view of millions of cells costs no memory and tests can compare a
//! download value by value with [`Table::header`] and [`Table::record`].
//!
//! A view's records are the cartesian product of its dimensions' items (the last dimension
//! varies fastest). In Tabular Multiple Column a record is the dimension items then one cell
//! per line item; in Tabular Single Column it is the dimension items, the line item's name and
//! one value, one record per line item. A list's records follow the large-read layout of the
//! API notes (§2.6): the item's name under an empty header, `Parent`, `Write` and `Read` (with
//! Selective Access), `Code`, one boolean column per subset, one column per property.
//!
//! Pages ([`Table::page`]) hold `rows_per_page` records each; page 0 starts with the header, and
//! the others too when `repeat_header` is set. With `split_records`, each page but the last ends
//! halfway through its last record, whose rest opens the next page.

use bytes::Bytes;

use super::config::{CellFormat, Field, ListConfig, ModelReads, ModuleConfig, ReadsConfig};
use crate::simulator::faults::hash;

/// Anaplan's Time dimension id.
pub const TIME_ID: &str = "20000000003";
/// Anaplan's Line Items dimension id.
pub const LINE_ITEMS_ID: &str = "20000000012";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One dimension of a view, with its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dimension {
    /// Id (a list's id, or Time's).
    pub id: String,
    /// Name.
    pub name: String,
    /// Item names, in order.
    pub items: Vec<String>,
}

/// The layout of a view read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewLayout {
    /// Dimensions, then one column per line item.
    MultiColumn,
    /// Dimensions, `Line Items`, `Value`.
    SingleColumn,
}

/// What a read produces: a header and records by index.
#[derive(Clone, Debug)]
pub enum Table {
    /// A view in a layout.
    View {
        /// Its dimensions.
        dims: Vec<Dimension>,
        /// The line items it shows.
        line_items: Vec<Field>,
        /// Each shown line item's index in the module (its values do not depend on the view).
        columns: Vec<usize>,
        /// The module's seed.
        seed: u64,
        /// Layout.
        layout: ViewLayout,
    },
    /// A list.
    List {
        /// The list.
        list: ListConfig,
        /// Its parent list's item names.
        parents: Vec<String>,
    },
}

/// The name of item `i` of a list of `count` items: the list's name and a zero-padded number.
pub fn item_name(list: &str, i: u64, count: u64) -> String {
    let width = count.max(1).to_string().len();
    format!("{list} {:0width$}", i + 1)
}

/// The items of a dimension of `module` named `name`.
pub(crate) fn dimension(reads: &ModelReads, module: &ModuleConfig, name: &str) -> Dimension {
    if name == "Time" {
        let items = (0..module.time_periods)
            .map(|i| format!("{} {:02}", MONTHS[(i % 12) as usize], 24 + i / 12))
            .collect();
        return Dimension {
            id: TIME_ID.to_owned(),
            name: "Time".to_owned(),
            items,
        };
    }
    if let Some(list) = reads.lists.iter().find(|l| l.name == name) {
        return Dimension {
            id: list.id.clone().unwrap_or_default(),
            name: name.to_owned(),
            items: (0..list.items)
                .map(|i| item_name(name, i, list.items))
                .collect(),
        };
    }
    let n = module.generic_items;
    Dimension {
        id: format!(
            "109{:09}",
            hash(module.seed, "dimension", name, 0) % 1_000_000_000
        ),
        name: name.to_owned(),
        items: (0..n).map(|i| item_name(name, i, n)).collect(),
    }
}

impl Table {
    /// The view of `module` showing `line_items` (names; empty for all) in `layout`.
    pub(crate) fn view(
        reads: &ModelReads,
        module: &ModuleConfig,
        line_items: &[String],
        layout: ViewLayout,
    ) -> Table {
        let columns: Vec<usize> = module
            .line_items
            .iter()
            .enumerate()
            .filter(|(_, f)| line_items.is_empty() || line_items.contains(&f.name))
            .map(|(i, _)| i)
            .collect();
        Table::View {
            dims: module
                .dimensions
                .iter()
                .map(|d| dimension(reads, module, d))
                .collect(),
            line_items: columns
                .iter()
                .map(|&i| module.line_items[i].clone())
                .collect(),
            columns,
            seed: module.seed,
            layout,
        }
    }

    /// The list `list` of a model with these lists.
    pub(crate) fn list(reads: &ModelReads, list: &ListConfig) -> Table {
        let parents = list
            .parent
            .as_ref()
            .and_then(|p| reads.lists.iter().find(|l| &l.name == p))
            .map(|p| {
                (0..p.items)
                    .map(|i| item_name(&p.name, i, p.items))
                    .collect()
            })
            .unwrap_or_default();
        Table::List {
            list: list.clone(),
            parents,
        }
    }

    /// The header row.
    pub fn header(&self) -> Vec<String> {
        match self {
            Table::View {
                dims,
                line_items,
                layout,
                ..
            } => {
                let mut h: Vec<String> = dims.iter().map(|d| d.name.clone()).collect();
                match layout {
                    ViewLayout::MultiColumn => h.extend(line_items.iter().map(|f| f.name.clone())),
                    ViewLayout::SingleColumn => {
                        h.push("Line Items".to_owned());
                        h.push("Value".to_owned());
                    }
                }
                h
            }
            Table::List { list, .. } => {
                let mut h = vec![String::new(), "Parent".to_owned()];
                if list.selective_access {
                    h.push("Write".to_owned());
                    h.push("Read".to_owned());
                }
                h.push("Code".to_owned());
                h.extend(list.subsets.iter().cloned());
                h.extend(list.properties.iter().map(|p| p.name.clone()));
                h
            }
        }
    }

    /// The leading columns that are text whatever they hold (dimensions; a list's name,
    /// parent, access and code columns).
    pub fn text_columns(&self) -> usize {
        match self {
            Table::View {
                dims,
                layout: ViewLayout::MultiColumn,
                ..
            } => dims.len(),
            Table::View { dims, .. } => dims.len() + 1,
            Table::List { list, .. } => {
                if list.selective_access {
                    5
                } else {
                    3
                }
            }
        }
    }

    /// Rows of the view (combinations of dimension items) or items of the list.
    pub fn rows(&self) -> u64 {
        match self {
            Table::View { dims, .. } => dims.iter().map(|d| d.items.len() as u64).product(),
            Table::List { list, .. } => list.items,
        }
    }

    /// Cells: rows × line items for a view, rows × columns for a list.
    pub fn cells(&self) -> u64 {
        match self {
            Table::View { line_items, .. } => self.rows() * line_items.len() as u64,
            Table::List { .. } => self.rows() * self.header().len() as u64,
        }
    }

    /// Records after the header.
    pub fn records(&self) -> u64 {
        match self {
            Table::View {
                line_items,
                layout: ViewLayout::SingleColumn,
                ..
            } => self.rows() * line_items.len() as u64,
            _ => self.rows(),
        }
    }

    /// Record `i` (0-based, after the header), as text.
    pub fn record(&self, i: u64) -> Vec<String> {
        match self {
            Table::View {
                dims,
                line_items,
                columns,
                seed,
                layout,
            } => {
                let (row, only) = match layout {
                    ViewLayout::MultiColumn => (i, None),
                    ViewLayout::SingleColumn => {
                        let n = line_items.len() as u64;
                        (i / n, Some((i % n) as usize))
                    }
                };
                let mut out = Vec::with_capacity(dims.len() + line_items.len());
                let mut rest = row;
                let mut items = vec![""; dims.len()];
                for (d, dim) in dims.iter().enumerate().rev() {
                    let n = dim.items.len() as u64;
                    items[d] = &dim.items[(rest % n) as usize];
                    rest /= n;
                }
                out.extend(items.into_iter().map(str::to_owned));
                match only {
                    None => {
                        for (k, f) in line_items.iter().enumerate() {
                            out.push(cell(*seed, row, columns[k] as u64, f.format));
                        }
                    }
                    Some(k) => {
                        out.push(line_items[k].name.clone());
                        out.push(cell(*seed, row, columns[k] as u64, line_items[k].format));
                    }
                }
                out
            }
            Table::List { list, parents } => {
                let mut out = vec![item_name(&list.name, i, list.items)];
                out.push(if parents.is_empty() {
                    String::new()
                } else {
                    parents[(i % parents.len() as u64) as usize].clone()
                });
                if list.selective_access {
                    let h = hash(list.seed, "access", "", i);
                    let user = |n: u64| format!("user{}@example.com", n % 7);
                    out.push(if h.is_multiple_of(3) {
                        String::new()
                    } else {
                        format!("{}, {}", user(h), user(h >> 8))
                    });
                    out.push(if h.is_multiple_of(2) {
                        user(h >> 16)
                    } else {
                        String::new()
                    });
                }
                out.push(format!("C{:06}", i + 1));
                for (s, _) in list.subsets.iter().enumerate() {
                    let h = hash(list.seed, "subset", "", i * 64 + s as u64);
                    out.push(if h.is_multiple_of(3) { "true" } else { "false" }.to_owned());
                }
                for (p, prop) in list.properties.iter().enumerate() {
                    out.push(cell(list.seed, i, 1000 + p as u64, prop.format));
                }
                out
            }
        }
    }

    /// Pages for `config`'s page size (at least one).
    pub fn page_count(&self, config: &ReadsConfig) -> u64 {
        self.records().div_ceil(config.rows_per_page).max(1)
    }

    /// The bytes of page `k`.
    pub fn page(&self, k: u64, config: &ReadsConfig) -> Bytes {
        let per = config.rows_per_page;
        let pages = self.page_count(config);
        let start = k * per;
        let end = (start + per).min(self.records());
        let mut out = Vec::new();
        if k == 0 || config.repeat_header {
            out.extend_from_slice(&csv_line(&self.header()));
        }
        let split = config.split_records && pages > 1;
        if split && k > 0 {
            // The rest of the previous page's last record.
            let line = csv_line(&self.record(start - 1));
            out.extend_from_slice(&line[line.len() / 2..]);
        }
        for i in start..end {
            let line = csv_line(&self.record(i));
            if split && i + 1 == end && k + 1 < pages {
                out.extend_from_slice(&line[..line.len() / 2]);
            } else {
                out.extend_from_slice(&line);
            }
        }
        Bytes::from(out)
    }

    /// The whole table as one CSV document (the transactional read's tabular answer).
    pub fn csv(&self, header: &[String]) -> Vec<u8> {
        let mut out = csv_line(header);
        for i in 0..self.records() {
            out.extend_from_slice(&csv_line(&self.record(i)));
        }
        out
    }
}

/// One cell of line item (or property) `column` in row `row`.
fn cell(seed: u64, row: u64, column: u64, format: CellFormat) -> String {
    let h = hash(
        seed,
        "cell",
        "",
        row.wrapping_mul(4096).wrapping_add(column),
    );
    match format {
        // The sum of two 2-decimal values prints as Anaplan prints raw doubles
        // (`62.25000000000001`).
        CellFormat::Number => {
            let a = (h % 100_000) as f64 / 100.0;
            let b = ((h >> 20) % 1000) as f64 / 100.0;
            format!("{}", a + b)
        }
        CellFormat::Integer => ((h % 20_000) as i64 - 5_000).to_string(),
        CellFormat::Boolean => if h.is_multiple_of(2) { "true" } else { "false" }.to_owned(),
        CellFormat::Text => {
            const TEXT: [&str; 8] = [
                "",
                "On track",
                "Review, urgent",
                "Say \"hi\"",
                "Ölpreis – ↑",
                "two\nlines",
                "plain",
                "42 units",
            ];
            TEXT[(h % TEXT.len() as u64) as usize].to_owned()
        }
        CellFormat::Date => {
            let base = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("a date");
            (base + chrono::Duration::days((h % 3650) as i64))
                .format("%Y-%m-%d")
                .to_string()
        }
    }
}

/// One CSV record with its line end; fields quoted only where needed.
pub(crate) fn csv_line(fields: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::super::config::default_model_reads;
    use super::*;

    #[test]
    fn pages_join_into_the_whole_document_in_every_mode() {
        let reads = default_model_reads(7);
        let table = Table::view(&reads, &reads.modules[1], &[], ViewLayout::MultiColumn);
        assert_eq!(table.rows(), 240);
        let whole = table.csv(&table.header());
        for (repeat, split) in [(false, false), (true, false), (false, true)] {
            let config = ReadsConfig {
                rows_per_page: 7,
                repeat_header: repeat,
                split_records: split,
                ..ReadsConfig::default()
            };
            let header = csv_line(&table.header());
            let mut joined = Vec::new();
            for k in 0..table.page_count(&config) {
                let page = table.page(k, &config);
                let body = if repeat && k > 0 {
                    assert!(page.starts_with(&header));
                    &page[header.len()..]
                } else {
                    &page[..]
                };
                joined.extend_from_slice(body);
            }
            assert_eq!(joined, whole, "repeat {repeat}, split {split}");
        }
    }

    #[test]
    fn records_in_both_layouts_agree() {
        let reads = default_model_reads(7);
        let m = &reads.modules[0];
        let tmc = Table::view(&reads, m, &[], ViewLayout::MultiColumn);
        let tsc = Table::view(&reads, m, &[], ViewLayout::SingleColumn);
        let saved = Table::view(&reads, m, &m.views[0].line_items, ViewLayout::MultiColumn);
        assert_eq!(tmc.rows(), 1000 * 20 * 12);
        assert_eq!(tmc.header()[..4], ["Products", "Regions", "Time", "Units"]);
        let r = tmc.record(12_345);
        assert_eq!(
            tsc.record(12_345 * 6 + 1)[3..],
            ["Price".to_owned(), r[4].clone()]
        );
        assert_eq!(saved.record(12_345)[3..], r[3..5]);
        let list = Table::list(&reads, &reads.lists[3]);
        assert_eq!(list.header()[..5], ["", "Parent", "Write", "Read", "Code"]);
        assert_eq!(list.text_columns(), 5);
    }
}
