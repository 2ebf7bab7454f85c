//! What the simulator serves for views and lists: each model's modules (dimensions, line items,
//! saved views) and lists (items, parents, properties, subsets), and how large-volume read
//! requests behave ([`ReadsConfig`]: page size, timing, limits, and one switch per open
//! question of the API notes).
//!
//! # TOML
//!
//! ```toml
//! [reads]
//! rows_per_page = 10000          # records per page
//! repeat_header = false          # pages after 0 start with the header line again
//! split_records = false          # a page may end inside a record (the rest opens the next page)
//! start_delay = "200ms"          # NOT_STARTED this long after the POST
//! page_interval = "50ms"         # one more page becomes available every interval
//! page_jitter = "0ms"            # a page download waits up to this long (pages finish out of order)
//! expiry = "30m"                 # inactivity before a request is reclaimed (404)
//! max_concurrent = 3             # live requests per workspace; the next POST gets 429
//! retry_after = "1s"             # the Retry-After of that 429
//! admin_only = false             # non-administrators get 404 on read requests (the docs' rule)
//! delete_finished_as_cancelled = false  # DELETE of a finished request answers CANCELLED
//! cell_limit = 1000000           # transactional view read: more cells answer 400
//! item_limit = 1000000           # transactional list read: more items answer 400
//!
//! [[workspaces.models.lists]]
//! name = "Products"
//! items = 500
//! parent = "Product Families"    # another list of the model
//! subsets = ["Favourites"]
//! selective_access = false       # adds the Write and Read columns
//! properties = [{ name = "Price", format = "NUMBER" }, { name = "Launch", format = "DATE" }]
//!
//! [[workspaces.models.modules]]
//! name = "REV01 Revenue"
//! dimensions = ["Products", "Time"]   # lists of the model, `Time`, or a name (generic items)
//! time_periods = 12
//! line_items = [{ name = "Units", format = "INTEGER" }, { name = "Price", format = "NUMBER" }]
//! views = [{ name = "Units only", line_items = ["Units"] }]
//! read_fail = false              # read requests end COMPLETE with successful:false
//! ```
//!
//! Line-item and property formats: `NUMBER` (raw doubles, `62.25000000000001`), `INTEGER`
//! (a number format with no decimals), `BOOLEAN`, `TEXT` (commas, quotes, blanks), `DATE`.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::units::parse_duration;

/// How read requests and the transactional reads behave; the switches answer the API notes'
/// open questions one way or the other.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadsConfig {
    /// Records (rows after the header) per page.
    pub rows_per_page: u64,
    /// Pages after 0 start with the header line again (each page is a CSV document of its own).
    pub repeat_header: bool,
    /// A page ends in the middle of its last record, whose rest opens the next page.
    pub split_records: bool,
    /// How long a new request stays NOT_STARTED.
    pub start_delay: Duration,
    /// One more page becomes available every interval once started (0: all at once).
    pub page_interval: Duration,
    /// A page download waits a hash-chosen time up to this long first.
    pub page_jitter: Duration,
    /// Inactivity after which a request is reclaimed; reset on create and on pages ≡ 0 mod 100.
    pub expiry: Duration,
    /// Live requests per workspace before a POST answers 429.
    pub max_concurrent: usize,
    /// `Retry-After` of that 429.
    pub retry_after: Duration,
    /// Only workspace administrators may use read requests (others get 404).
    pub admin_only: bool,
    /// A DELETE of a finished request answers `CANCELLED` (APIARY's example) instead of
    /// `COMPLETE` (PM's text).
    pub delete_finished_as_cancelled: bool,
    /// Cells above which the transactional view read answers 400.
    pub cell_limit: u64,
    /// Items above which the transactional list read answers 400.
    pub item_limit: u64,
}

impl Default for ReadsConfig {
    fn default() -> Self {
        ReadsConfig {
            rows_per_page: 10_000,
            repeat_header: false,
            split_records: false,
            start_delay: Duration::from_millis(200),
            page_interval: Duration::from_millis(50),
            page_jitter: Duration::ZERO,
            expiry: Duration::from_mins(30),
            max_concurrent: 3,
            retry_after: Duration::from_secs(1),
            admin_only: false,
            delete_finished_as_cancelled: false,
            cell_limit: 1_000_000,
            item_limit: 1_000_000,
        }
    }
}

