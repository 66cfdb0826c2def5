//! The generated no-data rules (`rules/generated-no-data.rules`): built as the
//! rules language's syntax tree and printed by its formatter, they parse back to
//! the same rules, are already in canonical layout, forbid exactly the (state,
//! track) pairs without published data, and load into a bundle whose track ids
//! need quotes in rules.

use std::collections::BTreeMap;
use std::path::Path;

use talktrack::tooling::ast::{ExprKind, Targets};
use talktrack::tooling::{format_rules, parse, BundleTemplate, GENERATED_RULES_HEADER};
use talktrack_train::aggregate::{AggregateConfig, Aggregates, Cell, KeyPart, Level, START};
use talktrack_train::job::no_data_rules;
use talktrack_train::sim::{default_encoder, AllowAll, Mdp, SimConfig};

const REPLIES: [&str; 3] = ["agree/commit", "refuse", "question"];
/// `when` is a keyword of the rules language and `2nd offer` starts with a digit and
/// holds a space: rules must quote both. `unseen` has no data in any state.
const TRACKS: [&str; 4] = ["greet", "when", "2nd offer", "unseen"];
const MAX_TURNS: u32 = 3;

/// Aggregates keyed on (stage, last reply) with stages {turn 0} and {turns 1, 2},
/// where `holes` lists the (stage, last reply slot, track) cells not published and
/// the last track has no cell at all.
fn aggregates(holes: &[(u32, usize, &str)]) -> Aggregates {
    let mut cells = Vec::new();
    for stage in 0..2u32 {
        for last in 0..=REPLIES.len() {
            for track in &TRACKS[..TRACKS.len() - 1] {
                if holes.contains(&(stage, last, track)) {
                    continue;
                }
                cells.push(Cell {
                    turn: None,
                    stage: Some(stage),
                    last_reply: Some(if last == 0 {
                        START.to_owned()
                    } else {
                        REPLIES[last - 1].to_owned()
                    }),
                    track: track.to_string(),
                    conversations: 50.0,
                    next: REPLIES.iter().map(|r| (r.to_string(), 10.0)).collect(),
                    most_frequent: REPLIES[2].to_owned(),
                    conversion_rate: 0.2,
                    mean_value: 0.2,
                });
            }
        }
    }
    let key = vec![KeyPart::Stage, KeyPart::LastReply];
    Aggregates {
        format: 1,
        tracks: TRACKS.iter().map(|t| t.to_string()).collect(),
        replies: REPLIES.iter().map(|r| r.to_string()).collect(),
        config: AggregateConfig {
            k: 5,
            max_turns: MAX_TURNS,
            stage_bounds: vec![1],
            levels: vec![key.clone()],
            ..AggregateConfig::default()
        },
        conversations: 500.0,
        levels: vec![Level { key, cells }],
        behaviour: Vec::new(),
        context_marginals: BTreeMap::new(),
    }
}

#[test]
fn generated_rules_print_parse_back_and_forbid_exactly_the_pairs_without_data() {
    let agg = aggregates(&[
        (0, 0, "2nd offer"),
        (1, 3, "when"),
        (1, 3, "greet"),
        (1, 1, "greet"),
    ]);
    let mdp = Mdp::build(
        &agg,
        &SimConfig::default(),
        &AllowAll,
        &default_encoder(&agg).unwrap(),
    )
    .unwrap();
    let generated = no_data_rules(&mdp, &agg);
    let text = generated.text();
    assert_eq!(text.lines().next(), Some(GENERATED_RULES_HEADER));

    // Print → parse → the same rules; and the text is what `talktrack fmt` writes.
    let path = Path::new("rules/generated-no-data.rules");
    assert_eq!(parse(&text, path).unwrap(), generated.rules);
    assert_eq!(format_rules(&text, path).unwrap(), text);
    assert!(text.contains("forbid track unseen\n"), "{text}");
    assert!(text.contains("\"2nd offer\""), "{text}");
    assert!(text.contains("\"when\""), "{text}");

    // One unconditional rule for the track without any data, one per state with a
    // hole: turn 0 at the start; turns 1 and 2 (the last turn: `turn >= 2`) after
    // `question` and after `agree/commit`.
    let ids: Vec<&str> = generated
        .rules
        .rules
        .iter()
        .map(|r| r.id.text.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "no-data-anywhere",
            "no-data-t0-start",
            "no-data-t1-agree-commit",
            "no-data-t1-question",
            "no-data-t2-agree-commit",
            "no-data-t2-question",
        ]
    );
    // The pairs forbidden are the pairs the simulator has no data for.
    let mut without_data = 0;
    for t in 0..MAX_TURNS {
        for last in 0..mdp.n_last() as u32 {
            without_data += (0..mdp.n_actions())
                .filter(|&a| !mdp.available(t, last, a))
                .count();
        }
    }
    let mut forbidden = 0;
    for r in &generated.rules.rules {
        let Targets::Ids(ids) = &r.effect.targets else {
            panic!("{:?}", r.effect.targets)
        };
        let states = match &r.when {
            None => MAX_TURNS as usize * mdp.n_last(),
            Some(w) => {
                assert!(matches!(w.kind, ExprKind::And(_)), "{w:?}");
                1
            }
        };
        forbidden += ids.len() * states;
    }
    assert_eq!(generated.forbidden_pairs, without_data);
    assert_eq!(forbidden, without_data);
    // `unseen` in all 12 states; the holes: 1 state at turn 0, 2 × 3 at turns 1 and 2.
    assert_eq!(without_data, 12 + 1 + 2 * 3);

    // The rules load with the catalog and replies they were generated for (under
    // another name: a template leaves the generated file out).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/no-data.rules"), &text).unwrap();
    let mut manifest = format!(
        "format = 1\nname = \"generated\"\nversion = \"0.1.0\"\nmax_turns = {MAX_TURNS}\nfallback = \"greet\"\nreplies = [{}]\nrules = [\"rules/no-data.rules\"]\n\n[[features]]\nkind = \"turn_one_hot\"\n",
        REPLIES.map(|r| format!("\"{r}\"")).join(", ")
    );
    for t in TRACKS {
        manifest.push_str(&format!("\n[[tracks]]\nid = \"{t}\"\ntext = \"{t}\"\n"));
    }
    std::fs::write(dir.path().join("bundle.toml"), manifest).unwrap();
    let tpl = BundleTemplate::load(dir.path()).unwrap();
    assert_eq!(tpl.rules().len(), ids.len());
}
