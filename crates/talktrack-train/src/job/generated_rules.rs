//! The rules the export adds to a bundle (`generated-no-data.rules`): in every
//! simulator state, the tracks for which the aggregates published no data are
//! forbidden, so serving never offers a track where the policy learned nothing.

use crate::aggregate::Aggregates;
use crate::sim::Mdp;

/// A rules file that forbids, in every simulator state, the tracks for which the
/// aggregates published no data: serving never offers a track where the policy
/// never learned anything.
pub fn no_data_rules(mdp: &Mdp, agg: &Aggregates) -> (String, usize) {
    let t_max = agg.config.max_turns;
    let mut text = format!(
        "{}\n# Tracks for which the aggregated logs publish no data in a state (fewer than k\n# conversations, even after back-off). The policy never learned anything there.\n\n",
        talktrack::tooling::GENERATED_RULES_HEADER
    );
    let mut count = 0;
    let states: Vec<(u32, u32)> = (0..t_max)
        .flat_map(|t| (0..mdp.n_last() as u32).map(move |l| (t, l)))
        .collect();
    // A track with no data anywhere gets one unconditional rule.
    let nowhere: Vec<usize> = (0..mdp.n_actions())
        .filter(|&a| states.iter().all(|&(t, l)| !mdp.available(t, l, a)))
        .collect();
    if !nowhere.is_empty() {
        let ids: Vec<String> = nowhere
            .iter()
            .map(|&a| format!("\"{}\"", agg.tracks[a]))
            .collect();
        count += nowhere.len() * states.len();
        text.push_str(&format!(
            "rule no-data-anywhere\n  because \"no publishable data for these tracks in any state\"\n  owner \"talktrack-train\"\n  forbid tracks {}\n\n",
            ids.join(", ")
        ));
    }
    for &(t, last) in &states {
        let missing: Vec<&str> = (0..mdp.n_actions())
            .filter(|&a| !mdp.available(t, last, a) && !nowhere.contains(&a))
            .map(|a| agg.tracks[a].as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        count += missing.len();
        let turn = if t + 1 == t_max {
            format!("turn >= {t}")
        } else {
            format!("turn == {t}")
        };
        let reply = if last == 0 {
            "not has last_reply".to_owned()
        } else {
            format!("last_reply == \"{}\"", agg.last_name(last))
        };
        let ids: Vec<String> = missing.iter().map(|m| format!("\"{m}\"")).collect();
        text.push_str(&format!(
            "rule no-data-t{t}-{}\n  because \"no publishable data for these tracks in this state\"\n  owner \"talktrack-train\"\n  when {turn} and {reply}\n  forbid tracks {}\n\n",
            agg.last_name(last).replace(['/', ' '], "-"),
            ids.join(", ")
        ));
    }
    (text, count)
}
