//! Synthetic bundles of a chosen size, for benchmarks, load tests and property tests.
//!
//! [`SynthSpec::write`] lays out a complete bundle directory — manifest, a rule file
//! with a realistic mix of rules, and an MLP policy written by the library's ONNX
//! writer — and [`SynthSpec::request`] builds a matching request. Everything is
//! derived from a seed, so two runs produce the same bundle byte for byte.
//!
//! [`SynthSpec::medium_with_contacts`] is the medium bundle with a tenth of its
//! rules turned into contact policies (`contacts(..)`) and requests carrying a
//! customer's past contacts; its other rules, catalog and requests are those of
//! [`SynthSpec::medium`], drawn from the same seeds.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::{Array1, Array2};
use sha2::{Digest, Sha256};

use crate::context::{Context, Value};
use crate::engine::{Contact, Request};
use crate::policy::onnx_writer::{write_mlp, Activation, Dense, Head, MlpSpec};

/// The size of a synthetic bundle.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    /// Observation width (at least `max_turns + replies + 1 + tracks + 1`; the rest is an embedding).
    pub obs_dim: usize,
    /// Width of each of the two hidden layers.
    pub hidden: usize,
    /// Number of catalog tracks.
    pub tracks: usize,
    /// Number of rules.
    pub rules: usize,
    /// Seed for everything random.
    pub seed: u64,
    /// Share of the rules that are contact policies reading `contacts(..)` (0 for none).
    /// They replace rules of the plain set; the others stay as they are.
    pub contact_rules_share: f32,
    /// Past contacts each request carries (0 for none).
    pub contacts_per_request: usize,
}

const MAX_TURNS: u32 = 20;
const REPLIES: [&str; 8] = [
    "positive",
    "neutral",
    "question",
    "objection",
    "complaint",
    "agree",
    "refuse",
    "no_reply",
];

const INT_ATTRS: usize = 8;
const FLOAT_ATTRS: usize = 4;
const ENUM_ATTRS: usize = 4;
const BOOL_ATTRS: usize = 4;
const VARIANTS: [&str; 5] = ["v0", "v1", "v2", "v3", "v4"];
/// The contact outcomes of bundles with contact policies.
const OUTCOMES: [&str; 4] = ["offered", "accepted", "declined", "no_answer"];
/// Products of bundles with contact policies: track `k{t}` is of product `p{t % PRODUCTS}`.
const PRODUCTS: usize = 8;
const DAY_MS: i64 = 86_400_000;
/// The request time of every synthetic request: 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

/// A small deterministic generator (SplitMix64); enough for synthetic data.
#[derive(Clone, Debug)]
pub struct Lcg(u64);

impl Lcg {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

impl SynthSpec {
    /// The medium benchmark case: 128-float observation, two hidden layers of 256, 64 tracks, 100 rules.
    pub fn medium() -> Self {
        Self {
            obs_dim: 128,
            hidden: 256,
            tracks: 64,
            rules: 100,
            seed: 1,
            contact_rules_share: 0.0,
            contacts_per_request: 0,
        }
    }

    /// The medium case with contact policies: 10% of its 100 rules count past
    /// contacts (offer-frequency limits, pauses after a refusal, per-track and
    /// per-product limits, a first-contact boost) and every request carries 50
    /// past contacts spread over six months, most about a few tracks the customer
    /// was approached on again and again.
    pub fn medium_with_contacts() -> Self {
        Self {
            contact_rules_share: 0.1,
            contacts_per_request: 50,
            ..Self::medium()
        }
    }

    /// Whether the bundle declares contact outcomes and products.
    fn with_contacts(&self) -> bool {
        self.contact_rules_share > 0.0 || self.contacts_per_request > 0
    }

