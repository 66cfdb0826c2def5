//! What a change of the rules newly allows: for every track both versions
//! know, whether some request (valid for both bundles) is allowed by the new
//! rules and forbidden by the old ones ("newly allowed"), and the reverse
//! ("newly forbidden"). Each answer is a witness request, run through BOTH
//! real masks; a proof that none exists; or undecided, with the reasons.
//!
//! The search assigns the joint quantities one at a time and evaluates both
//! real rule sets at every node; a branch is cut once a settled rule of the
//! side that must allow the track blocks it, or once every rule of the side
//! that must forbid it is settled without blocking it.

use serde::Serialize;
use talktrack::tooling::typed::TTargets;
use talktrack::tooling::{mask, EffectKind, TrackSet, Verdict};

use crate::blocks::Blocks;
use crate::budget::Meter;
use crate::pair::{Pair, SIDES};
use crate::queries::{masked, quantities_of, reparse};
use crate::space::Point;
use crate::{Options, Subject};

/// Which way a track's permission changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Allowed by the new rules where the old ones forbade it.
    NewlyAllowed,
    /// Forbidden by the new rules where the old ones allowed it.
    NewlyForbidden,
}

/// What the analysis established about one track and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A request shows it (the witness).
    Witnessed,
    /// No request valid for both bundles does it (proven).
    None,
    /// Neither proven nor refuted (see the reasons).
    Undecided,
}

/// One track's change in one direction.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// The track id.
    pub track: String,
    /// Which way.
    pub direction: Direction,
    /// Witnessed, proven none, or undecided.
    pub status: Status,
    /// A request allowed by one side and forbidden by the other, checked through both masks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<serde_json::Value>,
    /// For an undecided change: why; for a proven none, when no request is
    /// valid for both bundles, why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// Compares the old and the new rules, track by track (tracks matched by id,
/// in the new catalog's order; a track only one side knows is left out).
pub fn compare(old: &Subject<'_>, new: &Subject<'_>, options: &Options) -> Vec<Change> {
    let pair = Pair::new(old, new);
    for s in &pair.spaces {
        s.left.set(u64::MAX);
    }
    let left = std::cell::Cell::new(options.total_budget);
    let shared = shared_rules(old, new);
    let mut out = Vec::new();
    for (tn, track) in new.catalog.tracks().iter().enumerate() {
        let Some(to) = old.catalog.index(&track.id) else {
            continue;
        };
        let ts = [to, tn];
        for (direction, allow, deny) in [
            (Direction::NewlyAllowed, 1, 0),
            (Direction::NewlyForbidden, 0, 1),
        ] {
            let mut c = query(&pair, &shared, ts, allow, deny, options, &left);
            c.track.clone_from(&track.id);
            c.direction = direction;
            out.push(c);
        }
    }
    out
}

/// Per side, per rule: whether the other side has the same rule — same id,
/// effect, condition and targets, in bundles whose schema, catalog, replies and
/// `max_turns` are the same — so that it blocks the same tracks on both sides
/// on every request, whatever it reads (the contact history included).
fn shared_rules(old: &Subject<'_>, new: &Subject<'_>) -> [Vec<bool>; 2] {
    let same_settings = old.schema == new.schema
        && old.catalog.tracks() == new.catalog.tracks()
        && old.replies == new.replies
        && old.max_turns == new.max_turns;
    let twin = |a: &Subject<'_>, b: &Subject<'_>, r: usize| -> bool {
        let Some(info) = a.rules.rules().get(r) else {
            return false;
        };
        let Some(o) = b.rules.rules().iter().position(|x| x.id == info.id) else {
            return false;
        };
        b.rules
            .rules()
            .get(o)
            .is_some_and(|x| x.effect == info.effect)
            && a.rules.condition(r) == b.rules.condition(o)
            && same_targets(a.rules.targets(r), b.rules.targets(o))
    };
    [(old, new), (new, old)].map(|(a, b)| {
        (0..a.rules.len())
            .map(|r| same_settings && twin(a, b, r))
            .collect()
    })
}

fn same_targets(a: Option<&TTargets>, b: Option<&TTargets>) -> bool {
    match (a, b) {
        (Some(TTargets::Set(x)), Some(TTargets::Set(y))) => x == y,
        (Some(TTargets::Pred(xb, xe)), Some(TTargets::Pred(yb, ye))) => xb == yb && xe == ye,
        _ => false,
    }
}

/// Rules of `s` that decide whether track `t` is allowed: the forbid and `only`
/// rules that may block it (every forbid and `only` rule when `t` is the
/// fallback, which is allowed when nothing else is).
fn deciders(s: &Subject<'_>, t: usize) -> Vec<usize> {
    (0..s.rules.len())
        .filter(|&r| {
            let e = s.rules.rules().get(r).map(|i| i.effect);
            match e {
                Some(EffectKind::Only) => true,
                Some(EffectKind::Forbid) => t == s.fallback || may_block(s, r, t),
                _ => false,
            }
        })
        .collect()
}

