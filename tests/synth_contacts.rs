//! The benchmark's contact variant of the medium synthetic bundle
//! (`SynthSpec::medium_with_contacts`): a tenth of its rules count past contacts,
//! its other rules and its requests are the plain medium bundle's, and on the
//! benchmark's requests the contact conditions are live — some contact rules fire,
//! others do not, and taking the contacts away changes decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use talktrack::synth::SynthSpec;
use talktrack::tooling::ast::{ExprKind, RuleDef};
use talktrack::{Decision, Engine, Request};

/// The requests `benches/decide.rs` sends each bundle.
const BENCH_REQUESTS: u64 = 64;

fn reads_contacts(r: &RuleDef) -> bool {
    let mut reads = false;
    if let Some(w) = &r.when {
        w.walk(&mut |e| reads |= matches!(e.kind, ExprKind::Contacts(_)));
    }
    reads
}

/// Rule blocks of a synthetic rules file by id, as written.
fn blocks(text: &str) -> BTreeMap<String, String> {
    text.split("\n\n")
        .filter_map(|b| {
            let id = b.strip_prefix("rule ")?.lines().next()?.to_owned();
            Some((id, b.to_owned()))
        })
        .collect()
}

/// Ids of the rules that fired in `d` (masked a track, boosted, or failed closed).
fn fired(d: &Decision) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = d
        .masked()
        .iter()
        .flat_map(|m| m.by.iter().map(|r| r.rule.id.clone()))
        .collect();
    ids.extend(d.boosts().iter().map(|(r, _, _)| r.id.clone()));
    ids.extend(d.rule_errors().iter().map(|(r, _)| r.id.clone()));
    ids
}

/// What the rules decided: masked track ids, boosted track ids with amounts.
fn outcome(d: &Decision) -> (Vec<String>, Vec<(String, String)>) {
    let masked = d.masked().iter().map(|m| m.id.to_owned()).collect();
    let mut boosts: Vec<(String, String)> = d
        .boosts()
        .iter()
        .flat_map(|(_, by, ids)| ids.iter().map(move |id| (id.to_string(), by.to_string())))
        .collect();
    boosts.sort();
    (masked, boosts)
}

#[test]
fn a_tenth_of_the_rules_become_contact_policies_and_the_rest_stay_as_they_were() {
    let plain = SynthSpec::medium();
    let spec = SynthSpec::medium_with_contacts();
    let text = spec.rules_text();
    let file = talktrack::tooling::parse(&text, Path::new("synthetic.rules")).unwrap();
    assert_eq!(file.rules.len(), spec.rules);
    let contact: BTreeSet<String> = file
        .rules
        .iter()
        .filter(|r| reads_contacts(r))
        .map(|r| r.id.text.clone())
        .collect();
    assert_eq!(contact.len(), spec.rules / 10, "{contact:?}");
    // Every other rule is the plain medium bundle's, word for word; the plain
    // bundle has no contact policy.
    let (ours, theirs) = (blocks(&text), blocks(&plain.rules_text()));
    assert_eq!(ours.len(), spec.rules);
    for (id, block) in &ours {
        assert_eq!(
            contact.contains(id),
            theirs.get(id) != Some(block),
            "rule {id}"
        );
        assert!(!theirs[id].contains("contacts("), "{}", theirs[id]);
    }
    // The requests are the plain ones with contacts added.
    for n in 0..BENCH_REQUESTS {
        let (mut with, without) = (spec.request(n), plain.request(n));
        assert!(without.contacts.is_empty());
        assert_eq!(with.contacts.len(), 50);
        assert!(with.contacts.iter().all(|c| c.time <= with.time));
        with.contacts.clear();
        assert_eq!(with, without);
    }
}