    /// Which rules are contact policies: exactly `contact_rules_share` of them, picked
    /// by a generator of their own so that the plain rules keep their draws.
    fn contact_rule_flags(&self) -> Vec<bool> {
        let share = self.contact_rules_share.clamp(0.0, 1.0);
        let n = ((self.rules as f32 * share).round() as usize).min(self.rules);
        let mut order: Vec<usize> = (0..self.rules).collect();
        let mut rng = Lcg::new(self.seed ^ 0x00c0_a1c7);
        for i in 0..n {
            let j = i + rng.below(self.rules - i);
            order.swap(i, j);
        }
        let mut flags = vec![false; self.rules];
        for &i in &order[..n] {
            flags[i] = true;
        }
        flags
    }

    /// The large benchmark case: 512-float observation, two hidden layers of 512, 256 tracks, 1,000 rules.
    pub fn large() -> Self {
        Self {
            obs_dim: 512,
            hidden: 512,
            tracks: 256,
            rules: 1000,
            seed: 2,
            contact_rules_share: 0.0,
            contacts_per_request: 0,
        }
    }

    /// Tags in the catalog: one per four tracks, each track carrying two.
    fn n_tags(&self) -> usize {
        (self.tracks / 4).max(4)
    }

    fn embedding_dim(&self) -> usize {
        self.obs_dim
            .saturating_sub(MAX_TURNS as usize + REPLIES.len() + 1 + self.tracks + 1)
    }

    /// The rules text: ~70% context conditions, ~20% history conditions, ~10% track
    /// predicates; with a `contact_rules_share`, that share of them replaced by
    /// contact policies.
    pub fn rules_text(&self) -> String {
        let mut rng = Lcg::new(self.seed ^ 0x5eed);
        let mut contact_rng = Lcg::new(self.seed ^ 0x00c0_47ac);
        let contact_rules = self.contact_rule_flags();
        let mut out = String::from("# Synthetic rule set for benchmarks.\n\n");
        for i in 0..self.rules {
            // Every rule draws its plain form, so that the plain rules stay the same
            // whichever rules are contact policies.
            let mut s = String::new();
            let kind = rng.below(10);
            let _ = writeln!(s, "rule r{i}\n  because \"synthetic rule {i}\"");
            if kind < 7 {
                let cond = self.context_condition(&mut rng);
                let _ = writeln!(s, "  when {cond}");
                let roll = rng.below(20);
                if roll < 15 {
                    let _ = writeln!(s, "  forbid {}", self.targets(&mut rng));
                } else if roll < 16 && rng.below(3) == 0 {
                    let tags: Vec<String> = (0..self.n_tags() / 2)
                        .map(|_| format!("t{}", rng.below(self.n_tags())))
                        .collect();
                    let _ = writeln!(s, "  only tracks tagged {}", dedup(tags).join(", "));
                } else {
                    let by = (rng.below(20) as f32 - 10.0) / 10.0;
                    let _ = writeln!(s, "  boost {} by {by}", self.targets(&mut rng));
                }
            } else if kind < 9 {
                let cond = match rng.below(5) {
                    0 => format!("used(k{})", rng.below(self.tracks)),
                    1 => format!(
                        "count(tagged t{}) >= {}",
                        rng.below(self.n_tags()),
                        3 + rng.below(3)
                    ),
                    2 => format!("turn > {}", 15 + rng.below(4)),
                    3 => "turns_left <= 1".to_owned(),
                    _ => format!("last_reply == {}", REPLIES[rng.below(REPLIES.len())]),
                };
                let _ = writeln!(s, "  when {cond}");
                if rng.below(4) == 0 {
                    let _ = writeln!(s, "  penalize {} by 0.5", self.targets(&mut rng));
                } else {
                    let _ = writeln!(s, "  forbid {}", self.targets(&mut rng));
                }
            } else if rng.below(2) == 0 {
                let _ = writeln!(
                    s,
                    "  forbid tracks where track.min_age > customer.i{}",
                    rng.below(INT_ATTRS)
                );
            } else {
                let _ = writeln!(
                    s,
                    "  forbid tracks where track.price > customer.f{} * 1000",
                    rng.below(FLOAT_ATTRS)
                );
            }
            if contact_rules.get(i).copied().unwrap_or(false) {
                out.push_str(&self.contact_rule(i, &mut contact_rng));
            } else {
                out.push_str(&s);
            }
            out.push('\n');
        }
        out
    }