fn may_block(s: &Subject<'_>, r: usize, t: usize) -> bool {
    match s.rules.targets(r) {
        Some(TTargets::Set(set)) => set.contains(t),
        Some(TTargets::Pred(base, _)) => base.as_ref().is_none_or(|b| b.contains(t)),
        None => false,
    }
}

/// One side's state at a node.
struct SideState {
    verdict: Verdict,
    allowed: TrackSet,
    /// Per rule: the tracks it blocked, when it fired.
    blocks: Blocks,
}

impl SideState {
    fn new(s: &Subject<'_>) -> Self {
        Self {
            verdict: Verdict::new(s.catalog.len()),
            allowed: TrackSet::empty(s.catalog.len()),
            blocks: Blocks::new(s),
        }
    }

    fn evaluate(&mut self, pair: &Pair<'_>, side: usize, p: &Point) {
        let s = pair.subjects[side];
        let parts = pair.view_parts(side, p);
        let view = parts.view(s.max_turns);
        mask(
            s.rules,
            &view,
            s.fallback,
            &mut self.verdict,
            &mut self.allowed,
        );
        self.blocks.read_verdict(s, &self.verdict);
    }

    fn blocks(&self, r: usize, t: usize) -> bool {
        self.blocks.blocks(r, t)
    }
}

/// The search for a request that side `allow` allows track `ts[allow]` on and
/// side `deny` does not.
struct Query<'q, 'p> {
    pair: &'q Pair<'p>,
    ts: [usize; 2],
    allow: usize,
    deny: usize,
    deciders: [Vec<usize>; 2],
    /// Whether the rules both sides share are left out of `deciders` (the track
    /// is the fallback on neither side).
    without_shared: bool,
    /// A leaf where the other rules make the change but a shared rule that
    /// reads what the search does not vary blocks the track on both sides.
    blocked_by_shared: bool,
    shared: &'q [Vec<bool>; 2],
    qs: Vec<usize>,
    assigned: Vec<bool>,
    point: Point,
    states: [SideState; 2],
}

impl Query<'_, '_> {
    fn settled(&self, side: usize, r: usize) -> bool {
        self.pair.rule_q[side].get(r).is_some_and(|qs| {
            qs.iter()
                .all(|q| self.assigned.get(*q).copied().unwrap_or(false))
        })
    }

    /// Whether no request below this node can be a witness.
    fn cut(&self) -> bool {
        let (a, d) = (self.allow, self.deny);
        let sa = self.pair.subjects[a];
        let ta = self.ts[a];
        // The allowing side surely masks the track (the fallback: only a forbid does).
        let masked = self.deciders[a].iter().any(|&r| {
            self.settled(a, r)
                && self.states[a].blocks(r, ta)
                && (ta != sa.fallback
                    || sa.rules.rules().get(r).map(|i| i.effect) == Some(EffectKind::Forbid))
        });
        // The denying side surely allows the track: no settled rule blocks it.
        let td = self.ts[d];
        let open = self.deciders[d]
            .iter()
            .all(|&r| self.settled(d, r) && !self.states[d].blocks(r, td));
        masked || open
    }

    fn dfs(&mut self, depth: usize, meter: &Meter) -> Result<Option<Point>, ()> {
        if meter.exhausted() {
            return Err(());
        }
        // A node evaluates both real masks: their work, as in one rule set's searches.
        meter.charge(1 + self.pair.spaces[0].mask_weight + self.pair.spaces[1].mask_weight);
        for side in SIDES {
            self.states[side].evaluate(self.pair, side, &self.point);
        }
        let Some(&q) = self.qs.get(depth) else {
            let hit = self.states[self.allow]
                .allowed
                .contains(self.ts[self.allow])
                && !self.states[self.deny].allowed.contains(self.ts[self.deny]);
            if !hit && self.without_shared {
                let blocked = |side: usize| {
                    self.deciders[side]
                        .iter()
                        .any(|&r| self.states[side].blocks(r, self.ts[side]))
                };
                if !blocked(self.allow) && blocked(self.deny) {
                    // The shared rules that block it here: if every one of them is
                    // exact, it blocks on every request of this cell, and the cell
                    // holds no witness; otherwise this is left open.
                    let a = self.allow;
                    let free_blocker = (0..self.pair.subjects[a].rules.len()).any(|r| {
                        self.shared[a].get(r).copied().unwrap_or(false)
                            && self.states[a].blocks(r, self.ts[a])
                            && self.pair.spaces[a]
                                .rule_free
                                .get(r)
                                .is_some_and(|f| !f.is_empty())
                    });
                    self.blocked_by_shared |= free_blocker;
                }
            }
            return Ok(hit.then(|| self.point.clone()));
        };
        if self.cut() {
            return Ok(None);
        }
        let n = self.pair.reps.get(q).map_or(0, Vec::len);
        if let Some(a) = self.assigned.get_mut(q) {
            *a = true;
        }
        let mut res = Ok(None);
        for i in 0..n {
            if let Some(p) = self.point.get_mut(q) {
                *p = i;
            }
            res = self.dfs(depth + 1, meter);
            if !matches!(res, Ok(None)) {
                break;
            }
        }
        if let Some(a) = self.assigned.get_mut(q) {
            *a = false;
        }
        if res.is_ok() {
            if let Some(p) = self.point.get_mut(q) {
                *p = 0;
            }
        }
        res
    }
}

