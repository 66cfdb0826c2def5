//! Synthetic bundles of a chosen size, for benchmarks, load tests and property tests.
//!
//! [`SynthSpec::write`] lays out a complete bundle directory — manifest, a rule file
//! with a realistic mix of rules, and an MLP policy written by the library's ONNX
//! writer — and [`SynthSpec::request`] builds a matching request. Everything is
//! derived from a seed, so two runs produce the same bundle byte for byte.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::{Array1, Array2};
use sha2::{Digest, Sha256};

use crate::context::{Context, Value};
use crate::engine::Request;
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
        }
    }

    /// The large benchmark case: 512-float observation, two hidden layers of 512, 256 tracks, 1,000 rules.
    pub fn large() -> Self {
        Self {
            obs_dim: 512,
            hidden: 512,
            tracks: 256,
            rules: 1000,
            seed: 2,
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

    /// The rules text: ~70% context conditions, ~20% history conditions, ~10% track predicates.
    pub fn rules_text(&self) -> String {
        let mut rng = Lcg::new(self.seed ^ 0x5eed);
        let mut s = String::from("# Synthetic rule set for benchmarks.\n\n");
        for i in 0..self.rules {
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
            s.push('\n');
        }
        s
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
                "[[tracks]]\nid = \"k{t}\"\ntext = \"synthetic track {t}\"\ntags = [{}]\nattrs = {{ min_age = {}, price = {:.1} }}\n",
                tags.join(", "),
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
        let mut req = Request::new(format!("synthetic-{n}"), 1_767_225_600_000);
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
        req
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