    /// A contact policy as compliance teams write them: an offer-frequency limit
    /// (40%), a pause after a refusal (30%), a limit on repeated approaches about
    /// one track (10%), no upsell of a product just bought (10%), a boost for a
    /// first contact (10%).
    fn contact_rule(&self, i: usize, rng: &mut Lcg) -> String {
        let tag = rng.below(self.n_tags());
        let (when, effect) = match rng.below(10) {
            0..=3 => (
                format!(
                    "contacts(tagged t{tag}, offered, within 30d) >= {}",
                    2 + rng.below(2)
                ),
                format!("forbid tracks tagged t{tag}"),
            ),
            4..=6 => (
                format!(
                    "contacts(tagged t{tag}, declined, within {}d) >= 1",
                    [7, 14][rng.below(2)]
                ),
                format!("forbid tracks tagged t{tag}"),
            ),
            7 => {
                let k = rng.below(self.tracks);
                (
                    format!("contacts(track k{k}, [offered, no_answer], within 14d) >= 2"),
                    format!("penalize track k{k} by 0.5"),
                )
            }
            8 => {
                // A product some track has.
                let p = rng.below(PRODUCTS.min(self.tracks).max(1));
                let ids: Vec<String> = (p..self.tracks.max(1))
                    .step_by(PRODUCTS)
                    .map(|t| format!("k{t}"))
                    .collect();
                (
                    format!("contacts(product p{p}, accepted, within 90d) >= 1"),
                    format!("forbid tracks {}", ids.join(", ")),
                )
            }
            _ => (
                format!(
                    "customer.b{} and contacts(tagged t{tag}, within 30d) == 0",
                    rng.below(BOOL_ATTRS)
                ),
                format!("boost tracks tagged t{tag} by 0.5"),
            ),
        };
        format!(
            "rule r{i}\n  because \"synthetic contact policy {i}\"\n  when {when}\n  {effect}\n"
        )
    }

    /// A context condition that holds for about 1,000 / `rules` percent of requests
    /// (10% with 100 rules, 1% with 1,000): in a real rule set most rules do not
    /// apply to most customers.
    fn context_condition(&self, rng: &mut Lcg) -> String {
        let q = (2000 / self.rules.max(1)).max(1);
        let base = match rng.below(4) {
            0 => format!("customer.f{} > 0.5", rng.below(FLOAT_ATTRS)),
            1 => format!(
                "customer.e{} in [{}, {}]",
                rng.below(ENUM_ATTRS),
                VARIANTS[rng.below(5)],
                VARIANTS[rng.below(5)]
            ),
            2 => format!("customer.b{}", rng.below(BOOL_ATTRS)),
            _ => format!("not customer.b{}", rng.below(BOOL_ATTRS)),
        };
        format!("{base} and customer.i{} < {q}", rng.below(INT_ATTRS))
    }

    fn targets(&self, rng: &mut Lcg) -> String {
        if rng.below(3) == 0 {
            format!("tracks tagged t{}", rng.below(self.n_tags()))
        } else {
            let ids: Vec<String> = (0..1 + rng.below(3))
                .map(|_| format!("k{}", rng.below(self.tracks)))
                .collect();
            format!("tracks {}", dedup(ids).join(", "))
        }
    }

