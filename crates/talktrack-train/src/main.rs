//! The `talktrack-train` command line: convert logs, aggregate them, train and
//! evaluate policies, export bundles.
//!
//! A thin layer over `talktrack_train::job` and friends; progress bars go to stderr
//! and stay quiet when stderr is not a terminal or with `--quiet`.

/// Training allocates and frees large buffers at every update: mimalloc keeps them
/// mapped, where the system allocator returns them to the kernel and faults them in
/// again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// `say!` and `say_raw!`: stdout writes that a closed pipe (`| head`) does not panic.
#[macro_use]
extern crate talktrack;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use talktrack::Bundle;
use talktrack::{Engine, Request};
use talktrack_train::config::{Algorithm, Overrides, SimSetup};
use talktrack_train::job::{aggregate_to_file, run, Hooks};
use talktrack_train::train::{Control, EvalPoint, Progress, TrainObserver};

#[derive(Parser)]
#[command(
    name = "talktrack-train",
    version,
    about = "Learn a talk-track policy from conversation logs and export a bundle"
)]
struct Cli {
    /// No progress bars or stage messages.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole job on the shipped PersuasionForGood data: train, evaluate, export, decide.
    Quickstart {
        /// Output directory (bundle in `<out>/bundle`, report in `<out>/report`).
        #[arg(long, default_value = "out/persuasion")]
        out: PathBuf,
    },
    /// Train PPO and/or DQN on a config, evaluate, export the bundle and the report.
    Train {
        /// Trainer config (TOML).
        #[arg(long, default_value = "configs/p4g_reference.toml")]
        config: PathBuf,
        /// Output directory (bundle in `<out>/bundle`, report in `<out>/report`).
        #[arg(long, default_value = "out/train")]
        out: PathBuf,
        /// Export the bundle here instead of `<out>/bundle`.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Only this algorithm (default: the config's `[job] algorithms`).
        #[arg(long, value_enum)]
        algo: Option<Algorithm>,
        /// Seed for both algorithms (overrides the config).
        #[arg(long)]
        seed: Option<u64>,
        /// Environment-step budget for both algorithms (overrides the config).
        #[arg(long)]
        steps: Option<u64>,
        /// Skip the cross-validation by conversation (`[job] cv = false`).
        #[arg(long, alias = "no-holdout")]
        no_cv: bool,
        /// Train from this aggregate file (written by `aggregate`) instead of the log
        /// (overrides `[data] aggregates`).
        #[arg(long)]
        aggregates: Option<PathBuf>,
        /// Fail on the first bad log line instead of skipping and counting
        /// (`[data] strict = true`).
        #[arg(long)]
        strict: bool,
    },
    /// Cross-validate by conversation: per fold, train on the other folds and evaluate
    /// on the simulator of the fold's own conversations.
    Cv {
        /// Trainer config (TOML).
        #[arg(long, default_value = "configs/p4g_reference.toml")]
        config: PathBuf,
        /// Number of folds (overrides `[cv] folds`).
        #[arg(long)]
        folds: Option<u32>,
        /// Split seed (overrides `[cv] seed`).
        #[arg(long)]
        split_seed: Option<u64>,
        /// Environment steps per fold (overrides `[cv] steps`).
        #[arg(long)]
        steps: Option<u64>,
        /// Training seed of the algorithm (overrides the config).
        #[arg(long)]
        seed: Option<u64>,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Aggregate a log into the privacy-thresholded tables training uses.
    Aggregate {
        /// Trainer config (TOML).
        #[arg(long, default_value = "configs/p4g_reference.toml")]
        config: PathBuf,
        /// Output JSON.
        #[arg(long, default_value = "out/aggregates.json")]
        out: PathBuf,
        /// Fail on the first bad log line instead of skipping and counting.
        #[arg(long)]
        strict: bool,
    },
    /// Evaluate an exported bundle's policy exactly on the config's simulator.
    Eval {
        /// Trainer config (TOML).
        #[arg(long, default_value = "configs/p4g_reference.toml")]
        config: PathBuf,
        /// Bundle directory.
        bundle: PathBuf,
        /// Build the simulator from this aggregate file (written by `aggregate`) instead
        /// of the log (overrides `[data] aggregates`).
        #[arg(long)]
        aggregates: Option<PathBuf>,
    },
    /// Convert the PersuasionForGood CSV files into a talktrack JSONL log.
    ConvertP4g {
        /// `annotated_300_dialog.csv`.
        #[arg(long)]
        dialogs: PathBuf,
        /// `annotated_300_info.csv`.
        #[arg(long)]
        info: PathBuf,
        /// Output JSONL.
        #[arg(long)]
        out: PathBuf,
    },
    /// Off-policy evaluation of a bundle on logged conversations: importance sampling,
    /// self-normalised and doubly robust estimates with bootstrap intervals, and the
    /// impact of its rules on the logs. Reads individual conversations.
    Ope {
        /// The conversation log (JSONL, the trainer's format).
        #[arg(long)]
        logs: PathBuf,
        /// The bundle to evaluate.
        #[arg(long)]
        bundle: PathBuf,
        /// A second bundle to compare with (bundle − baseline, paired by conversation).
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Trainer config whose `[aggregate]` and `[shrink]` build the direct model and
        /// the estimated behaviour (default: the defaults, with the bundle's turn limit).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Bootstrap resamples.
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        /// Bootstrap and cross-fitting seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// `text` (Markdown) or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The promotion gate: exit 0 when the candidate may replace the champion, 1 to
    /// hold, 2 on error; the verdict as JSON on stdout.
    Gate {
        /// The candidate bundle.
        #[arg(long)]
        candidate: PathBuf,
        /// The champion bundle.
        #[arg(long)]
        champion: PathBuf,
        /// Held-out conversation log (JSONL, the trainer's format).
        #[arg(long)]
        logs: PathBuf,
        /// Trainer config of the simulator both bundles are evaluated on.
        #[arg(long, default_value = "configs/p4g_reference.toml")]
        config: PathBuf,
        /// A new candidate rule accepted to forbid logged tracks the champion allowed
        /// (repeat for several).
        #[arg(long = "accept-rule")]
        accept_rule: Vec<String>,
        /// Bootstrap resamples.
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        /// Bootstrap and cross-fitting seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also write the verdict JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Turn `talktrack serve` decision logs (decisions and outcomes; oldest file
    /// first) into a training log, so the next policy trains on served traffic.
    FromDecisions {
        /// Decision-log files, oldest first.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Output JSONL (the trainer's log format).
        #[arg(long)]
        out: PathBuf,
        /// Only this deployment's records.
        #[arg(long)]
        deployment: Option<String>,
    },
}

/// How a report is printed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Markdown for a person.
    Text,
    /// JSON for a program.
    Json,
}

struct Bar {
    bar: ProgressBar,
    name: String,
}

impl TrainObserver for Bar {
    fn on_update(&mut self, p: &Progress) -> Control {
        self.bar.set_position(p.env_steps);
        self.bar.set_message(format!("return {:.3}", p.mean_return));
        Control::Continue
    }
    fn on_eval(&mut self, e: &EvalPoint) -> Control {
        self.bar
            .set_message(format!("{:.1}% of optimum", 100.0 * e.fraction));
        Control::Continue
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if !self.bar.is_hidden() {
            eprintln!("  {} done", self.name);
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn train_job(
    setup: &SimSetup,
    bundle_dir: &Path,
    report_dir: &Path,
    quiet: bool,
) -> Result<(), ExitCode> {
    let show = !quiet && std::io::stderr().is_terminal();
    let mut stage = |s: &str| {
        if !quiet {
            eprintln!("» {s}");
        }
    };
    let mut observer = |name: &str, total: u64| -> Box<dyn TrainObserver> {
        let bar = if show {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "  {prefix:>4} [{bar:30}] {pos}/{len} steps {per_sec} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_uppercase());
        Box::new(Bar {
            bar,
            name: name.to_uppercase(),
        })
    };
    let out = run(
        setup,
        bundle_dir,
        report_dir,
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
    .map_err(fail)?;
    let data = &out.report.data;
    if data.bad_lines > 0 {
        eprintln!(
            "warning: {} bad log lines skipped{}",
            data.bad_lines,
            if data.bad_lines > data.bad_line_examples.len() as u64 {
                format!(", the first {}:", data.bad_line_examples.len())
            } else {
                ":".into()
            }
        );
        for b in &data.bad_line_examples {
            eprintln!("  line {}: {}", b.line, b.reason);
        }
    }
    for n in &out.report.notes {
        eprintln!("warning: {n}");
    }
    say!("{}", out.report.to_markdown());
    say!(
        "bundle: {}\nreport: {}/report.md, report.json, curves.svg",
        out.bundle_dir.display(),
        out.report_dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Quickstart { out } => quickstart(&out, cli.quiet),
        Cmd::Train {
            config,
            out,
            bundle,
            algo,
            seed,
            steps,
            no_cv,
            aggregates,
            strict,
        } => (|| {
            let mut setup = SimSetup::load(&config).map_err(fail)?;
            setup.apply(&Overrides {
                algorithm: algo,
                seed,
                steps,
                no_cv,
                aggregates,
                strict,
            });
            let bundle = bundle.unwrap_or_else(|| out.join("bundle"));
            train_job(&setup, &bundle, &out.join("report"), cli.quiet)
        })(),
        Cmd::Cv {
            config,
            folds,
            split_seed,
            steps,
            seed,
            json,
        } => (|| {
            let mut setup = SimSetup::load(&config).map_err(fail)?;
            setup.apply(&Overrides {
                seed,
                ..Overrides::default()
            });
            if let Some(k) = folds {
                setup.cv.folds = k;
            }
            if let Some(s) = split_seed {
                setup.cv.seed = s;
            }
            if let Some(n) = steps {
                setup.cv.steps = n;
            }
            cv(&setup, json.as_deref(), cli.quiet)
        })(),
        Cmd::Aggregate {
            config,
            out,
            strict,
        } => (|| {
            let setup = SimSetup::load(&config).map_err(fail)?;
            let (agg, stats) = aggregate_to_file(&setup, strict, &out).map_err(fail)?;
            say!(
                "{} conversations aggregated ({} bad lines skipped), {} cells published (k = {}) → {}",
                stats.conversations,
                stats.bad,
                agg.levels.iter().map(|l| l.cells.len()).sum::<usize>(),
                agg.config.k,
                out.display()
            );
            for b in &stats.examples {
                eprintln!("  line {}: {}", b.line, b.reason);
            }
            Ok(())
        })(),
        Cmd::Eval {
            config,
            bundle,
            aggregates,
        } => eval(&config, &bundle, aggregates),
        Cmd::ConvertP4g { dialogs, info, out } => (|| {
            let stats = talktrack_train::log::p4g::convert_files(
                &dialogs,
                &info,
                &out,
                &talktrack_train::log::p4g::ConvertOptions::default(),
            )
            .map_err(fail)?;
            say!("{stats}\n→ {}", out.display());
            Ok(())
        })(),
        Cmd::Ope {
            logs,
            bundle,
            baseline,
            config,
            resamples,
            seed,
            format,
        } => ope_cmd(
            &logs,
            &bundle,
            baseline.as_deref(),
            config.as_deref(),
            resamples,
            seed,
            format,
        ),
        Cmd::Gate {
            candidate,
            champion,
            logs,
            config,
            accept_rule,
            resamples,
            seed,
            out,
        } => {
            return gate_cmd(
                &candidate,
                &champion,
                &logs,
                &config,
                accept_rule,
                resamples,
                seed,
                out.as_deref(),
            )
        }
        Cmd::FromDecisions {
            logs,
            out,
            deployment,
        } => talktrack_train::log::served::from_decision_files(&logs, deployment.as_deref(), &out)
            .map(|stats| say!("{stats}\n→ {}", out.display()))
            .map_err(fail),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

fn cv(setup: &SimSetup, json: Option<&Path>, quiet: bool) -> Result<(), ExitCode> {
    let mut stage = |s: &str| {
        if !quiet {
            eprintln!("» {s}");
        }
    };
    let mut observer = |_: &str, _: u64| -> Box<dyn TrainObserver> {
        Box::new(talktrack_train::train::NoObserver)
    };
    let started = std::time::Instant::now();
    let summary = talktrack_train::job::cross_validate(
        setup,
        &mut Hooks {
            stage: &mut stage,
            observer: &mut observer,
        },
    )
    .map_err(fail)?;
    say!("{}", summary.to_markdown());
    if !quiet {
        eprintln!(
            "cross-validation took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&summary).map_err(fail)?;
        std::fs::write(path, text)
            .map_err(|e| fail(format!("cannot write `{}`: {e}", path.display())))?;
    }
    Ok(())
}

fn load_bundle(path: &Path) -> Result<Arc<Bundle>, String> {
    Bundle::load(path)
        .map(Arc::new)
        .map_err(|e| format!("`{}`:\n{}", path.display(), talktrack::render(&e.problems)))
}

/// The evaluation settings: the config's `[aggregate]` and `[shrink]` when given.
fn ope_options(
    bundle: &Bundle,
    config: Option<&Path>,
    resamples: usize,
    seed: u64,
) -> Result<talktrack_train::ope::OpeOptions, String> {
    let mut opts = talktrack_train::ope::OpeOptions::for_bundle(bundle);
    if let Some(c) = config {
        let setup = SimSetup::load(c).map_err(|e| e.to_string())?;
        opts.aggregate = setup.aggregate.clone();
        opts.shrink = setup.shrink.clone();
    }
    opts.resamples = resamples;
    opts.seed = seed;
    Ok(opts)
}

fn ope_cmd(
    logs: &Path,
    bundle: &Path,
    baseline: Option<&Path>,
    config: Option<&Path>,
    resamples: usize,
    seed: u64,
    format: Format,
) -> Result<(), ExitCode> {
    use talktrack_train::ope;
    let b = load_bundle(bundle).map_err(fail)?;
    let mut bundles = vec![Arc::clone(&b)];
    if let Some(p) = baseline {
        bundles.push(load_bundle(p).map_err(fail)?);
    }
    let opts = ope_options(&b, config, resamples, seed).map_err(fail)?;
    let logs = ope::read_logs(logs, &ope::vocab_of(&b)).map_err(fail)?;
    let ev = ope::evaluate(&logs, &bundles, &opts).map_err(fail)?;
    match format {
        Format::Text => say_raw!("{}", ev.report.to_markdown()),
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&ev.report).map_err(fail)?
        ),
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn gate_cmd(
    candidate: &Path,
    champion: &Path,
    logs: &Path,
    config: &Path,
    accepted_rules: Vec<String>,
    resamples: usize,
    seed: u64,
    out: Option<&Path>,
) -> ExitCode {
    use talktrack_train::gate::{gate, GateOptions, SimValue};
    use talktrack_train::ope;
    let error = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let run = || -> Result<talktrack_train::gate::Verdict, String> {
        let cand = load_bundle(candidate)?;
        let champ = load_bundle(champion)?;
        let setup = SimSetup::load(config).map_err(|e| e.to_string())?;
        let sim = |b: &Bundle| {
            talktrack_train::job::evaluate_bundle(&setup, b)
                .map(|e| SimValue {
                    value: e.value,
                    ci95: e.ci95,
                })
                .map_err(|e| format!("`{}` on the simulator: {e}", b.name()))
        };
        let sims = [sim(&cand)?, sim(&champ)?];
        let opts = GateOptions {
            ope: ope_options(&cand, Some(config), resamples, seed)?,
            accepted_rules,
        };
        let logs = ope::read_logs(logs, &ope::vocab_of(&cand)).map_err(|e| e.to_string())?;
        let (verdict, _) =
            gate(&logs, cand, champ, Some(sims), &opts).map_err(|e| e.to_string())?;
        Ok(verdict)
    };
    let verdict = match run() {
        Ok(v) => v,
        Err(e) => return error(e),
    };
    let json = match serde_json::to_string_pretty(&verdict) {
        Ok(j) => j,
        Err(e) => return error(e.to_string()),
    };
    if let Some(p) = out {
        if let Err(e) = std::fs::write(p, &json) {
            return error(format!("cannot write `{}`: {e}", p.display()));
        }
    }
    say!("{json}");
    eprint!("{}", verdict.to_text());
    ExitCode::from(verdict.exit_code())
}

fn eval(config: &Path, bundle: &Path, aggregates: Option<PathBuf>) -> Result<(), ExitCode> {
    let mut setup = SimSetup::load(config).map_err(fail)?;
    setup.apply(&Overrides {
        aggregates,
        ..Overrides::default()
    });
    let b = Bundle::load(bundle).map_err(|e| fail(talktrack::render(&e.problems)))?;
    let e = talktrack_train::job::evaluate_bundle(&setup, &b).map_err(fail)?;
    let base = &e.baselines;
    let value = match (e.ci95, base.optimum) {
        (Some(h), _) => format!("{:.4} ± {h:.4} (simulated, 95% CI)", e.value),
        (None, Some(o)) => format!(
            "{:.4} = {:.1}% of the optimum {o:.4}",
            e.value,
            100.0 * e.value / o.max(1e-12)
        ),
        (None, None) => format!("{:.4}", e.value),
    };
    say!(
        "{} {}: value {value} (best single track `{}` {:.4}, logged behaviour {:.4}, uniform {:.4}); rule violations: {}",
        b.name(),
        b.version(),
        base.best_single.0,
        base.best_single.1,
        base.behaviour,
        base.uniform,
        e.violations
    );
    Ok(())
}

fn quickstart(out: &Path, quiet: bool) -> Result<(), ExitCode> {
    let config = Path::new("configs/p4g_reference.toml");
    if !config.exists() {
        return Err(fail("run `talktrack-train quickstart` from the repository root (configs/p4g_reference.toml not found)"));
    }
    let setup = SimSetup::load(config).map_err(fail)?;
    let bundle_dir = out.join("bundle");
    train_job(&setup, &bundle_dir, &out.join("report"), quiet)?;
    let b = Arc::new(Bundle::load(&bundle_dir).map_err(|e| fail(talktrack::render(&e.problems)))?);
    let text = std::fs::read_to_string("examples/requests/persuasion.json").map_err(fail)?;
    let req = Request::from_json(&text).map_err(fail)?;
    let d = Engine::with_bundle(b).decide(&req).map_err(fail)?;
    say!("\nServing the exported bundle — `talktrack decide {} --request examples/requests/persuasion.json --explain`:\n", bundle_dir.display());
    say_raw!("{}", d.explain());
    Ok(())
}