/// The format of a line item or a list property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellFormat {
    /// Raw doubles.
    Number,
    /// Whole numbers (a number format with no decimals).
    Integer,
    /// `true` / `false`.
    Boolean,
    /// Text, some with commas or quotes, some blank.
    Text,
    /// ISO dates.
    Date,
}

impl CellFormat {
    /// The format as Anaplan names it in metadata (`INTEGER` is a `NUMBER` there).
    pub fn api_name(self) -> &'static str {
        match self {
            CellFormat::Number | CellFormat::Integer => "NUMBER",
            CellFormat::Boolean => "BOOLEAN",
            CellFormat::Text => "TEXT",
            CellFormat::Date => "DATE",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim().to_ascii_uppercase().as_str() {
            "NUMBER" => CellFormat::Number,
            "INTEGER" => CellFormat::Integer,
            "BOOLEAN" => CellFormat::Boolean,
            "TEXT" => CellFormat::Text,
            "DATE" => CellFormat::Date,
            other => {
                return Err(Error::usage(format!(
                    "format {other:?} is not NUMBER, INTEGER, BOOLEAN, TEXT or DATE"
                )));
            }
        })
    }
}

/// A named, formatted column: a line item or a list property.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Format.
    pub format: CellFormat,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, format: CellFormat) -> Self {
        Field {
            name: name.into(),
            format,
        }
    }
}

/// A saved view of a module: some of its line items.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SavedView {
    /// 13 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name (the API shows `<module>.<name>`).
    pub name: String,
    /// The line items it shows, by name (empty: all).
    pub line_items: Vec<String>,
}

/// A module: its dimensions (rows), line items (columns) and saved views.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleConfig {
    /// `102` + 9 digits; numbered within the model when `None`. Also its default view's id.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Row dimensions: names of lists of the model, `Time`, or other names (generic items).
    pub dimensions: Vec<String>,
    /// Months on the Time dimension.
    pub time_periods: u64,
    /// Items of a dimension that is neither a list of the model nor Time.
    pub generic_items: u64,
    /// Line items.
    pub line_items: Vec<Field>,
    /// Saved views.
    pub views: Vec<SavedView>,
    /// Read requests of its views end COMPLETE with `successful: false`.
    pub read_fail: bool,
    /// Seed of the values.
    pub seed: u64,
}

/// A list: items, their parents, codes, subsets and properties.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListConfig {
    /// `101` + 9 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Items (not counting the top-level item).
    pub items: u64,
    /// The parent list's name.
    pub parent: Option<String>,
    /// Subsets (a boolean column each).
    pub subsets: Vec<String>,
    /// Selective Access (adds the `Write` and `Read` columns).
    pub selective_access: bool,
    /// Properties.
    pub properties: Vec<Field>,
    /// Read requests of this list end COMPLETE with `successful: false`.
    pub read_fail: bool,
    /// Seed of the values.
    pub seed: u64,
}

impl ListConfig {
    /// A list of `items` generic items with no parent, subsets or properties.
    pub fn new(name: impl Into<String>, items: u64, seed: u64) -> Self {
        ListConfig {
            id: None,
            name: name.into(),
            items,
            parent: None,
            subsets: Vec::new(),
            selective_access: false,
            properties: Vec::new(),
            read_fail: false,
            seed,
        }
    }
}

/// A model's modules and lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModelReads {
    /// Modules.
    pub modules: Vec<ModuleConfig>,
    /// Lists.
    pub lists: Vec<ListConfig>,
}

