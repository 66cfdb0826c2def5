//! Embeds the engine in a host application: load a bundle, decide a few turns of one
//! conversation, print each decision's explanation, then hot-swap the bundle.
//!
//! Run with `cargo run --example decide`.

use talktrack::Context;
use talktrack::{Engine, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load("policies/telecom-upsell")?;
    let context = Context::new()
        .with("age", 34)
        .with("first_name", "Alex")
        .with("region", "north")
        .with("segment", "young_family")
        .with("plan", "basic")
        .with("tenure_months", 30)
        .with("monthly_spend", 25.0)
        .with("open_complaint", false)
        .with("marketing_consent", true)
        .with("credit_score", 700)
        .with("products", Vec::<String>::new());

    // The host keeps the history; the engine is stateless between requests.
    let mut req = Request::new("demo-1", 1_795_000_000_000);
    req.context = context;
    let replies = ["positive", "question", "neutral", "positive"];
    for reply in replies {
        let d = engine.decide(&req)?;
        println!("{}", d.explain());
        let Some(track) = d.chosen_id() else { break };
        req.history.tracks.push(track.to_owned());
        req.history.replies.push(reply.to_owned());
    }

    // A new bundle version is validated off the hot path; a broken one never replaces the one serving.
    match engine.reload("policies/telecom-upsell") {
        Ok(b) => println!("now serving {} {} ({})", b.name(), b.version(), b.digest()),
        Err(e) => eprintln!("{}", talktrack::render(&e.problems)),
    }
    Ok(())
}