#[test]
fn on_the_benchmark_requests_contact_rules_fire_on_some_and_not_on_others() {
    let spec = SynthSpec::medium_with_contacts();
    let dir = tempfile::tempdir().unwrap();
    spec.write(dir.path()).unwrap();
    let engine = Engine::load(dir.path()).unwrap();
    let bundle = engine.bundle();
    assert!(bundle.rules().reads_contacts());
    let text = std::fs::read_to_string(dir.path().join("synthetic.rules")).unwrap();
    let file = talktrack::tooling::parse(&text, Path::new("synthetic.rules")).unwrap();
    let contact: BTreeSet<String> = file
        .rules
        .iter()
        .filter(|r| reads_contacts(r))
        .map(|r| r.id.text.clone())
        .collect();
    assert_eq!(contact.len(), spec.rules / 10);

    // Per contact rule: on how many requests it fired.
    let mut fired_on: BTreeMap<&str, u64> = contact.iter().map(|id| (id.as_str(), 0)).collect();
    let mut changed = 0;
    for n in 0..BENCH_REQUESTS {
        let req = spec.request(n);
        let d = engine.decide(&req).unwrap();
        for id in fired(&d) {
            if let Some(k) = fired_on.get_mut(id.as_str()) {
                *k += 1;
            }
        }
        // The same request without its contacts: what the rules decide changes
        // for some requests.
        let without = engine
            .decide(&Request {
                contacts: Vec::new(),
                ..req.clone()
            })
            .unwrap();
        if outcome(&d) != outcome(&without) {
            changed += 1;
        }
    }
    eprintln!("contact rules fired on (of {BENCH_REQUESTS} requests): {fired_on:?}; contacts changed what the rules decided on {changed}");
    // Live conditions: several contact rules fire on some requests but not all of
    // them, and the contacts change what the rules decide for some requests.
    let live = fired_on
        .values()
        .filter(|&&k| 0 < k && k < BENCH_REQUESTS)
        .count();
    assert!(live >= contact.len() / 2, "{fired_on:?}");
    assert!(changed > 0);
}

/// What a decision says apart from the positions of contacts it names: the
/// chosen track, the ranking, what the rules masked and boosted, which rules
/// fired and which failed closed.
fn decided(d: &Decision) -> String {
    let ranked: Vec<(u32, u32)> = d
        .ranked()
        .iter()
        .map(|r| (r.track, r.score.to_bits()))
        .collect();
    let errors: Vec<String> = d.rule_errors().iter().map(|(r, _)| r.id.clone()).collect();
    format!(
        "{:?} {ranked:?} {:?} {:?} {errors:?}",
        d.chosen(),
        outcome(d),
        fired(d)
    )
}

#[test]
fn contacts_in_any_order_give_the_same_decisions() {
    let spec = SynthSpec::medium_with_contacts();
    let dir = tempfile::tempdir().unwrap();
    spec.write(dir.path()).unwrap();
    let engine = Engine::load(dir.path()).unwrap();
    for n in 0..BENCH_REQUESTS {
        let req = spec.request(n);
        // The bench sends contacts oldest first; reversed and interleaved, the
        // log is sorted per request instead of found sorted.
        let sorted = engine.decide(&req).unwrap();
        let mut reversed = req.clone();
        reversed.contacts.reverse();
        let mut interleaved = req.clone();
        let (odd, even): (Vec<_>, Vec<_>) = (0..req.contacts.len()).partition(|i| i % 2 == 1);
        interleaved.contacts = odd
            .into_iter()
            .chain(even.into_iter().rev())
            .map(|i| req.contacts[i].clone())
            .collect();
        for other in [&reversed, &interleaved] {
            let d = engine.decide(other).unwrap();
            assert_eq!(decided(&d), decided(&sorted), "request {n}");
        }
    }
}

#[test]
fn contacts_older_than_every_window_are_checked_but_change_nothing() {
    let spec = SynthSpec::medium_with_contacts();
    let dir = tempfile::tempdir().unwrap();
    spec.write(dir.path()).unwrap();
    let engine = Engine::load(dir.path()).unwrap();
    let year_ms = 365 * 86_400_000i64;
    for n in 0..BENCH_REQUESTS {
        let req = spec.request(n);
        let d = engine.decide(&req).unwrap();
        // Contacts of a year ago about a retired track, about a track every
        // contact rule counts, with and without an outcome: in no rule's window,
        // so no count and no explanation changes (a retired track fails closed
        // only inside a window).
        let mut older = req.clone();
        let first = req.contacts[0].clone();
        for (k, track) in ["retired-offer", first.track.as_str()].iter().enumerate() {
            older.contacts.push(talktrack::Contact {
                time: req.time - year_ms - k as i64,
                track: (*track).to_owned(),
                outcome: first.outcome.clone(),
                conversation_id: Some("long-ago".to_owned()),
            });
            older.contacts.push(talktrack::Contact {
                time: req.time - 2 * year_ms,
                track: (*track).to_owned(),
                outcome: None,
                conversation_id: None,
            });
        }
        let o = engine.decide(&older).unwrap();
        assert_eq!(decided(&o), decided(&d), "request {n}");
        assert_eq!(o.explain(), d.explain(), "request {n}");
        // Still checked: an unknown outcome there is the request's error, naming
        // the contact.
        let mut bad = older.clone();
        let at = bad.contacts.len() - 1;
        bad.contacts[at].outcome = Some("no-such-outcome".to_owned());
        match engine.decide(&bad) {
            Err(talktrack::DecideError::UnknownOutcome { index, name }) => {
                assert_eq!((index, name.as_str()), (at, "no-such-outcome"));
            }
            other => panic!("request {n}: {:?}", other.map(|d| d.chosen())),
        }
    }
}
