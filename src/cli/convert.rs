//! `anaplan-parquet convert INPUT --output DEST`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use super::display::{Display, print_summary, schema_table};
use super::engine_args::EngineArgs;
use super::output_args::OutputArgs;
use crate::convert::{self, RunContext};
use crate::error::{Error, Result};
use crate::sink::Destination;
use crate::source::{FileSource, Source, StdinSource};

/// Arguments of `convert`.
#[derive(Debug, Args)]
#[command(after_long_help = CONVERT_HELP)]
pub(crate) struct ConvertArgs {
    /// CSV file to read, or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    /// Print the schema that would be written, and exit without writing.
    #[arg(long)]
    pub print_schema: bool,

    /// Print the run summary (or the schema) as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// CSV, schema and Parquet options.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Destination options.
    #[command(flatten)]
    pub output: OutputArgs,
}

const CONVERT_HELP: &str = "\
Types: in the default single-column layout every column but the last is an Anaplan dimension
and stays text (007 stays 007, 2024-01 and FY24Q1 stay text). The last column is inferred from
the first --infer-rows rows: boolean, int64, float64, date, timestamp, else utf8. When it holds
numbers mixed with text, booleans or dates (line items of different formats), it stays text,
exactly as exported, and a Value_number column (float64, null where not numeric) is added.

Blanks: an empty field, quoted or not, is null.

The output file appears only when complete: it is written beside DEST under a temporary name
and renamed at the end. On any error nothing is written and an existing DEST is untouched.
A symlink DEST is followed (its target replaced, the link kept); a character device or FIFO is
written directly (-o /dev/null); a directory, socket or block device is refused (exit 6), and
so is an output that is the input file, however it is spelled or linked (exit 2).

Exit codes: 0 ok, 2 usage, 5 bad input data, 6 destination error, 8 local temporary files,
130/143 interrupted.";

/// Runs `convert`.
pub(crate) async fn run(args: ConvertArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = args.engine.to_options()?;
    let source: Box<dyn Source> = if args.input == "-" {
        Box::new(StdinSource)
    } else {
        let path = Path::new(&args.input);
        if !path.exists() {
            return Err(Error::usage(format!(
                "input {} does not exist",
                path.display()
            )));
        }
        Box::new(FileSource::new(path))
    };
    let run = RunContext::default();
    run.shutdown.listen_for_signals();

    if args.print_schema {
        let inference = convert::infer(source.as_ref(), &options, &run).await?;
        let columns = inference.plan.describe();
        if args.json {
            let cols: Vec<serde_json::Value> = columns
                .iter()
                .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"columns": cols, "decisions": inference.decisions})
            );
        } else {
            print!("{}", schema_table(&columns));
            if !global.quiet {
                for d in &inference.decisions {
                    crate::logging::print_error(d);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let destination =
        Destination::from_options(&args.output.to_options()?)?.with_progress(run.progress.clone());
    let display = Display::start(&run.progress, global);
    display.transfer_started(None);
    let result = convert::convert(source.as_ref(), &destination, &options, &run).await;
    display.finish();
    let summary = result?;
    print_summary(&summary, args.json, global);
    Ok(ExitCode::SUCCESS)
}
