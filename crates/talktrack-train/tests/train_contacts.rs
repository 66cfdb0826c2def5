//! The simulator's contact history: rules counting past contacts (`contacts(..)`)
//! see `[sim] contacts` in every simulated turn, and the report says which
//! contacts the simulator assumed, or that it assumed none.

mod quiet;
mod synthetic;

use quiet::{allowed_at_start, run_job};
use synthetic::{TrueMdp, REPLIES};
use talktrack_train::config::SimSetup;
use talktrack_train::sim::SimContact;

/// A synthetic setup whose template pauses `t1` for 7 days after it was declined.
fn setup_with_contact_rule(dir: &std::path::Path) -> SimSetup {
    let truth = TrueMdp::random(8, 3, 0.5, 0.3);
    let mut setup = truth.setup(dir, 120, 8);
    let tpl = dir.join("tpl");
    let mut manifest = format!(
        "format = 1\nname = \"contacts\"\nversion = \"0.1.0\"\ndescription = \"contacts\"\nmax_turns = {}\nfallback = \"t0\"\nreplies = [{}]\ncontact_outcomes = [\"offered\", \"declined\"]\nrules = [\"rules/pause.rules\"]\n\n[[features]]\nkind = \"turn_one_hot\"\n\n[[features]]\nkind = \"last_reply_one_hot\"\n",
        truth.max_turns,
        REPLIES.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ")
    );
    for t in &truth.tracks {
        manifest.push_str(&format!("\n[[tracks]]\nid = \"{t}\"\ntext = \"{t}\"\n"));
    }
    std::fs::write(tpl.join("bundle.toml"), manifest).unwrap();
    std::fs::create_dir_all(tpl.join("rules")).unwrap();
    std::fs::write(
        tpl.join("rules/pause.rules"),
        "rule pause-after-refusal\n  because \"not again within 7 days of a refusal\"\n  when contacts(track t1, declined, within 7d) >= 1\n  forbid track t1\n",
    )
    .unwrap();
    setup.job.cv = false;
    setup.pessimism.strength = Some(0.0);
    setup.sim.now = Some("2026-01-15T00:00:00Z".into());
    setup
}

fn declined(ago: Option<&str>, time: Option<&str>) -> SimContact {
    SimContact {
        time: time.map(Into::into),
        ago: ago.map(Into::into),
        track: "t1".into(),
        outcome: Some("declined".into()),
    }
}

#[test]
fn rules_counting_contacts_see_the_simulators_contact_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup_with_contact_rule(dir.path());
    assert!(allowed_at_start(&setup, 1), "no contact history by default");
    setup.sim.contacts = vec![declined(Some("3d"), None)];
    assert!(
        !allowed_at_start(&setup, 1),
        "declined three days before `now`"
    );
    setup.sim.contacts = vec![declined(Some("8d"), None)];
    assert!(
        allowed_at_start(&setup, 1),
        "declined eight days before `now`"
    );
    setup.sim.contacts = vec![declined(None, Some("2026-01-14T00:00:00Z"))];
    assert!(
        !allowed_at_start(&setup, 1),
        "declined the day before, absolute time"
    );
}

#[test]
fn bad_contacts_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup_with_contact_rule(dir.path());
    let refused = |setup: &SimSetup| run_job(setup, dir.path()).unwrap_err().to_string();

    let mut unknown = declined(Some("1d"), None);
    unknown.outcome = Some("refused".into());
    setup.sim.contacts = vec![unknown];
    let err = refused(&setup);
    assert!(
        err.contains("contacts") && err.contains("`refused`"),
        "{err}"
    );

    setup.sim.contacts = vec![declined(None, Some("2026-02-01T00:00:00Z"))];
    let err = refused(&setup);
    assert!(err.contains("after"), "{err}");

    setup.sim.contacts = vec![declined(Some("1d"), Some("2026-01-14T00:00:00Z"))];
    let err = refused(&setup);
    assert!(
        err.contains("either `time`") && err.contains("`ago`"),
        "{err}"
    );

    setup.sim.contacts = vec![declined(Some("1d"), None)];
    setup.sim.now = None;
    let err = refused(&setup);
    assert!(err.contains("`ago`") && err.contains("`now`"), "{err}");
}

#[test]
fn the_report_says_which_contacts_the_simulator_assumed() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = setup_with_contact_rule(dir.path());
    let job = run_job(&setup, &dir.path().join("none")).unwrap();
    let notes: Vec<_> = job
        .report
        .notes
        .iter()
        .filter(|n| n.contains("contact"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", job.report.notes);
    assert!(
        notes[0].contains("assumed no contact history"),
        "{}",
        notes[0]
    );

    setup.sim.contacts = vec![declined(Some("3d"), None)];
    let job = run_job(&setup, &dir.path().join("some")).unwrap();
    let notes: Vec<_> = job
        .report
        .notes
        .iter()
        .filter(|n| n.contains("contact"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", job.report.notes);
    insta::assert_snapshot!("sim_contacts_note", notes[0]);
}
