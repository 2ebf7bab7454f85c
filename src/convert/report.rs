//! What inference decided, told two ways: one sentence per decision for people (the summary,
//! `--print-schema`), and the JSON written into the file's metadata
//! (`anaplan_parquet.inference`).

use super::schema::{ColumnStats, Layout, Origin, Plan};

/// The outcome of schema inference.
#[derive(Clone, Debug)]
pub struct Inference {
    /// The columns that would be written.
    pub plan: Plan,
    /// Inference decisions, one sentence each.
    pub decisions: Vec<String>,
    /// Data rows the decision was based on.
    pub sample_rows: u64,
}

/// What a plan was decided from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evidence<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// Statistics of every input column (meaningful for inferred ones).
    pub stats: &'a [ColumnStats],
    /// True when the plan came from an earlier pass: this pass's statistics say nothing.
    pub from_earlier_pass: bool,
    /// Data rows the statistics cover.
    pub sample_rows: u64,
    /// Data rows read in all.
    pub total_rows: u64,
    /// The layout the plan followed.
    pub layout: Layout,
}

impl Evidence<'_> {
    /// The decisions, one sentence each.
    pub(crate) fn decisions(&self) -> Vec<String> {
        let plan = self.plan;
        let mut out = Vec::new();
        if !self.from_earlier_pass {
            out.push(if self.sample_rows >= self.total_rows {
                format!("types inferred from all {} rows", self.total_rows)
            } else {
                format!("types inferred from the first {} rows", self.sample_rows)
            });
        }
        if let Layout::MultiColumn { .. } = self.layout {
            out.push(
                "layout Tabular Multiple Column, from the export's metadata: dimension columns kept as text, the type of each line-item column inferred (--layout overrides)"
                    .to_owned(),
            );
        }
        let dims: Vec<&str> = plan
            .columns
            .iter()
            .filter(|c| c.origin == Origin::Dimension)
            .map(|c| c.name.as_str())
            .collect();
        if !dims.is_empty() {
            out.push(format!("dimensions kept as text: {}", dims.join(", ")));
        }
        for (j, c) in plan.columns.iter().enumerate() {
            match c.origin {
                Origin::Override => out.push(format!("{}: {} (forced)", c.name, c.ty)),
                Origin::Inferred if !self.from_earlier_pass => out.push(format!(
                    "{}: {} ({})",
                    c.name,
                    c.ty,
                    self.stats[j].describe_mix()
                )),
                _ => {}
            }
        }
        if let Some((src, name)) = &plan.value_number {
            out.push(format!(
                "added {name} (float64): the numbers of {}, null where it holds text, booleans or dates",
                plan.columns[*src].name
            ));
        }
        out
    }

    /// The `anaplan_parquet.inference` metadata value.
    pub(crate) fn metadata_json(self) -> String {
        let columns: Vec<serde_json::Value> = self
            .plan
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let origin = match c.origin {
                    Origin::Dimension => "dimension",
                    Origin::Inferred => "inferred",
                    Origin::Override => "forced",
                };
                let mut v =
                    serde_json::json!({"name": c.name, "type": c.ty.name(), "origin": origin});
                if c.origin == Origin::Inferred && !self.from_earlier_pass {
                    v["values"] = serde_json::Value::String(self.stats[j].describe_mix());
                }
                v
            })
            .collect();
        serde_json::json!({
            "sample_rows": self.sample_rows,
            "columns": columns,
            "value_number": self.plan.value_number.as_ref().map(|(_, n)| n),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::schema::{ColumnType, PlannedColumn};

    fn plan() -> Plan {
        let column = |name: &str, ty, origin| PlannedColumn {
            name: name.to_owned(),
            ty,
            origin,
        };
        Plan {
            columns: vec![
                column("Versions", ColumnType::Utf8, Origin::Dimension),
                column("Time", ColumnType::Utf8, Origin::Dimension),
                column("Code", ColumnType::Int64, Origin::Override),
                column("Value", ColumnType::Utf8, Origin::Inferred),
            ],
            value_number: Some((3, "Value_number".to_owned())),
        }
    }

    fn stats() -> Vec<ColumnStats> {
        let none = ColumnStats::default();
        vec![none, none, none, ColumnStats::of(&["1", "2", "x", "true"])]
    }

    /// Evidence for [`plan`] and [`stats`] from a sample of 4 rows out of `total_rows`.
    fn evidence<'a>(plan: &'a Plan, stats: &'a [ColumnStats], total_rows: u64) -> Evidence<'a> {
        Evidence {
            plan,
            stats,
            from_earlier_pass: false,
            sample_rows: 4,
            total_rows,
            layout: Layout::Auto,
        }
    }

    #[test]
    fn decisions_name_every_choice() {
        let (plan, stats) = (plan(), stats());
        let evidence = evidence(&plan, &stats, 10);
        assert_eq!(
            evidence.decisions(),
            [
                "types inferred from the first 4 rows",
                "dimensions kept as text: Versions, Time",
                "Code: int64 (forced)",
                "Value: utf8 (2 numbers (50%), 1 text value (25%), 1 boolean (25%))",
                "added Value_number (float64): the numbers of Value, null where it holds text, booleans or dates",
            ]
        );
        let all = Evidence {
            sample_rows: 10,
            ..evidence
        };
        assert_eq!(all.decisions()[0], "types inferred from all 10 rows");
        // A plan from an earlier pass: nothing is claimed about this pass's sample.
        let earlier = Evidence {
            from_earlier_pass: true,
            ..evidence
        };
        let decisions = earlier.decisions();
        assert_eq!(decisions[0], "dimensions kept as text: Versions, Time");
        assert!(
            !decisions.iter().any(|d| d.starts_with("Value:")),
            "{decisions:?}"
        );
        // A layout taken from the export's metadata is said first.
        let multi = Evidence {
            layout: Layout::MultiColumn { dimensions: 2 },
            ..evidence
        };
        assert!(
            multi.decisions()[1]
                .starts_with("layout Tabular Multiple Column, from the export's metadata")
        );
    }

    #[test]
    fn metadata_json_lists_columns_and_their_origin() {
        let (plan, stats) = (plan(), stats());
        let evidence = evidence(&plan, &stats, 4);
        let json: serde_json::Value = serde_json::from_str(&evidence.metadata_json()).unwrap();
        assert_eq!(json["sample_rows"], 4);
        assert_eq!(json["value_number"], "Value_number");
        assert_eq!(json["columns"][0]["origin"], "dimension");
        assert_eq!(json["columns"][2]["origin"], "forced");
        assert_eq!(json["columns"][3]["type"], "utf8");
        assert_eq!(
            json["columns"][3]["values"],
            "2 numbers (50%), 1 text value (25%), 1 boolean (25%)"
        );
        let earlier = Evidence {
            from_earlier_pass: true,
            ..evidence
        };
        let json: serde_json::Value = serde_json::from_str(&earlier.metadata_json()).unwrap();
        assert!(json["columns"][3].get("values").is_none());
    }
}
