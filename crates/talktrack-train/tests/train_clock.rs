//! The simulator's clock: rules reading `now` see `[sim] now`; a rule that can fire in
//! simulation without a clock is refused, and one that cannot is noted once.

mod quiet;
mod synthetic;

use quiet::{allowed_at_start, run_job};
use synthetic::{TrueMdp, REPLIES};
use talktrack_train::config::SimSetup;

/// A synthetic setup whose template forbids `t1` for 14 days after a purchase.
fn setup_with_clock_rule(dir: &std::path::Path) -> SimSetup {
    let truth = TrueMdp::random(8, 3, 0.5, 0.3);
    let mut setup = truth.setup(dir, 120, 8);
    let tpl = dir.join("tpl");
    let mut manifest = format!(
        "format = 1\nname = \"clock\"\nversion = \"0.1.0\"\ndescription = \"clock\"\nmax_turns = {}\nfallback = \"t0\"\nreplies = [{}]\nrules = [\"rules/clock.rules\"]\n\n[context]\nlast_purchase = {{ type = \"timestamp\", optional = true }}\n\n[[features]]\nkind = \"turn_one_hot\"\n\n[[features]]\nkind = \"last_reply_one_hot\"\n",
        truth.max_turns,
        REPLIES.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
    );
    for t in &truth.tracks {
        manifest.push_str(&format!("\n[[tracks]]\nid = \"{t}\"\ntext = \"{t}\"\n"));
    }
    std::fs::write(tpl.join("bundle.toml"), manifest).unwrap();
    std::fs::create_dir_all(tpl.join("rules")).unwrap();
    std::fs::write(
        tpl.join("rules/clock.rules"),
        "rule cooling-off\n  because \"no offer for 14 days after a purchase\"\n  when has customer.last_purchase and now - customer.last_purchase < 14d\n  forbid track t1\n",
    )
    .unwrap();
    setup.job.cv = false;
    setup.pessimism.strength = Some(0.0);
    setup
}

#[test]
fn rules_reading_now_see_the_simulators_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup_with_clock_rule(dir.path());
    setup.sim.context.set(
        "last_purchase",
        talktrack::Value::Str("2026-01-10T00:00:00Z".into()),
    );
    setup.sim.now = Some("2026-01-15T00:00:00Z".into());
    assert!(!allowed_at_start(&setup, 1), "five days after the purchase");
    setup.sim.now = Some("2026-02-15T00:00:00Z".into());
    assert!(allowed_at_start(&setup, 1), "a month after the purchase");

    setup.sim.now = Some("yesterday".into());
    let err = run_job(&setup, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("RFC 3339") && err.contains("yesterday"),
        "{err}"
    );

    // Without a clock the rule would compare against time 0: refused, saying what to set.
    setup.sim.now = None;
    let err = run_job(&setup, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("`last_purchase`") && err.contains("now = ") && err.contains("[sim]"),
        "{err}"
    );
}

#[test]
fn without_a_timestamp_in_the_context_the_report_notes_the_missing_clock_once() {
    let dir = tempfile::tempdir().unwrap();
    let setup = setup_with_clock_rule(dir.path());
    let job = run_job(&setup, dir.path()).unwrap();
    let notes: Vec<_> = job
        .report
        .notes
        .iter()
        .filter(|n| n.contains("evaluated at no time"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", job.report.notes);

    // With a clock, no note.
    let mut timed = setup.clone();
    timed.sim.now = Some("2026-01-15T00:00:00Z".into());
    let job = run_job(&timed, &dir.path().join("timed")).unwrap();
    assert!(!job
        .report
        .notes
        .iter()
        .any(|n| n.contains("evaluated at no time")));
}
