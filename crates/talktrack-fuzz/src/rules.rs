//! The rules target: a rule file through the parser, the checker and the
//! compiler (against the telecom example's schema and catalog), the evaluator
//! (on a few turns), and the formatter, which must be idempotent.

use std::path::Path;

use talktrack::tooling::{compile_str, format_rules, Resolved, RuleEnv, TurnView, Verdict};
use talktrack::Context;

use crate::fixtures::telecom;

/// Runs one rule file given as bytes (lossily decoded, as an editor would show it).
pub fn rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.rules");
    let b = telecom();
    let env = RuleEnv {
        schema: b.schema(),
        catalog: b.catalog(),
        replies: &b.manifest().replies,
        outcomes: &b.manifest().contact_outcomes,
        max_turns: b.manifest().max_turns,
    };
    if let Ok((set, _warnings)) = compile_str(&text, path, &env) {
        let ctx = Context::new()
            .with("age", 17)
            .with("credit_score", 500)
            .with("monthly_spend", 0.0)
            .with("products", Vec::<String>::new());
        let mut values = Resolved::new();
        // A partial context: required attributes missing must fail closed, not panic.
        let _ = b.schema().resolve(&ctx, &mut values);
        let n = b.catalog().len();
        let used: Vec<u16> = (0..n).map(|i| (i % 3) as u16).collect();
        let mut verdict = Verdict::new(n);
        for (turn, last_reply) in [(0, None), (3, Some(0)), (u32::MAX, Some(u32::MAX))] {
            let view = TurnView {
                values: &values,
                now_ms: 1_795_000_000_000,
                turn,
                max_turns: b.manifest().max_turns,
                used: &used,
                last_reply,
                embedding: None,
                contacts: talktrack::tooling::ContactLog::empty(),
            };
            set.evaluate(&view, &mut verdict);
        }
    }
    if let Ok(formatted) = format_rules(&text, path) {
        match format_rules(&formatted, path) {
            Ok(again) => assert_eq!(again, formatted, "formatting is not idempotent"),
            Err(p) => panic!("formatted rules do not parse: {p:?}\n{formatted}"),
        }
    }
}
