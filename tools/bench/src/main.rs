//! `whippet-bench`: see `whippet-bench --help` and the crate docs.

use std::process::ExitCode;

use clap::Parser;
use whippet_bench::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    match whippet_bench::run(&args) {
        Ok(report) => {
            print!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("whippet-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
