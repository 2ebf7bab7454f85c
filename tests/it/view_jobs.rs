//! Jobs files with `view =` and `list =` datasets, through the real binary against the
//! simulator: an export, a view and a list in one round, each output read back and compared
//! value by value with the simulator's content, the read requests deleted, the manifests
//! naming the view and the list; `run --check` naming an unknown view with its candidates and
//! refusing a dataset with two of `export`, `view` and `list`.

use std::sync::Arc;

use anaplan_parquet::simulator::reads::ViewLayout;

use crate::jobs::{bin, jobs_file, served_sha256};
use crate::support::Table;
use crate::views::{assert_all_deleted, assert_matches, kv, start};

const REVENUE_EXPORT: &str = "Revenue - TSC.csv";
const PRICE_BOOK: &str = "REV02 Price Book";
const SAVED: &str = "REV01 Revenue.Units and price";
const EMPLOYEES: &str = "Employees";

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_reads_an_export_a_view_and_a_list() {
    let sim = Arc::new(start().await);
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("out");
    std::fs::create_dir(&o).unwrap();
    let datasets = format!(
        "[[dataset]]\nname = \"revenue\"\nexport = \"{REVENUE_EXPORT}\"\noutput = \"{o}/revenue.parquet\"\n\n\
         [[dataset]]\nname = \"prices\"\nview = \"{PRICE_BOOK}\"\nread_mode = \"large\"\nconcurrency = 4\noutput = \"{o}/prices.parquet\"\n\n\
         [[dataset]]\nname = \"units\"\nview = \"{SAVED}\"\nlayout = \"single-column\"\noutput = \"{o}/units.parquet\"\n\n\
         [[dataset]]\nname = \"staff\"\nlist = \"{EMPLOYEES}\"\noutput = \"{o}/staff\"\nmode = \"append\"\n",
        o = o.display()
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);
    let (j, o2) = (jobs.clone(), o.clone());
    let (check, run) = tokio::task::spawn_blocking(move || {
        let check = bin()
            .arg("run")
            .arg(&j)
            .args(["--check", "--json"])
            .assert()
            .code(0);
        let run = bin().arg("run").arg(&j).arg("--json").assert().code(0);
        let _ = o2;
        (check.get_output().clone(), run.get_output().clone())
    })
    .await
    .unwrap();

    // --check resolved every name, the view and the list by kind.
    let checked: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["datasets"][0]["export"]["name"], REVENUE_EXPORT);
    assert_eq!(checked["datasets"][1]["view"]["name"], PRICE_BOOK);
    assert!(checked["datasets"][1].get("export").unwrap().is_null());
    assert_eq!(checked["datasets"][3]["list"]["name"], EMPLOYEES);

    let round: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for (i, name) in ["revenue", "prices", "units", "staff"].iter().enumerate() {
        let d = &round["datasets"][i];
        assert_eq!(d["name"], *name);
        assert_eq!(d["status"], "ok", "{d}");
    }
    assert_eq!(round["datasets"][1]["view"]["name"], PRICE_BOOK);
    assert!(round["datasets"][1]["read_request_id"].is_string());
    assert_eq!(round["datasets"][3]["list"]["name"], EMPLOYEES);

    // The export: its manifest hashes what the simulator served.
    let m = json(&o.join("revenue.parquet.manifest.json"));
    assert_eq!(m["export"]["name"], REVENUE_EXPORT);
    assert_eq!(
        m["content_sha256"],
        served_sha256(&sim, REVENUE_EXPORT).as_str()
    );
    assert_eq!(
        Table::read(&o.join("revenue.parquet")).num_rows() as u64,
        m["rows"].as_u64().unwrap()
    );

    // The view, value by value; its manifest names the view and the (deleted) request.
    let table = Table::read(&o.join("prices.parquet"));
    assert_matches(
        &table.batches,
        &sim.view_table(PRICE_BOOK, ViewLayout::MultiColumn).unwrap(),
    );
    let m = json(&o.join("prices.parquet.manifest.json"));
    assert_eq!(m["view"]["name"], PRICE_BOOK);
    assert_eq!(m["view"]["id"], kv(&table, "anaplan.view.id"));
    assert!(
        m.get("export").is_none() && m.get("content_sha256").is_none(),
        "{m}"
    );
    assert_eq!(
        m["read_request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{m}")),
        kv(&table, "anaplan.read.request_id")
    );
    assert_eq!(m["rows"], table.num_rows() as u64);

    // The saved view in the single-column layout, as the `layout` key asked.
    let table = Table::read(&o.join("units.parquet"));
    assert_eq!(kv(&table, "anaplan.read.layout"), "TABULAR_SINGLE_COLUMN");
    assert_matches(
        &table.batches,
        &sim.view_table("Units and price", ViewLayout::SingleColumn)
            .unwrap(),
    );

    // The list, appended as a part in its prefix, with its manifest.
    let parts: Vec<_> = std::fs::read_dir(o.join("staff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    let table = Table::read(&parts[0]);
    assert_matches(&table.batches, &sim.list_table(EMPLOYEES).unwrap());
    let m = json(&o.join("staff").join("_manifest.json"));
    assert_eq!(m["list"]["name"], EMPLOYEES);
    assert_eq!(m["mode"], "append");

    // Three read requests, every one deleted.
    assert_all_deleted(&sim, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_an_unknown_view_and_refuses_two_sources() {
    let sim = Arc::new(start().await);
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().display().to_string();
    let wrong = jobs_file(
        dir.path(),
        &sim,
        &format!(
            "[[dataset]]\nname = \"prices\"\nview = \"REV02 Price Bok\"\noutput = \"{o}/p.parquet\"\n\n\
             [[dataset]]\nname = \"staff\"\nlist = \"Employees\"\noutput = \"{o}/s.parquet\"\n"
        ),
    );
    let stderr = tokio::task::spawn_blocking(move || {
        let checked = bin().arg("run").arg(&wrong).arg("--check").assert().code(2);
        String::from_utf8_lossy(&checked.get_output().stderr).to_string()
    })
    .await
    .unwrap();
    assert!(stderr.contains("prices"), "{stderr}");
    assert!(stderr.contains("REV02 Price Bok"), "{stderr}");
    // The candidates are listed, as for exports.
    assert!(
        stderr.contains("\"REV02 Price Book\" (102000000001)"),
        "{stderr}"
    );
    assert!(!stderr.contains("staff:"), "{stderr}");

    let two = dir.path().join("two.toml");
    let text = std::fs::read_to_string(dir.path().join("jobs.toml"))
        .unwrap()
        .split("[[dataset]]")
        .next()
        .unwrap()
        .to_owned()
        + &format!(
            "[[dataset]]\nname = \"both\"\nexport = \"Revenue - TSC.csv\"\nview = \"{PRICE_BOOK}\"\noutput = \"{o}/b.parquet\"\n\n\
             [[dataset]]\nname = \"moded\"\nexport = \"Revenue - TSC.csv\"\nread_mode = \"large\"\noutput = \"{o}/m.parquet\"\n\n\
             [[dataset]]\nname = \"badmode\"\nlist = \"Employees\"\nread_mode = \"huge\"\noutput = \"{o}/x.parquet\"\n"
        );
    std::fs::write(&two, text).unwrap();
    let stderr = tokio::task::spawn_blocking(move || {
        let checked = bin().arg("run").arg(&two).arg("--check").assert().code(2);
        String::from_utf8_lossy(&checked.get_output().stderr).to_string()
    })
    .await
    .unwrap();
    for words in [
        "both: give exactly one of `export`, `view` and `list`, not `export` and `view`",
        "moded: `read_mode`: applies to a `view` or `list` dataset only",
        "badmode: `read_mode`: \"huge\" is not large, direct or auto",
    ] {
        assert!(stderr.contains(words), "{words}: {stderr}");
    }
    // Nothing was read.
    assert!(sim.read_requests().is_empty());
}
