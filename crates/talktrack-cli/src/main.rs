//! The `talktrack` command line: check, decide, fmt, test and seal bundles; serve them.
//!
//! A thin layer over the library: every command parses its arguments, calls one
//! library function and prints what it returns.

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Writes to stdout without a newline, ignoring a closed pipe.
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use talktrack::render;
use talktrack::tooling::escape_controls;
use talktrack::Bundle;
use talktrack::{Engine, Request, MAX_REQUEST_BYTES};

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
    },
    /// Run the rule test cases a bundle lists.
    Test {
        /// Bundle directory.
        bundle: PathBuf,
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
    Serve(ServeArgs),
    /// Promote a deployment file's challenger: it becomes the champion for every
    /// conversation and the challenger is removed (the rest of the file is kept).
    /// A server watching the file picks the change up.
    Promote {
        /// Deployment file (`deployment.toml`).
        deployment: PathBuf,
    },
}

/// How `analyze` prints its report.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// For a person: findings with their place and witness requests.
    Human,
    /// One JSON document.
    Json,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Bundle directory, or a `current` symlink to one: deployment `default`,
    /// served at /v1/decide.
    #[arg(long, required_unless_present = "deployment")]
    bundle: Option<PathBuf>,
    /// Deployment file naming a deployment, its champion bundle and optionally a
    /// challenger (split or shadow); served at /v1/{name}/decide (repeatable).
    #[arg(long)]
    deployment: Vec<PathBuf>,
    /// Reload the bundle when it changes on disk.
    #[arg(long)]
    watch: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8181")]
    addr: std::net::SocketAddr,
    /// Serve only bundles signed by this public key (from `talktrack keygen`);
    /// repeatable, for key rotation.
    #[arg(long, value_name = "KEY")]
    verify_key: Vec<PathBuf>,
    /// Append every decision and outcome to this JSONL file.
    #[arg(long)]
    decision_log: Option<PathBuf>,
    /// Rotate the decision log past this many MiB.
    #[arg(long, default_value_t = 64)]
    decision_log_mib: u64,
    /// How protected attributes are logged: intervals, raw or omit; `ATTR=MODE`
    /// sets one attribute (repeatable).
    #[arg(long = "log-protected", value_name = "MODE|ATTR=MODE")]
    log_protected: Vec<String>,
    /// File holding the bearer token the admin endpoints require (needed when not on loopback).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Most requests in one batch.
    #[arg(long, default_value_t = 1000)]
    batch_limit: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    body_limit: usize,
}

fn serve(a: ServeArgs) -> Result<(), ExitCode> {
    let mut cfg = talktrack_serve::Config::deployments(a.deployment);
    cfg.bundle = a.bundle;
    cfg.verify_keys = a.verify_key;
    cfg.addr = a.addr;
    cfg.watch = a.watch;
    cfg.admin_token_file = a.admin_token_file;
    cfg.batch_limit = a.batch_limit;
    cfg.body_limit = a.body_limit;
    if let Some(path) = a.decision_log {
        let mut lc = talktrack_serve::LogConfig::new(path);
        lc.max_bytes = a.decision_log_mib.saturating_mul(1 << 20);
        for p in &a.log_protected {
            let parsed = match p.split_once('=') {
                Some((attr, mode)) => mode.parse().map(|m| {
                    lc.per_attribute.insert(attr.to_owned(), m);
                }),
                None => p.parse().map(|m| lc.protected = m),
            };
            if let Err(e) = parsed {
                eprintln!("error: --log-protected: {e}");
                return Err(ExitCode::FAILURE);
            }
        }
        cfg.decision_log = Some(lc);
    } else if !a.log_protected.is_empty() {
        eprintln!("error: --log-protected needs --decision-log");
        return Err(ExitCode::FAILURE);
    }
    talktrack_serve::run(cfg).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

fn keygen(name: &Path) -> Result<(), ExitCode> {
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        eprintln!("error: no randomness for a new key: {e}");
        return Err(ExitCode::FAILURE);
    }
    let key = talktrack::tooling::SignKey::from_seed(seed);
    let private = name.with_extension("key");
    let public = name.with_extension("pub");
    for p in [&private, &public] {
        if p.exists() {
            eprintln!("error: `{}` exists; not overwriting a key", p.display());
            return Err(ExitCode::FAILURE);
        }
    }
    let write = |p: &Path, text: String, secret: bool| -> std::io::Result<()> {
        use std::io::Write as _;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        o.open(p)?.write_all(text.as_bytes())
    };
    let vk = key.verify_key();
    write(&private, key.to_file_text(), true)
        .and_then(|()| write(&public, vk.to_file_text(), false))
        .map_err(|e| {
            eprintln!("error: cannot write the key: {e}");
            ExitCode::FAILURE
        })?;
    say!(
        "wrote `{}` (private: keep it secret) and `{}` (public key {})",
        private.display(),
        public.display(),
        vk.to_hex()
    );
    Ok(())
}