fn query(
    pair: &Pair<'_>,
    shared: &[Vec<bool>; 2],
    ts: [usize; 2],
    allow: usize,
    deny: usize,
    o: &Options,
    left: &std::cell::Cell<u64>,
) -> Change {
    let mut change = Change {
        track: String::new(),
        direction: Direction::NewlyAllowed,
        status: Status::None,
        witness: None,
        reasons: Vec::new(),
    };
    if let Some(why) = &pair.refused {
        // No request is valid for both bundles: nothing changes on one.
        change.reasons = vec![format!("no request is valid for both bundles: {why}")];
        return change;
    }
    // When the track is the fallback on neither side, a rule both sides share
    // cannot make the difference: where it blocks the track on one side it does
    // on the other. Searching without those rules (whatever they read) is exact
    // for a proof that no request makes the change.
    let without_shared = SIDES
        .iter()
        .all(|&side| ts[side] != pair.subjects[side].fallback);
    let all = SIDES.map(|side| deciders(pair.subjects[side], ts[side]));
    let deciders = SIDES.map(|side| {
        let mut d = all[side].clone();
        if without_shared {
            d.retain(|&r| !shared[side].get(r).copied().unwrap_or(false));
        }
        d
    });
    // The shared rules' quantities are searched too, so that a witness is found
    // where a shared rule lets the track through.
    let mut qs: Vec<usize> = Vec::new();
    for side in SIDES {
        for q in quantities_of(&pair.spaces[side], &all[side]) {
            if let Some(j) = pair.joint_of[side].get(q).copied().flatten() {
                if !qs.contains(&j) {
                    qs.push(j);
                }
            }
        }
    }
    let mut q = Query {
        pair,
        ts,
        allow,
        deny,
        deciders,
        without_shared,
        blocked_by_shared: false,
        shared,
        qs,
        assigned: vec![false; pair.reps.len()],
        point: pair.origin(),
        states: SIDES.map(|side| SideState::new(pair.subjects[side])),
    };
    let meter = Meter::new(o.budget.min(left.get()));
    let found = q.dfs(0, &meter);
    left.set(left.get().saturating_sub(meter.spent()));
    match found {
        Ok(Some(p)) => match witness(pair, &p, ts, allow, deny) {
            Ok(w) => {
                change.status = Status::Witnessed;
                change.witness = Some(w);
            }
            Err(why) => {
                change.status = Status::Undecided;
                change.reasons = vec![why];
            }
        },
        Ok(None) => {
            let mut reasons = open_reasons(&q);
            if q.blocked_by_shared {
                reasons.insert(
                    0,
                    "on the requests searched, a rule both versions share blocks the track on both sides, and it reads what the search does not vary".to_owned(),
                );
            }
            if !reasons.is_empty() {
                change.status = Status::Undecided;
                change.reasons = reasons;
            }
        }
        Err(()) => {
            change.status = Status::Undecided;
            change.reasons = open_reasons(&q);
            change.reasons.insert(
                0,
                "the search budget ran out before every case was covered".to_owned(),
            );
        }
    }
    change
}

/// Why a search that found nothing proves nothing: free atoms of the rules it
/// read on either side, inexact splits of the quantities it searched.
fn open_reasons(q: &Query<'_, '_>) -> Vec<String> {
    let mut why = Vec::new();
    for side in SIDES {
        let s = q.pair.subjects[side];
        let which = if side == 0 { "old" } else { "new" };
        for &r in &q.deciders[side] {
            for f in q.pair.spaces[side].rule_free.get(r).into_iter().flatten() {
                let id = s.rules.rule(r).id.clone();
                let w = format!("{which} rule `{id}`: {f}");
                if !why.contains(&w) {
                    why.push(w);
                }
            }
        }
    }
    for &j in &q.qs {
        if let Some(Some(w)) = q.pair.inexact.get(j) {
            if !why.contains(w) {
                why.push(w.clone());
            }
        }
    }
    why
}

/// The witness at `p` through JSON and both real masks: side `allow` must allow
/// the track and side `deny` must not.
fn witness(
    pair: &Pair<'_>,
    p: &Point,
    ts: [usize; 2],
    allow: usize,
    deny: usize,
) -> Result<serde_json::Value, String> {
    let req = reparse(&pair.request(p))?;
    let (_, allowed_a, _, ()) = masked(pair.subjects[allow], &req, |_, _, _, _| ())?;
    let (_, allowed_d, _, ()) = masked(pair.subjects[deny], &req, |_, _, _, _| ())?;
    if !allowed_a.contains(ts[allow]) || allowed_d.contains(ts[deny]) {
        return Err("a witness the search found did not reproduce through both masks".to_owned());
    }
    serde_json::to_value(&req).map_err(|e| e.to_string())
}