impl ModelReads {
    /// Fills in missing ids (modules `102…`, saved views `1012…` (13 digits), lists `101…`)
    /// and checks names.
    pub(crate) fn resolve(&mut self) -> Result<()> {
        let mut next_view = 0u64;
        for (i, m) in self.modules.iter_mut().enumerate() {
            if m.id.is_none() {
                m.id = Some(format!("102{i:09}"));
            }
            for v in &mut m.views {
                if v.id.is_none() {
                    v.id = Some(format!("1012{next_view:09}"));
                    next_view += 1;
                }
                for li in &v.line_items {
                    if !m.line_items.iter().any(|f| &f.name == li) {
                        return Err(Error::usage(format!(
                            "view {:?} of module {:?}: no line item {li:?}",
                            v.name, m.name
                        )));
                    }
                }
            }
            if m.line_items.is_empty() {
                return Err(Error::usage(format!(
                    "module {:?} has no line items",
                    m.name
                )));
            }
        }
        for (i, l) in self.lists.iter_mut().enumerate() {
            if l.id.is_none() {
                l.id = Some(format!("101{i:09}"));
            }
        }
        for l in &self.lists {
            if let Some(p) = &l.parent
                && !self.lists.iter().any(|x| &x.name == p)
            {
                return Err(Error::usage(format!(
                    "list {:?}: parent {p:?} is not a list of the model",
                    l.name
                )));
            }
        }
        Ok(())
    }
}

impl ReadsConfig {
    /// Checks the combination.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.rows_per_page == 0 {
            return Err(Error::usage("reads.rows_per_page must be at least 1"));
        }
        if self.repeat_header && self.split_records {
            return Err(Error::usage(
                "reads.repeat_header and reads.split_records exclude each other",
            ));
        }
        Ok(())
    }
}

/// The default tenant's modules and lists (model FP&A): `REV01 Revenue`, a view of
/// 1,000 products × 20 regions × 12 months (240,000 rows × 6 line items of mixed formats,
/// 1.44 million cells: too many for the transactional read), its saved view `Units and
/// price`, `REV02 Price Book` (20 regions × 12 months, 4 line items: small), and the lists
/// `Regions`, `Product Families`, `Products` (parent, subset, properties) and `Employees`
/// (properties of every format, Selective Access).
pub fn default_model_reads(seed: u64) -> ModelReads {
    let derive = |n: u64| seed.wrapping_mul(0xA24B_AED4_963E_E407).wrapping_add(n);
    let revenue = ModuleConfig {
        id: None,
        name: "REV01 Revenue".into(),
        dimensions: vec!["Products".into(), "Regions".into(), "Time".into()],
        time_periods: 12,
        generic_items: 10,
        line_items: vec![
            Field::new("Units", CellFormat::Integer),
            Field::new("Price", CellFormat::Number),
            Field::new("Revenue", CellFormat::Number),
            Field::new("Promoted", CellFormat::Boolean),
            Field::new("Comment", CellFormat::Text),
            Field::new("Ship Date", CellFormat::Date),
        ],
        views: vec![SavedView {
            id: None,
            name: "Units and price".into(),
            line_items: vec!["Units".into(), "Price".into()],
        }],
        read_fail: false,
        seed: derive(1),
    };
    let price_book = ModuleConfig {
        id: None,
        name: "REV02 Price Book".into(),
        dimensions: vec!["Regions".into(), "Time".into()],
        time_periods: 12,
        generic_items: 10,
        line_items: vec![
            Field::new("List Price", CellFormat::Number),
            Field::new("Discount %", CellFormat::Integer),
            Field::new("Active", CellFormat::Boolean),
            Field::new("Owner", CellFormat::Text),
        ],
        views: Vec::new(),
        read_fail: false,
        seed: derive(2),
    };
    let products = ListConfig {
        parent: Some("Product Families".into()),
        subsets: vec!["Favourites".into()],
        properties: vec![
            Field::new("Pack Size", CellFormat::Integer),
            Field::new("Unit Cost", CellFormat::Number),
            Field::new("Launch", CellFormat::Date),
        ],
        ..ListConfig::new("Products", 1000, derive(3))
    };
    let employees = ListConfig {
        selective_access: true,
        properties: vec![
            Field::new("Grade", CellFormat::Integer),
            Field::new("Salary", CellFormat::Number),
            Field::new("Remote", CellFormat::Boolean),
            Field::new("Title", CellFormat::Text),
            Field::new("Start Date", CellFormat::Date),
        ],
        ..ListConfig::new("Employees", 2500, derive(4))
    };
    let mut reads = ModelReads {
        modules: vec![revenue, price_book],
        lists: vec![
            ListConfig::new("Regions", 20, derive(5)),
            ListConfig::new("Product Families", 25, derive(6)),
            products,
            employees,
        ],
    };
    reads
        .resolve()
        .expect("the default tenant's modules and lists are valid");
    reads
}

