//! `cargo xtask ci`: the one command that CI runs and that developers run before a commit:
//! formatting, clippy, the cargo tests, then the interop suite (real clients, real server).

use crate::util::{cargo, run};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip `cargo fmt --check` and clippy (tests only).
    #[arg(long)]
    pub tests_only: bool,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    if !args.tests_only {
        run(cargo().args(["fmt", "--all", "--", "--check"]))?;
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    run(cargo().args(["test", "--workspace", "--locked"]))?;
    crate::interop::main(crate::interop::Args::default())?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
