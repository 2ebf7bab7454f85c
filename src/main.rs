//! The `anaplan-parquet` binary: everything lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    anaplan_parquet::cli::main()
}
