//! `from-decisions`: a served decision log (decisions, a shadow's, outcomes) becomes
//! the trainer's log: turns from the histories, the used track checked against the
//! recommendation, the last reply from the outcome.

use serde_json::{json, Value};
use talktrack_train::log::served::from_decisions;
use talktrack_train::log::{Conversation, LogReader, ReadOptions, Vocab};

fn decision(
    conv: &str,
    id: &str,
    tracks: &[&str],
    replies: &[&str],
    chosen: &str,
    p: f64,
) -> Value {
    json!({
        "kind": "decision", "decision_id": id, "deployment": "default", "arm": "champion",
        "conversation_id": conv, "time": format!("2026-11-26T10:0{}:00Z", tracks.len()),
        "turn": tracks.len(), "bundle": {"name": "b", "version": "1", "digest": "d"},
        "shadow": null, "context": {"age": {"gt": 18, "lt": 65}, "region": "north"},
        "protected": {"age": "intervals"},
        "history": {"tracks": tracks, "replies": replies},
        "masked": [], "ranked": [], "chosen": chosen, "propensity": p,
        "fallback_used": false, "no_choice": null
    })
}

fn run(
    lines: &[Value],
    deployment: Option<&str>,
) -> (
    Vec<Conversation>,
    talktrack_train::log::served::FromDecisionsStats,
) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut input = std::io::Cursor::new(text.into_bytes());
    let mut out = Vec::new();
    let reader: &mut dyn std::io::BufRead = &mut input;
    let stats = from_decisions(&mut [reader], deployment, &mut out).unwrap();
    let convs = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (convs, stats)
}

#[test]
fn turns_come_from_the_histories_and_the_last_reply_from_the_outcome() {
    let lines = [
        decision("c-1", "d1", &["greet"], &["positive"], "upsell", 0.6),
        // The agent used `fee_disclosure`, not the recommended `upsell`.
        decision(
            "c-1",
            "d2",
            &["greet", "fee_disclosure"],
            &["positive", "neutral"],
            "upsell",
            0.7,
        ),
        json!({"kind": "outcome", "conversation_id": "c-1", "decision_id": "d2",
               "converted": true, "value": 12.5, "final_reply": "yes", "deployment": "default",
               "recorded_at": "2026-11-26T10:09:00Z"}),
        // No outcome: left out.
        decision("c-2", "d3", &[], &[], "greet", 0.5),
        "not json".into(),
    ];
    let (convs, stats) = run(&lines, None);
    assert_eq!(convs.len(), 1);
    let c = &convs[0];
    assert_eq!(c.id, "c-1");
    assert_eq!(c.context["region"], "north");
    assert!(c.outcome.converted);
    assert_eq!(c.outcome.value, Some(12.5));
    let got: Vec<_> = c
        .turns
        .iter()
        .map(|t| {
            (
                t.track.as_str(),
                t.reply.as_str(),
                t.decision_id.as_deref(),
                t.propensity,
                t.overridden,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            // Before the first logged decision: no decision, no propensity.
            ("greet", "positive", None, None, None),
            ("fee_disclosure", "neutral", Some("d1"), None, Some(true)),
            ("upsell", "yes", Some("d2"), Some(0.7), None),
        ]
    );
    assert_eq!(c.turns[2].time.as_deref(), Some("2026-11-26T10:02:00Z"));
    assert_eq!(stats.decisions, 3);
    assert_eq!(stats.outcomes, 1);
    assert_eq!(stats.overridden, 1);
    assert_eq!(stats.without_outcome, 1);
    assert_eq!(stats.bad_lines.len(), 1);
    assert_eq!(stats.bad_lines[0].0, 5);
}

#[test]
fn a_followed_recommendation_keeps_its_propensity_and_no_final_reply_drops_the_last_turn() {
    let lines = [
        decision("c-1", "d1", &[], &[], "greet", 0.9),
        decision("c-1", "d2", &["greet"], &["positive"], "upsell", 0.4),
        json!({"kind": "outcome", "conversation_id": "c-1", "converted": false}),
    ];
    let (convs, stats) = run(&lines, None);
    let t = &convs[0].turns;
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].track.as_str(), t[0].propensity, t[0].overridden),
        ("greet", Some(0.9), None)
    );
    assert_eq!(stats.last_turn_without_reply, 1);
    assert_eq!(convs[0].outcome.value, None);
}

#[test]
fn the_output_is_a_valid_trainer_log_and_a_deployment_can_be_picked() {
    let mut other = decision("c-9", "d9", &[], &[], "greet", 1.0);
    other["deployment"] = json!("retention");
    let lines = [
        decision("c-1", "d1", &[], &[], "greet", 0.9),
        json!({"kind": "outcome", "conversation_id": "c-1", "converted": true, "final_reply": "positive"}),
        other,
        json!({"kind": "outcome", "conversation_id": "c-9", "converted": true, "final_reply": "positive", "deployment": "retention"}),
    ];
    let (convs, _) = run(&lines, Some("retention"));
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].id, "c-9");
    // What was written reads back through the trainer's own log reader, strict.
    let text = format!("{}\n", serde_json::to_string(&convs[0]).unwrap());
    let vocab = Vocab::new(
        vec!["greet".into(), "upsell".into()],
        vec!["positive".into(), "neutral".into()],
    );
    let opts = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    let read: Vec<Conversation> = LogReader::new(text.as_bytes(), &vocab, opts)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read.len(), 1);
    let back = &read[0];
    assert_eq!(*back, convs[0]);
    assert_eq!(back.turns[0].propensity, Some(1.0));
}