    /// The ONNX policy: obs → hidden → hidden → one score per track, seeded weights.
    pub fn policy_bytes(&self) -> Result<Vec<u8>, crate::policy::PolicyError> {
        let mut rng = Lcg::new(self.seed ^ 0x0dd5);
        let mut layer = |i: usize, o: usize| {
            let scale = (2.0 / i as f32).sqrt();
            Dense {
                weights: Array2::from_shape_fn((i, o), |_| (rng.unit() * 2.0 - 1.0) * scale),
                bias: Array1::from_shape_fn(o, |_| (rng.unit() - 0.5) * 0.1),
            }
        };
        let layers = vec![
            layer(self.obs_dim, self.hidden),
            layer(self.hidden, self.hidden),
            layer(self.hidden, self.tracks),
        ];
        write_mlp(&MlpSpec {
            layers,
            hidden: Activation::Relu,
            head: Head::Identity,
            input: "obs".into(),
            output: "scores".into(),
            opset: 17,
            doc: "synthetic benchmark policy (seeded random weights)".into(),
        })
    }

    /// The manifest for a policy with checksum `sha256`.
    pub fn manifest(&self, sha256: &str) -> String {
        let mut rng = Lcg::new(self.seed ^ 0x7a65);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "format = 1\nname = \"synthetic-{}x{}\"\nversion = \"1.0.0\"\nmax_turns = {MAX_TURNS}\nfallback = \"k0\"",
            self.tracks, self.rules
        );
        let replies: Vec<String> = REPLIES.iter().map(|r| format!("\"{r}\"")).collect();
        if self.with_contacts() {
            let outcomes: Vec<String> = OUTCOMES.iter().map(|o| format!("\"{o}\"")).collect();
            let _ = writeln!(s, "contact_outcomes = [{}]", outcomes.join(", "));
        }
        let _ = writeln!(
            s,
            "replies = [{}]\nrules = [\"synthetic.rules\"]\n",
            replies.join(", ")
        );
        let _ = writeln!(
            s,
            "[policy]\nfile = \"policy.onnx\"\nsha256 = \"{sha256}\"\ninput = \"obs\"\noutput = \"scores\"\nscores = \"logits\"\n"
        );
        s.push_str("[context]\n");
        for i in 0..INT_ATTRS {
            let _ = writeln!(s, "i{i} = \"int\"");
        }
        for i in 0..FLOAT_ATTRS {
            let _ = writeln!(s, "f{i} = \"float\"");
        }
        for i in 0..ENUM_ATTRS {
            let _ = writeln!(
                s,
                "e{i} = {{ type = \"enum\", values = [\"v0\", \"v1\", \"v2\", \"v3\", \"v4\"] }}"
            );
        }
        for i in 0..BOOL_ATTRS {
            let _ = writeln!(s, "b{i} = \"bool\"");
        }
        s.push_str("\n[track_attributes]\nmin_age = \"int\"\nprice = \"float\"\n\n");
        for kind in ["turn_one_hot", "last_reply_one_hot", "used_tracks"] {
            let _ = writeln!(s, "[[features]]\nkind = \"{kind}\"\n");
        }
        let _ = writeln!(s, "[[features]]\nkind = \"attr\"\nname = \"f0\"\n");
        let _ = writeln!(
            s,
            "[[features]]\nkind = \"embedding\"\ndim = {}\n",
            self.embedding_dim()
        );
        for t in 0..self.tracks {
            let a = rng.below(self.n_tags());
            let b = rng.below(self.n_tags());
            let tags = dedup(vec![format!("\"t{a}\""), format!("\"t{b}\"")]);
            let _ = writeln!(
                s,
                "[[tracks]]\nid = \"k{t}\"\ntext = \"synthetic track {t}\"\ntags = [{}]",
                tags.join(", ")
            );
            if self.with_contacts() {
                let _ = writeln!(s, "product = \"p{}\"", t % PRODUCTS);
            }
            let _ = writeln!(
                s,
                "attrs = {{ min_age = {}, price = {:.1} }}\n",
                [0, 0, 0, 0, 0, 0, 0, 16, 18, 21][rng.below(10)],
                rng.unit() * 100.0
            );
        }
        s
    }

