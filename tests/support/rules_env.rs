//! A small consumer-credit schema, catalog and reply vocabulary shared by the rules tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use talktrack::tooling::{compile_str, RuleEnv, RuleSet, Verdict};
use talktrack::tooling::{AttrDecl, AttrType, Schema, Val};
use talktrack::tooling::{Catalog, Track};
use talktrack::tooling::{ContactLog, PastContact, TurnView};
use talktrack::Problem;
use talktrack::{Context, Value};

pub struct Fixture {
    pub schema: Schema,
    pub catalog: Catalog,
    pub replies: Vec<String>,
    pub outcomes: Vec<String>,
}

fn decl(name: &str, ty: AttrType, optional: bool) -> AttrDecl {
    AttrDecl {
        name: name.into(),
        ty,
        optional,
        protected: false,
        range: None,
    }
}

fn track(id: &str, tags: &[&str], attrs: &[(&str, Value)]) -> Track {
    let mut attrs = attrs.to_vec();
    if !attrs.iter().any(|(k, _)| *k == "min_age") {
        attrs.push(("min_age", Value::Int(0)));
    }
    Track {
        id: id.into(),
        text: String::new(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        product: None,
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub const TRACKS: [&str; 12] = [
    "greeting",
    "credit_card",
    "loan",
    "fee_disclosure",
    "price_quote",
    "upsell_tv",
    "cross_fiber",
    "family_plan",
    "family_bundle",
    "offer_5g",
    "closing_thanks",
    "handover",
];

impl Fixture {
    pub fn new() -> Self {
        let schema = Schema::new(vec![
            decl("age", AttrType::Int, false),
            decl(
                "segment",
                AttrType::Enum(vec![
                    "young_family".into(),
                    "senior".into(),
                    "student".into(),
                ]),
                false,
            ),
            decl("region", AttrType::String, false),
            decl("open_complaint", AttrType::Bool, false),
            decl("last_purchase", AttrType::Timestamp, true),
            decl("budget", AttrType::Float, true),
            decl("products", AttrType::StringSet, false),
            decl("vip", AttrType::Bool, true),
            decl("tenure", AttrType::Duration, true),
        ])
        .unwrap();
        let i = |v: i64| Value::Int(v);
        let f = |v: f64| Value::Float(v);
        let tracks = vec![
            track("greeting", &[], &[]),
            track(
                "credit_card",
                &["credit", "price"],
                &[("min_age", i(18)), ("price", f(0.0))],
            ),
            track("loan", &["credit"], &[("min_age", i(21))]),
            track("fee_disclosure", &["disclosure"], &[]),
            track("price_quote", &["price"], &[("price", f(10.0))]),
            track("upsell_tv", &["upsell"], &[("price", f(20.0))]),
            track("cross_fiber", &["cross_sell"], &[("price", f(30.0))]),
            track(
                "family_plan",
                &["family"],
                &[("min_age", i(18)), ("price", f(50.0))],
            ),
            track("family_bundle", &["family", "promo"], &[("price", f(70.0))]),
            track(
                "offer_5g",
                &["upsell"],
                &[("price", f(25.0)), ("min_age", i(16))],
            ),
            track("closing_thanks", &["closing"], &[]),
            track("handover", &["closing"], &[]),
        ];
        let catalog = Catalog::new(
            tracks,
            vec![
                decl("min_age", AttrType::Int, false),
                decl("price", AttrType::Float, true),
            ],
        )
        .unwrap();
        Self {
            schema,
            catalog,
            replies: ["complaint", "angry", "interested", "neutral"]
                .map(String::from)
                .to_vec(),
            outcomes: ["offered", "accepted", "declined", "no_answer"]
                .map(String::from)
                .to_vec(),
        }
    }

    pub fn env(&self) -> RuleEnv<'_> {
        RuleEnv {
            schema: &self.schema,
            catalog: &self.catalog,
            replies: &self.replies,
            outcomes: &self.outcomes,
            max_turns: 10,
        }
    }

    pub fn compile(&self, text: &str) -> Result<(RuleSet, Vec<Problem>), Vec<Problem>> {
        compile_str(text, Path::new("test.rules"), &self.env())
    }

    /// Compiles and fails the test on errors.
    pub fn rules(&self, text: &str) -> RuleSet {
        match self.compile(text) {
            Ok((r, _)) => r,
            Err(p) => panic!("{}", talktrack::render(&p)),
        }
    }

    pub fn track(&self, id: &str) -> usize {
        self.catalog.index(id).unwrap()
    }
}

/// A turn: a context, the history and the last reply.
pub struct Turn {
    pub ctx: Context,
    pub now_ms: i64,
    pub turn: u32,
    pub used: Vec<u16>,
    pub last_reply: Option<u32>,
    /// The past contacts, sorted by time as the engine keeps them.
    pub contacts: ContactLog,
}

impl Turn {
    /// An adult, not upset, nothing used yet.
    pub fn adult() -> Self {
        Self {
            ctx: Context::new()
                .with("age", 40)
                .with("segment", "senior")
                .with("region", "south")
                .with("open_complaint", false)
                .with("products", vec!["mobile".to_string()]),
            now_ms: 1_800_000_000_000,
            turn: 0,
            used: vec![0; TRACKS.len()],
            last_reply: None,
            contacts: ContactLog::new(),
        }
    }

    /// Adds a past contact `ago_ms` before now about track `id` (`None`: a
    /// retired track) with `outcome` (an index into the fixture's outcomes).
    pub fn contact(
        mut self,
        fx: &Fixture,
        ago_ms: i64,
        id: Option<&str>,
        outcome: Option<&str>,
    ) -> Self {
        let index = self.contacts.len() as u32;
        self.contacts.extend([PastContact {
            time_ms: self.now_ms - ago_ms,
            track: id.map(|id| fx.track(id) as u32),
            outcome: outcome.map(|o| fx.outcomes.iter().position(|x| x == o).unwrap() as u32),
            index,
        }]);
        self
    }

    pub fn with(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.ctx.set(k, v);
        self
    }

    pub fn used(mut self, fx: &Fixture, id: &str, n: u16) -> Self {
        self.used[fx.track(id)] = n;
        self
    }

    pub fn eval(&self, fx: &Fixture, rules: &RuleSet) -> Verdict {
        self.eval_with(fx, rules, false)
    }

    /// Evaluates with the plain tree walk ([`RuleSet::evaluate_reference`]).
    pub fn eval_reference(&self, fx: &Fixture, rules: &RuleSet) -> Verdict {
        self.eval_with(fx, rules, true)
    }

    fn eval_with(&self, fx: &Fixture, rules: &RuleSet, reference: bool) -> Verdict {
        let mut values: Vec<Option<Val>> = Vec::new();
        fx.schema.resolve(&self.ctx, &mut values).unwrap();
        let view = TurnView {
            values: &values,
            now_ms: self.now_ms,
            turn: self.turn,
            max_turns: 10,
            used: &self.used,
            last_reply: self.last_reply,
            embedding: None,
            contacts: &self.contacts,
        };
        let mut v = Verdict::new(rules.n_tracks());
        if reference {
            rules.evaluate_reference(&view, &mut v);
        } else {
            rules.evaluate(&view, &mut v);
        }
        v
    }
}

pub fn names(fx: &Fixture, set: impl IntoIterator<Item = usize>) -> Vec<&'static str> {
    let _ = fx;
    set.into_iter().map(|i| TRACKS[i]).collect()
}
