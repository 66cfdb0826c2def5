//! The rules the export adds to a bundle (`generated-no-data.rules`): in every
//! simulator state, the tracks for which the aggregates published no data are
//! forbidden, so serving never offers a track where the policy learned nothing.
//! They are built as the rules language's syntax tree and printed by its
//! formatter, so the file is in canonical layout and every id is quoted as the
//! language needs.

use talktrack::tooling::ast::{
    CmpOp, Effect, EffectAst, Expr, ExprKind, Name, RuleDef, RulesFile, Span, Targets, Text,
};
use talktrack::tooling::{print_rules, GENERATED_RULES_HEADER};

use crate::aggregate::Aggregates;
use crate::sim::Mdp;

/// The generated no-data rules.
#[derive(Clone, Debug, PartialEq)]
pub struct NoDataRules {
    /// The rules, in file order.
    pub rules: RulesFile,
    /// How many (state, track) pairs they forbid.
    pub forbidden_pairs: usize,
}

impl NoDataRules {
    /// The rules file: the generated-file header, a note on what the rules mean,
    /// and the rules in canonical layout.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{GENERATED_RULES_HEADER}\n# Tracks for which the aggregated logs publish no data in a state (fewer than k\n# conversations, even after back-off). The policy never learned anything there.\n"
        );
        if !self.rules.rules.is_empty() {
            text.push('\n');
            text.push_str(&print_rules(&self.rules));
        }
        text
    }
}

/// Rules that forbid, in every simulator state, the tracks for which the
/// aggregates published no data: serving never offers a track where the policy
/// never learned anything. A track with no data in any state gets one
/// unconditional rule; the others one rule per state (turn and last reply).
pub fn no_data_rules(mdp: &Mdp, agg: &Aggregates) -> NoDataRules {
    let t_max = agg.config.max_turns;
    let mut rules = Vec::new();
    let mut forbidden_pairs = 0;
    let states: Vec<(u32, u32)> = (0..t_max)
        .flat_map(|t| (0..mdp.n_last() as u32).map(move |l| (t, l)))
        .collect();
    let nowhere: Vec<usize> = (0..mdp.n_actions())
        .filter(|&a| states.iter().all(|&(t, l)| !mdp.available(t, l, a)))
        .collect();
    if !nowhere.is_empty() {
        forbidden_pairs += nowhere.len() * states.len();
        rules.push(forbid(
            "no-data-anywhere".to_owned(),
            "no publishable data for these tracks in any state",
            None,
            nowhere.iter().map(|&a| agg.tracks[a].as_str()),
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for &(t, last) in &states {
        let missing: Vec<&str> = (0..mdp.n_actions())
            .filter(|&a| !mdp.available(t, last, a) && !nowhere.contains(&a))
            .map(|a| agg.tracks[a].as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        forbidden_pairs += missing.len();
        let turn = cmp(
            if t + 1 == t_max { CmpOp::Ge } else { CmpOp::Eq },
            path("turn"),
            ExprKind::Int(i64::from(t)),
        );
        let reply = if last == 0 {
            ExprKind::Not(Box::new(Expr::new(ExprKind::Has(vec![Name::new(
                "last_reply",
            )]))))
        } else {
            cmp(
                CmpOp::Eq,
                path("last_reply"),
                ExprKind::Str(agg.last_name(last).to_owned()),
            )
        };
        let mut id = format!("no-data-t{t}-{}", id_part(agg.last_name(last)));
        if !ids.insert(id.clone()) {
            // Two reply names that differ only in characters an id cannot hold.
            id = format!("{id}-{last}");
            ids.insert(id.clone());
        }
        rules.push(forbid(
            id,
            "no publishable data for these tracks in this state",
            Some(Expr::new(ExprKind::And(vec![
                Expr::new(turn),
                Expr::new(reply),
            ]))),
            missing.into_iter(),
        ));
    }
    NoDataRules {
        rules: RulesFile { rules },
        forbidden_pairs,
    }
}

/// A reply name as part of a rule id: characters an id cannot hold become `-`.
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn path(name: &str) -> Expr {
    Expr::new(ExprKind::Path(vec![Name::new(name)]))
}

fn cmp(op: CmpOp, a: Expr, b: ExprKind) -> ExprKind {
    ExprKind::Cmp(op, Box::new(a), Box::new(Expr::new(b)))
}

/// `rule <id> because <reason> owner "talktrack-train" [when <when>] forbid tracks <ids>`.
fn forbid<'a>(
    id: String,
    reason: &str,
    when: Option<Expr>,
    tracks: impl Iterator<Item = &'a str>,
) -> RuleDef {
    RuleDef {
        id: Name::new(id),
        span: Span::default(),
        because: Some(Text::new(reason)),
        meta: vec![(Name::new("owner"), Text::new("talktrack-train"))],
        when,
        when_span: Span::default(),
        effect: Effect {
            kind: EffectAst::Forbid,
            targets: Targets::Ids(tracks.map(Name::new).collect()),
            span: Span::default(),
        },
    }
}