    /// Writes the whole bundle into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let policy = self
            .policy_bytes()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let sha = hex::encode(Sha256::digest(&policy));
        std::fs::write(dir.join("policy.onnx"), &policy)?;
        std::fs::write(dir.join("synthetic.rules"), self.rules_text())?;
        std::fs::write(dir.join("bundle.toml"), self.manifest(&sha))?;
        Ok(())
    }

    /// A request for this bundle, varied by `n`.
    pub fn request(&self, n: u64) -> Request {
        let mut rng = Lcg::new(self.seed ^ n.wrapping_mul(0x9e37));
        let mut ctx = Context::new();
        for i in 0..INT_ATTRS {
            ctx.set(format!("i{i}"), Value::Int(rng.below(100) as i64));
        }
        for i in 0..FLOAT_ATTRS {
            ctx.set(format!("f{i}"), Value::Float(rng.unit() as f64));
        }
        for i in 0..ENUM_ATTRS {
            ctx.set(format!("e{i}"), Value::Str(VARIANTS[rng.below(5)].into()));
        }
        for i in 0..BOOL_ATTRS {
            ctx.set(format!("b{i}"), Value::Bool(rng.below(2) == 0));
        }
        let turns = rng.below(MAX_TURNS as usize - 1);
        let mut req = Request::new(format!("synthetic-{n}"), NOW_MS);
        req.context = ctx;
        req.history.tracks = (0..turns)
            .map(|_| format!("k{}", rng.below(self.tracks)))
            .collect();
        req.history.replies = (0..turns)
            .map(|_| REPLIES[rng.below(REPLIES.len())].to_owned())
            .collect();
        req.embedding = Some(
            (0..self.embedding_dim())
                .map(|_| rng.unit() - 0.5)
                .collect(),
        );
        req.contacts = self.contacts(n, &req.conversation_id);
        req
    }

    /// `contacts_per_request` past contacts of request `n`'s customer, oldest first,
    /// over the last 180 days (half of them in the last 30): 60% about three tracks
    /// the customer is approached on again and again, the rest about any track;
    /// mostly offers and unanswered calls, some refusals and purchases, a few with
    /// no recorded outcome. Two are earlier turns of the current conversation, in
    /// the last hour (the rules do not count those: `history` tells them), and one
    /// customer in eight has a contact about a retired track.
    fn contacts(&self, n: u64, current: &str) -> Vec<Contact> {
        if self.contacts_per_request == 0 || self.tracks == 0 {
            return Vec::new();
        }
        let mut rng = Lcg::new(self.seed ^ 0x00c0_47ac ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let focus: Vec<usize> = (0..3).map(|_| rng.below(self.tracks)).collect();
        let retired = rng.below(8) == 0;
        let mut out: Vec<Contact> = (0..self.contacts_per_request)
            .map(|i| {
                let this_conversation = i + 2 >= self.contacts_per_request;
                let days = if rng.below(2) == 0 { 30 } else { 180 };
                let ago = if this_conversation {
                    rng.below(3_600_000) as i64
                } else {
                    rng.below(days) as i64 * DAY_MS + rng.below(DAY_MS as usize) as i64
                };
                let track = if retired && i == 0 {
                    "retired-offer".to_owned()
                } else if rng.below(10) < 6 {
                    format!("k{}", focus[rng.below(focus.len())])
                } else {
                    format!("k{}", rng.below(self.tracks))
                };
                let outcome = match rng.below(20) {
                    0..=7 => Some(OUTCOMES[0]),
                    8..=12 => Some(OUTCOMES[3]),
                    13..=16 => Some(OUTCOMES[2]),
                    17..=18 => Some(OUTCOMES[1]),
                    _ => None,
                };
                let conversation_id = if this_conversation {
                    current.to_owned()
                } else {
                    format!("past-{n}-{}", rng.below(20))
                };
                Contact {
                    time: NOW_MS - ago,
                    track,
                    outcome: outcome.map(str::to_owned),
                    conversation_id: Some(conversation_id),
                }
            })
            .collect();
        out.sort_by_key(|c| c.time);
        out
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