// ---- TOML shapes ----

/// `[reads]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReads {
    rows_per_page: Option<u64>,
    repeat_header: Option<bool>,
    split_records: Option<bool>,
    start_delay: Option<String>,
    page_interval: Option<String>,
    page_jitter: Option<String>,
    expiry: Option<String>,
    max_concurrent: Option<usize>,
    retry_after: Option<String>,
    admin_only: Option<bool>,
    delete_finished_as_cancelled: Option<bool>,
    cell_limit: Option<u64>,
    item_limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawView {
    id: Option<String>,
    name: String,
    #[serde(default)]
    line_items: Vec<String>,
}

/// `[[workspaces.models.modules]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModule {
    id: Option<String>,
    name: String,
    #[serde(default)]
    dimensions: Vec<String>,
    time_periods: Option<u64>,
    generic_items: Option<u64>,
    line_items: Vec<RawField>,
    #[serde(default)]
    views: Vec<RawView>,
    #[serde(default)]
    read_fail: bool,
    seed: Option<u64>,
}

/// `[[workspaces.models.lists]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawList {
    id: Option<String>,
    name: String,
    items: Option<u64>,
    parent: Option<String>,
    #[serde(default)]
    subsets: Vec<String>,
    #[serde(default)]
    selective_access: bool,
    #[serde(default)]
    properties: Vec<RawField>,
    #[serde(default)]
    read_fail: bool,
    seed: Option<u64>,
}

fn fields(raw: Vec<RawField>, whose: &str) -> Result<Vec<Field>> {
    raw.into_iter()
        .map(|f| {
            let format =
                CellFormat::parse(&f.format).map_err(|e| Error::usage(format!("{whose}: {e}")))?;
            Ok(Field::new(f.name, format))
        })
        .collect()
}

fn duration(text: Option<&String>, what: &str, default: Duration) -> Result<Duration> {
    match text {
        None => Ok(default),
        Some(t) => parse_duration(t).map_err(|e| Error::usage(format!("reads.{what}: {e}"))),
    }
}

impl RawReads {
    /// The behaviour, defaults where the table says nothing.
    pub(crate) fn into_config(self) -> Result<ReadsConfig> {
        let d = ReadsConfig::default();
        let config = ReadsConfig {
            rows_per_page: self.rows_per_page.unwrap_or(d.rows_per_page),
            repeat_header: self.repeat_header.unwrap_or(d.repeat_header),
            split_records: self.split_records.unwrap_or(d.split_records),
            start_delay: duration(self.start_delay.as_ref(), "start_delay", d.start_delay)?,
            page_interval: duration(
                self.page_interval.as_ref(),
                "page_interval",
                d.page_interval,
            )?,
            page_jitter: duration(self.page_jitter.as_ref(), "page_jitter", d.page_jitter)?,
            expiry: duration(self.expiry.as_ref(), "expiry", d.expiry)?,
            max_concurrent: self.max_concurrent.unwrap_or(d.max_concurrent),
            retry_after: duration(self.retry_after.as_ref(), "retry_after", d.retry_after)?,
            admin_only: self.admin_only.unwrap_or(d.admin_only),
            delete_finished_as_cancelled: self
                .delete_finished_as_cancelled
                .unwrap_or(d.delete_finished_as_cancelled),
            cell_limit: self.cell_limit.unwrap_or(d.cell_limit),
            item_limit: self.item_limit.unwrap_or(d.item_limit),
        };
        config.validate()?;
        Ok(config)
    }
}

