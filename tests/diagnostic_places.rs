//! Where a diagnostic points, for a person and for a machine: the same line and
//! column, counted in characters (not bytes) of the file as written, with the end
//! of the span and the other places it involves.

use std::path::Path;
use std::sync::Arc;

use miette::NamedSource;
use talktrack::tooling::{mask_request, BundleTemplate, MaskOutcome};
use talktrack::{render, Bundle, Code, Engine, Position, Problem, Request};

#[test]
fn a_span_after_non_ascii_text_is_placed_in_characters_everywhere() {
    // `é` is 2 bytes and `≥` 3: on its line, `agee` is character 23 but byte 26.
    let text = "x\nwhen \"é ≥ 1\" customer.agee < 18\n";
    let start = text.find("agee").unwrap();
    let path = Path::new("t.rules");
    let src = Arc::new(NamedSource::new("t.rules", text.to_owned()));
    let p = Problem::error(Code::RulesUnknownAttribute, path, "unknown")
        .at(&src, start..start + 4, "here")
        .with_related(path, &src, 0..1, "before");
    let r = p.range().unwrap();
    assert_eq!(
        (r.start, r.end),
        (
            Position {
                line: 2,
                column: 23
            },
            Position {
                line: 2,
                column: 27
            }
        )
    );
    assert_eq!(p.location(), "t.rules:2:23");
    let shown = render(std::slice::from_ref(&p));
    assert!(shown.contains("[t.rules:2:23]"), "{shown}");
    assert_eq!(p.related[0].range().end, Position { line: 1, column: 2 });
    // An empty span ends where it starts.
    let q = Problem::error(Code::RulesSyntax, path, "x").at(&src, 1..1, "");
    let r = q.range().unwrap();
    assert_eq!(r.start, r.end);
    assert_eq!(r.start, Position { line: 1, column: 2 });
    // A problem about a whole file has no range.
    assert!(Problem::error(Code::RulesSyntax, path, "x")
        .range()
        .is_none());
}

#[test]
fn a_template_masks_like_the_decision_of_its_bundle() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/telecom-upsell");
    let engine = Engine::with_bundle(Arc::new(Bundle::load(dir).unwrap()));
    let t = BundleTemplate::load(dir).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/requests/minor.json"
    ))
    .unwrap();
    let req = Request::from_json(&text).unwrap();
    let d = engine.decide(&req).unwrap();
    let (allowed, outcome) = mask_request(&t, &req).unwrap();
    assert_eq!(outcome, MaskOutcome::Allowed);
    let n = t.catalog().len();
    let from_decision: Vec<usize> = (0..n).filter(|&i| d.is_allowed(i)).collect();
    assert_eq!(allowed.iter().collect::<Vec<_>>(), from_decision);
    assert!(
        from_decision.len() < n,
        "the minor's request masks something"
    );
    // A request the bundle refuses is refused the same way.
    let mut bad = req.clone();
    bad.history.replies.push("shrug".into());
    assert_eq!(
        mask_request(&t, &bad).unwrap_err().to_string(),
        engine.decide(&bad).unwrap_err().to_string()
    );
}
