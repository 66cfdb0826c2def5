//! The `talktrack` command line: check, decide, diff, fmt, test and seal bundles; serve them.
//!
//! A thin layer over the library: every command parses its arguments, calls one
//! library function and prints what it returns.

// `say!` and `say_raw!`: stdout writes that a closed pipe (`| head`) does not panic.
#[macro_use]
extern crate talktrack;

mod analyze;
mod check;
mod decide;
mod diagnostics;
mod diff;
mod fmt;
mod seal;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use talktrack::render;
use talktrack::Bundle;

/// `talktrack serve` allocates per request on its worker threads and frees some of it
/// on the decision log's writer thread: mimalloc keeps that off a shared lock (about
/// 8% more `/v1/decide` throughput and 30% more with the decision log on, see
/// `docs/serving.md`). The library itself leaves the allocator to its host.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "talktrack",
    version,
    about = "Decide the next talk track: learned policy ranks, compliance rules permit"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a bundle: manifest, rules, policy; prints every problem.
    Check {
        /// Bundle directory.
        bundle: PathBuf,
        /// Output format (`json`: one document on stdout, see docs/diagnostics.md).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Analyse the rule set: tracks no request allows, rules that never fire,
    /// requests on which every track is masked; each with a witness request or a proof.
    Analyze {
        /// Bundle directory, or a bundle template (no policy).
        bundle: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// An earlier report (`--format json`): fail only on warnings not in it.
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// Compare two bundles (or templates): settings, rules by id, and the union
    /// of their rule test cases run on both (tracks newly masked or allowed, mask
    /// outcome, and apart from these the chosen track).
    ///
    /// Exit code 0 whatever changed; 1 only when an input fails to load.
    Diff {
        /// The bundle or template before the change.
        old: PathBuf,
        /// The bundle or template after the change.
        new: PathBuf,
        /// Output format (`json`: one document on stdout, see docs/diagnostics.md).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also analyse every request valid for both sides: per track, whether the
        /// new rules allow it where the old ones forbade it (and the reverse),
        /// each with a witness request.
        #[arg(long)]
        analyze: bool,
    },
    /// Decide the next track for a request (JSON) and print the decision.
    Decide {
        /// Bundle directory.
        bundle: PathBuf,
        /// Request file (JSON); `-` reads standard input.
        #[arg(long)]
        request: PathBuf,
        /// Print a readable explanation instead of JSON.
        #[arg(long)]
        explain: bool,
        /// Also print the observation slot by slot (with the feature block that
        /// wrote it) and the policy's raw score for every track, before boosts.
        #[arg(long)]
        trace: bool,
    },
    /// Format rule files canonically (in place), or check that they are.
    Fmt {
        /// Rule files, bundle directories (the rule files their bundle.toml
        /// lists) or directories of `.rules` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
        /// Output format of `--check` (`json`: one document on stdout, see docs/diagnostics.md).
        #[arg(long, value_enum, default_value_t = Format::Human, requires = "check")]
        format: Format,
    },
    /// Run the rule test cases a bundle (or a template, without its policy) lists.
    Test {
        /// Bundle directory, or a template (no policy yet: expectations about
        /// `chosen` are skipped).
        bundle: PathBuf,
        /// Output format (`json`: one document on stdout, see docs/diagnostics.md).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also report what the cases exercise of the rules: per rule fired, did
        /// not fire, failed closed; per condition atom true and false.
        #[arg(long)]
        coverage: bool,
        /// Exit 1 when coverage is below this percentage (`covered × 100 <
        /// P × total`; 100 means every item); implies `--coverage`.
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(0..=100))]
        fail_under: Option<u32>,
    },
    /// Write the policy file's SHA-256 into bundle.toml (`policy.sha256`),
    /// leaving the rest of the file as it is, and print what changed.
    Seal {
        /// Bundle directory.
        bundle: PathBuf,
        /// Also sign the bundle's digest with this private key (from `talktrack
        /// keygen`) into `bundle.sig`.
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
    },
    /// Write a new ed25519 key pair for signing bundles: NAME.key (private,
    /// keep it secret) and NAME.pub (for `serve --verify-key`).
    Keygen {
        /// Path and name of the two files, without extension.
        name: PathBuf,
    },
    /// Serve decisions over HTTP (JSON under /v1); stops gracefully on SIGTERM.
    Serve(serve::ServeArgs),
    /// Promote a deployment file's challenger: it becomes the champion for every
    /// conversation and the challenger is removed (the rest of the file is kept).
    /// A server watching the file picks the change up.
    Promote {
        /// Deployment file (`deployment.toml`).
        deployment: PathBuf,
    },
}

/// How a command prints what it found.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For a person: diagnostics with the source lines they are about.
    Human,
    /// One JSON document on stdout, for CI and editors.
    Json,
}

pub(crate) fn load(dir: &Path) -> Result<Arc<Bundle>, ExitCode> {
    match Bundle::load(dir) {
        Ok(b) => {
            if !b.warnings().is_empty() {
                eprint!("{}", render(b.warnings()));
            }
            Ok(Arc::new(b))
        }
        Err(e) => {
            eprint!("{}", render(&e.problems));
            eprintln!("{e}");
            Err(ExitCode::FAILURE)
        }
    }
}

fn run(cli: Cli) -> Result<(), ExitCode> {
    match cli.cmd {
        Cmd::Analyze {
            bundle,
            format,
            baseline,
        } => analyze::analyze(&bundle, format, baseline.as_deref()),
        Cmd::Check { bundle, format } => check::check(&bundle, format),
        Cmd::Diff {
            old,
            new,
            format,
            analyze,
        } => diff::diff(&old, &new, format, analyze),
        Cmd::Decide {
            bundle,
            request,
            explain,
            trace,
        } => decide::decide(&bundle, &request, explain, trace),
        Cmd::Fmt {
            paths,
            check,
            format,
        } => fmt::fmt(&paths, check, format),
        Cmd::Keygen { name } => seal::keygen(&name),
        Cmd::Seal { bundle, sign_key } => seal::seal(&bundle, sign_key.as_deref()),
        Cmd::Serve(a) => serve::serve(a),
        Cmd::Promote { deployment } => serve::promote(&deployment),
        Cmd::Test {
            bundle,
            format,
            coverage,
            fail_under,
        } => check::test(&bundle, format, coverage, fail_under),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}