fn seal(bundle: &Path, sign_key: Option<&Path>) -> Result<(), ExitCode> {
    match talktrack::tooling::seal(bundle) {
        Err(e) => {
            eprint!("{}", render(&e.problems));
            eprintln!("error: `{}` was not sealed", bundle.display());
            Err(ExitCode::FAILURE)
        }
        Ok(s) if s.unchanged() => {
            say!(
                "unchanged: `{}` has SHA-256 {}, as bundle.toml says",
                s.policy.display(),
                s.after
            );
            Ok(())
        }
        Ok(s) => {
            let before = if s.before.is_empty() {
                "unset".to_owned()
            } else {
                s.before
            };
            say!(
                "sealed: bundle.toml `policy.sha256` = {} (was {before}), the SHA-256 of `{}`",
                s.after,
                s.policy.display()
            );
            Ok(())
        }
    }?;
    let Some(path) = sign_key else {
        return Ok(());
    };
    let key = talktrack::tooling::SignKey::read(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    match talktrack::tooling::sign(bundle, &key) {
        Ok(s) => {
            say!(
                "signed: `{}` signs digest {} with key {}",
                s.file.display(),
                s.digest,
                s.key
            );
            Ok(())
        }
        Err(e) => {
            eprint!("{}", render(&e.problems));
            eprintln!("error: `{}` was not signed", bundle.display());
            Err(ExitCode::FAILURE)
        }
    }
}

/// `talktrack analyze`: a bundle, else a template; fails on warnings.
fn analyze(dir: &Path, format: Format, baseline: Option<&Path>) -> Result<(), ExitCode> {
    let options = talktrack_analyze::Options::default();
    let baseline = match baseline {
        None => Default::default(),
        Some(p) => talktrack::tooling::read_text(p, p)
            .map_err(|e| e.message.clone())
            .and_then(|t| talktrack_analyze::Report::baseline_keys(&t))
            .map_err(|e| {
                eprintln!(
                    "error: baseline `{}`: {}",
                    escape_controls(&p.to_string_lossy()),
                    escape_controls(&e)
                );
                ExitCode::FAILURE
            })?,
    };
    let report = match Bundle::load(dir) {
        Ok(b) => talktrack_analyze::analyze_bundle(Arc::new(b), &options),
        Err(_) => match talktrack::tooling::BundleTemplate::load(dir) {
            Ok(t) => talktrack_analyze::analyze_template(&t, &options),
            Err(e) => {
                eprint!("{}", render(&e.problems));
                eprintln!("{e}");
                return Err(ExitCode::FAILURE);
            }
        },
    };
    match format {
        Format::Human => say_raw!("{}", talktrack_analyze::render_report(&report)),
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    if report.failing(&baseline).next().is_some() {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}

fn load(dir: &Path) -> Result<Arc<Bundle>, ExitCode> {
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
        } => analyze(&bundle, format, baseline.as_deref()),
        Cmd::Check { bundle } => {
            let b = load(&bundle)?;
            // The rule set's analysis, as warnings and notes.
            // A smaller total budget than `analyze`: `check` stays quick on large rule sets.
            let options = talktrack_analyze::Options {
                total_budget: 1_000_000,
                ..talktrack_analyze::Options::default()
            };
            let report = talktrack_analyze::analyze_bundle(b.clone(), &options);
            for f in &report.findings {
                eprint!("{}", talktrack_analyze::render_finding(f));
            }
            say!(
                "ok: {} {} — {} tracks, {} rules, {} warning(s), observation {} floats\ndigest {}",
                b.name(),
                b.version(),
                b.catalog().len(),
                b.rules().len(),
                b.warnings().len(),
                b.features().dim(),
                b.digest()
            );
            Ok(())
        }
        Cmd::Decide {
            bundle,
            request,
            explain,
            trace,
        } => {
            let b = load(&bundle)?;
            let text = if request.as_os_str() == "-" {
                read_request(std::io::stdin())
            } else {
                // A regular file only (never a FIFO or a device), read no further than the limit.
                talktrack::tooling::read_bounded(&request, MAX_REQUEST_BYTES as u64)
                    .map_err(std::io::Error::other)
                    .and_then(|bytes| read_request(&bytes[..]))
            }
            .map_err(|e| {
                eprintln!("error: cannot read `{}`: {e}", request.display());
                ExitCode::FAILURE
            })?;
            // The request's own text (ids, attribute names) reaches the terminal
            // only with its control characters escaped.
            let refused = |e: talktrack::DecideError| {
                eprintln!(
                    "error: {}: {}",
                    escape_controls(&request.to_string_lossy()),
                    escape_controls(&e.to_string())
                );
                ExitCode::FAILURE
            };
            let req = Request::from_json_bytes(&text).map_err(refused)?;
            let d = Engine::with_bundle(b).decide(&req).map_err(refused)?;
            if trace {
                let t = talktrack::tooling::Trace::of(&d, &req).map_err(refused)?;
                say_raw!("{t}");
            }
            if explain {
                say_raw!("{}", d.explain());
            } else {
                match serde_json::to_string_pretty(&d) {
                    Ok(j) => say!("{j}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Err(ExitCode::FAILURE);
                    }
                }
            }
            Ok(())
        }
        Cmd::Fmt { paths, check } => fmt(&paths, check),
        Cmd::Keygen { name } => keygen(&name),
        Cmd::Seal { bundle, sign_key } => seal(&bundle, sign_key.as_deref()),
        Cmd::Serve(a) => serve(a),
        Cmd::Promote { deployment } => {
            match talktrack_serve::deployment::promote_file(&deployment) {
                Ok(champion) => {
                    say!(
                        "promoted: `{}` now serves `{champion}` to every conversation",
                        deployment.display()
                    );
                    Ok(())
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Err(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Test { bundle } => {
            let b = load(&bundle)?;
            match talktrack::tooling::run_all(&b) {
                Err(ps) => {
                    eprint!("{}", render(&ps));
                    Err(ExitCode::FAILURE)
                }
                Ok((report, _, failed)) => {
                    say_raw!("{report}");
                    if failed > 0 {
                        Err(ExitCode::FAILURE)
                    } else {
                        Ok(())
                    }
                }
            }
        }
    }
}

/// Reads a request, refusing it after [`MAX_REQUEST_BYTES`] without reading the
/// rest; whether it is UTF-8 is for [`Request::from_json_bytes`] to say (with the
/// offset of the bad byte).
fn read_request(r: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    r.take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut text)?;
    if text.len() > MAX_REQUEST_BYTES {
        return Err(std::io::Error::other(format!(
            "the request is more than the {MAX_REQUEST_BYTES} bytes allowed"
        )));
    }
    Ok(text)
}

/// The rule files `paths` stand for, each as the path to show and the path to
/// read and write: a file is itself; a bundle directory is the rule files its
/// `bundle.toml` lists; another directory is the `*.rules` files in it. A file a
/// directory names that leads outside it (`..`, an absolute path, a symlink out)
/// is never read or written. Such a file, a bundle whose manifest cannot be
/// read, or a directory with no rule file at all, is reported and makes the
/// result an error (the files found are still returned).
fn rule_files(paths: &[PathBuf]) -> (Vec<(PathBuf, PathBuf)>, bool) {
    let mut out = Vec::new();
    let mut bad = false;
    for p in paths {
        if !p.is_dir() {
            out.push((p.clone(), p.clone()));
            continue;
        }
        let manifest = p.join("bundle.toml");
        if manifest.exists() {
            match talktrack::tooling::listed_rule_files(p) {
                Ok((files, outside)) => {
                    if !outside.is_empty() {
                        eprint!("{}", render(&outside));
                        bad = true;
                    }
                    out.extend(files.into_iter().map(|f| (f.shown, f.real)));
                }
                Err(e) => {
                    eprint!("{}", render(&e.problems));
                    eprintln!(
                        "error: `{}` could not be read, so the rule files it lists were not checked",
                        manifest.display()
                    );
                    bad = true;
                }
            }
            continue;
        }
        let real_dir = match std::fs::canonicalize(p) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: cannot read directory `{}`: {e}", p.display());
                bad = true;
                continue;
            }
        };
        let mut found: Vec<(PathBuf, PathBuf)> = match std::fs::read_dir(p) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "rules"))
                .filter_map(|f| {
                    let real = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
                    if real.starts_with(&real_dir) {
                        Some((f, real))
                    } else {
                        eprintln!(
                            "error: `{}` is a symlink that leads outside `{}`: not formatted",
                            f.display(),
                            p.display()
                        );
                        bad = true;
                        None
                    }
                })
                .collect(),
            Err(e) => {
                eprintln!("error: cannot read directory `{}`: {e}", p.display());
                bad = true;
                continue;
            }
        };
        if found.is_empty() {
            eprintln!(
                "error: `{}` has neither a bundle.toml nor any `.rules` file",
                p.display()
            );
            bad = true;
        }
        found.sort();
        out.extend(found);
    }
    (out, bad)
}

fn fmt(paths: &[PathBuf], check: bool) -> Result<(), ExitCode> {
    let (files, mut bad) = rule_files(paths);
    for (file, real) in files {
        let text = match talktrack::tooling::read_text(&real, &file) {
            Ok(t) => t,
            Err(p) => {
                eprint!("{}", render(&[p]));
                bad = true;
                continue;
            }
        };
        match talktrack::tooling::format_rules(&text, &file) {
            Err(ps) => {
                eprint!("{}", render(&ps));
                bad = true;
            }
            Ok(formatted) if formatted != text => {
                if check {
                    say!("not formatted: {}", file.display());
                    bad = true;
                } else if let Err(e) = std::fs::write(&real, formatted) {
                    eprintln!("error: cannot write `{}`: {e}", file.display());
                    bad = true;
                } else {
                    say!("formatted: {}", file.display());
                }
            }
            Ok(_) => {}
        }
    }
    if bad {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}
