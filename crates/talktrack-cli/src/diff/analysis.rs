//! `diff --analyze`: over ALL requests valid for both sides (not only the
//! cases), per track, whether the new rules allow it where the old ones forbade
//! it and the reverse — each with a witness request checked through both
//! sides' masks, proven none, or undecided with the reasons.

use std::fmt::Write as _;

use serde::Serialize;
use talktrack::tooling::escape_controls as shown;
use talktrack_analyze::{Change, Direction, Status};

use super::Side;

/// The analysis part of the report.
#[derive(Serialize)]
pub(crate) struct Analysis {
    /// Per track both sides know and per direction.
    pub changes: Vec<Change>,
}

/// Analyses both sides' rules.
pub(crate) fn compare(old: &Side, new: &Side) -> Analysis {
    let options = talktrack_analyze::Options::default();
    Analysis {
        changes: talktrack_analyze::compare_templates(old.template(), new.template(), &options),
    }
}

/// The analysis in words: witnessed changes with their request, undecided ones
/// with their reasons, then how many were proven not to happen.
pub(crate) fn render(out: &mut String, a: &Analysis) {
    let count = |st: Status| a.changes.iter().filter(|c| c.status == st).count();
    let _ = writeln!(
        out,
        "\nanalysis (all requests valid for both sides): {} change(s) witnessed, {} proven not to happen, {} undecided",
        count(Status::Witnessed),
        count(Status::None),
        count(Status::Undecided)
    );
    for c in &a.changes {
        let dir = match c.direction {
            Direction::NewlyAllowed => "newly allowed:  ",
            Direction::NewlyForbidden => "newly forbidden:",
        };
        match c.status {
            Status::Witnessed => {
                let _ = writeln!(out, "  {dir} `{}`", shown(&c.track));
                if let Some(w) = &c.witness {
                    let json = serde_json::to_string(w).unwrap_or_default();
                    let _ = writeln!(out, "    witness: {}", shown(&json));
                }
            }
            Status::Undecided => {
                let _ = writeln!(out, "  {dir} `{}` undecided", shown(&c.track));
                for why in &c.reasons {
                    let _ = writeln!(out, "    because {}", shown(why));
                }
            }
            Status::None => {}
        }
    }
    let mut reasons: Vec<&String> = a
        .changes
        .iter()
        .filter(|c| c.status == Status::None)
        .flat_map(|c| &c.reasons)
        .collect();
    reasons.dedup();
    for why in reasons {
        let _ = writeln!(out, "  ({})", shown(why));
    }
}