/// A model's `modules` and `lists` tables; `seed` derives the seeds not given.
pub(crate) fn model_reads(
    modules: Vec<RawModule>,
    lists: Vec<RawList>,
    seed: u64,
) -> Result<ModelReads> {
    let derive = |n: u64| seed.wrapping_mul(0xA24B_AED4_963E_E407).wrapping_add(n);
    let mut reads = ModelReads::default();
    for (i, m) in modules.into_iter().enumerate() {
        let whose = format!("module {:?}", m.name);
        reads.modules.push(ModuleConfig {
            id: m.id,
            dimensions: m.dimensions,
            time_periods: m.time_periods.unwrap_or(12),
            generic_items: m.generic_items.unwrap_or(10),
            line_items: fields(m.line_items, &whose)?,
            views: m
                .views
                .into_iter()
                .map(|v| SavedView {
                    id: v.id,
                    name: v.name,
                    line_items: v.line_items,
                })
                .collect(),
            read_fail: m.read_fail,
            seed: m.seed.unwrap_or(derive(i as u64)),
            name: m.name,
        });
    }
    for (i, l) in lists.into_iter().enumerate() {
        let whose = format!("list {:?}", l.name);
        reads.lists.push(ListConfig {
            id: l.id,
            items: l.items.unwrap_or(100),
            parent: l.parent,
            subsets: l.subsets,
            selective_access: l.selective_access,
            properties: fields(l.properties, &whose)?,
            read_fail: l.read_fail,
            seed: l.seed.unwrap_or(derive(1000 + i as u64)),
            name: l.name,
        });
    }
    reads.resolve()?;
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tenant_resolves_ids() {
        let r = default_model_reads(42);
        assert_eq!(r.modules[0].id.as_deref(), Some("102000000000"));
        assert_eq!(r.modules[0].views[0].id.as_deref(), Some("1012000000000"));
        assert_eq!(r.lists[2].id.as_deref(), Some("101000000002"));
    }

    #[test]
    fn the_documented_toml_reads() {
        let text = r#"
seed = 3
[reads]
rows_per_page = 500
repeat_header = true
page_jitter = "20ms"
admin_only = true
max_concurrent = 1

[[workspaces]]
name = "W"

[[workspaces.models]]
name = "M"

[[workspaces.models.lists]]
name = "Product Families"
items = 5

[[workspaces.models.lists]]
name = "Products"
items = 500
parent = "Product Families"
subsets = ["Favourites"]
selective_access = true
properties = [{ name = "Price", format = "NUMBER" }, { name = "Launch", format = "DATE" }]

[[workspaces.models.modules]]
name = "REV01 Revenue"
dimensions = ["Products", "Time"]
time_periods = 24
line_items = [{ name = "Units", format = "INTEGER" }, { name = "Price", format = "NUMBER" }]
views = [{ name = "Units only", line_items = ["Units"] }]
read_fail = true
"#;
        let c = crate::simulator::SimulatorConfig::from_toml_str(text, std::path::Path::new("."))
            .unwrap();
        assert_eq!(c.reads.rows_per_page, 500);
        assert!(c.reads.repeat_header && c.reads.admin_only);
        assert_eq!(c.reads.page_jitter, Duration::from_millis(20));
        assert_eq!(c.reads.max_concurrent, 1);
        let r = &c.workspaces[0].models[0].reads;
        assert_eq!(r.lists[1].parent.as_deref(), Some("Product Families"));
        assert_eq!(r.lists[1].properties[1].format, CellFormat::Date);
        assert!(r.lists[1].selective_access);
        let m = &r.modules[0];
        assert_eq!((m.time_periods, m.read_fail), (24, true));
        assert_eq!(m.views[0].id.as_deref(), Some("1012000000000"));
        // A view of a line item the module does not have, a parent that is no list.
        for bad in [
            text.replace("line_items = [\"Units\"]", "line_items = [\"Nope\"]"),
            text.replace("parent = \"Product Families\"", "parent = \"Nope\""),
            text.replace("format = \"DATE\"", "format = \"MONEY\""),
        ] {
            assert!(
                crate::simulator::SimulatorConfig::from_toml_str(&bad, std::path::Path::new("."))
                    .is_err()
            );
        }
    }

    #[test]
    fn bad_tables_are_usage_errors() {
        let raw: RawReads = toml::from_str("repeat_header = true\nsplit_records = true").unwrap();
        assert!(matches!(raw.into_config(), Err(Error::Usage(_))));
        let raw: RawReads = toml::from_str("expiry = \"soon\"").unwrap();
        assert!(raw.into_config().is_err());
        assert!(CellFormat::parse("MONEY").is_err());
    }
}
