//! A synthetic conversation log for the `telecom-upsell` example bundle: what a
//! contact centre's logs look like when no real ones can be shipped.
//!
//! Customers have a context (age, region, segment, plan, tenure, spend, an open
//! complaint, marketing consent; some a credit score). The logged agents pick tracks
//! loosely (not always within the rules). The customers' replies follow a simple,
//! documented model: service tracks mostly earn positive or neutral replies; offers
//! convert (`agree`) more often after a positive reply and are refused more often
//! after an objection or a complaint; a conversation ends on `agree` or `refuse`, or
//! when the customer drops out (10% a turn). The outcome is the conversion, valued at
//! the offer's monthly price. It exists to exercise the trainer on a template whose
//! rules read context and track usage; it is not evidence about real customers.

use std::io::Write;

use talktrack::synth::Lcg;

const TRACKS: [(&str, bool, f64); 16] = [
    // (id, is an offer, price)
    ("greet", false, 0.0),
    ("ask_current_plan", false, 0.0),
    ("needs_discovery", false, 0.0),
    ("fee_disclosure", false, 0.0),
    ("quote_plus_plan", true, 25.0),
    ("offer_5g_upgrade", true, 10.0),
    ("offer_unlimited", true, 45.0),
    ("family_bundle", true, 60.0),
    ("fiber_cross_sell", true, 40.0),
    ("device_financing", true, 30.0),
    ("credit_card_offer", true, 5.0),
    ("insurance_addon", true, 8.0),
    ("loyalty_discount", true, 15.0),
    ("apologize_and_resolve", false, 0.0),
    ("summarize_and_close", false, 0.0),
    ("handover_to_human", false, 0.0),
];

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const SEGMENTS: [&str; 5] = ["young_family", "student", "senior", "business", "standard"];
const PLANS: [&str; 4] = ["prepaid", "basic", "plus", "unlimited"];

/// Writes `n` synthetic conversations as JSONL (the trainer's log format) to `out`.
pub fn write(n: usize, seed: u64, out: &mut dyn Write) -> std::io::Result<()> {
    let mut rng = Lcg::new(seed);
    for i in 0..n {
        let age = if rng.unit() < 0.05 {
            16 + rng.below(2)
        } else {
            18 + rng.below(62)
        };
        let segment = SEGMENTS[rng.below(SEGMENTS.len())];
        let mut context = serde_json::json!({
            "age": age,
            "region": REGIONS[rng.below(REGIONS.len())],
            "segment": segment,
            "plan": PLANS[rng.below(PLANS.len())],
            "tenure_months": rng.below(120),
            "monthly_spend": (10.0 + 140.0 * f64::from(rng.unit())).round(),
            "open_complaint": rng.unit() < 0.1,
            "marketing_consent": rng.unit() < 0.6,
        });
        if rng.unit() < 0.7 {
            context["credit_score"] = serde_json::json!(450 + rng.below(400));
        }
        let mut turns = Vec::new();
        let mut last = "start";
        let mut converted = None;
        for _ in 0..12 {
            // Loosely scripted agents: service first, offers later, not always by the rules.
            let early = turns.len() < 2;
            let t = if early && rng.unit() < 0.7 {
                rng.below(4)
            } else {
                rng.below(TRACKS.len() - 1)
            };
            let (track, offer, price) = TRACKS[t];
            let u = f64::from(rng.unit());
            let reply = if offer {
                let mut agree = 0.08;
                let mut refuse = 0.2;
                if last == "positive" {
                    agree += 0.17;
                }
                if last == "objection" || last == "complaint" {
                    refuse += 0.25;
                }
                if track == "family_bundle" && segment == "young_family" {
                    agree += 0.1;
                }
                if u < agree {
                    "agree"
                } else if u < agree + refuse {
                    "refuse"
                } else if u < agree + refuse + 0.25 {
                    "objection"
                } else if u < agree + refuse + 0.45 {
                    "question"
                } else {
                    "neutral"
                }
            } else if track == "apologize_and_resolve" && last == "complaint" {
                if u < 0.7 {
                    "positive"
                } else {
                    "neutral"
                }
            } else if u < 0.45 {
                "positive"
            } else if u < 0.75 {
                "neutral"
            } else if u < 0.88 {
                "question"
            } else if u < 0.95 {
                "complaint"
            } else {
                "no_reply"
            };
            turns.push(serde_json::json!({ "track": track, "reply": reply }));
            last = reply;
            if reply == "agree" {
                converted = Some(price);
                break;
            }
            if reply == "refuse" || rng.unit() < 0.1 {
                break;
            }
        }
        let outcome = match converted {
            Some(v) => serde_json::json!({ "converted": true, "value": v }),
            None => serde_json::json!({ "converted": false }),
        };
        let line = serde_json::json!({
            "id": format!("tel-{i:05}"),
            "context": context,
            "turns": turns,
            "outcome": outcome,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
