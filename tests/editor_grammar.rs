//! The TextMate grammar for `.rules` files (`editors/talktrack.tmLanguage.json`)
//! highlights exactly the keywords of the rules language (`grammar/rules.pest`):
//! the words that are keywords everywhere, and apart from them the words that are
//! keywords only inside `contacts(..)`.

use std::collections::BTreeSet;

const PEST: &str = include_str!("../grammar/rules.pest");
const TEXTMATE: &str = include_str!("../editors/talktrack.tmLanguage.json");

/// The string literals in `text` (pest writes them `"..."`; none of ours escapes a quote).
fn literals(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The body of the pest rule `name` (from `=` to the end of its braces).
fn pest_rule<'a>(name: &str) -> &'a str {
    let start = PEST
        .lines()
        .position(|l| l.split_whitespace().next() == Some(name) && l.contains('='))
        .unwrap_or_else(|| panic!("rules.pest has no rule `{name}`"));
    let rest: Vec<&str> = PEST.lines().skip(start).collect();
    let mut depth = 0i32;
    let mut end = 0usize;
    let joined = rest.join("\n");
    for (i, c) in joined.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let from = PEST.find(rest[0]).unwrap();
    &PEST[from..from + end + 1]
}

/// Every `kw_*` rule of the grammar with the words it matches.
fn pest_keyword_rules() -> Vec<(String, BTreeSet<String>)> {
    PEST.lines()
        .filter(|l| l.starts_with("kw_"))
        .map(|l| {
            let name = l.split_whitespace().next().unwrap().to_owned();
            (name, literals(l))
        })
        .collect()
}

/// The words of the `kw_*` rules that rule `name` uses.
fn pest_keywords_used_by(name: &str) -> BTreeSet<String> {
    let body = pest_rule(name);
    pest_keyword_rules()
        .into_iter()
        .filter(|(kw, _)| {
            body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == kw)
        })
        .flat_map(|(_, words)| words)
        .collect()
}

/// The words of a TextMate regex's keyword alternation(s): `(?<![\w-])(a|b)(?![\w-])`.
fn alternation(regex: &str) -> BTreeSet<String> {
    let open = r"(?<![\w-])(";
    let close = r")(?![\w-])";
    let mut out = BTreeSet::new();
    let mut rest = regex;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let j = after.find(close).expect("an alternation closes");
        let words = &after[..j];
        assert!(
            words.chars().all(|c| c.is_ascii_lowercase() || c == '|'),
            "not a keyword alternation: {words}"
        );
        out.extend(words.split('|').map(str::to_owned));
        rest = &after[j..];
    }
    out
}

/// The keyword alternations of every `match` and `begin` under `v`.
fn textmate_words(v: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.as_str()) {
                    ("match" | "begin", Some(re)) => out.extend(alternation(re)),
                    _ => out.extend(textmate_words(x)),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(textmate_words(x))),
        _ => {}
    }
    out
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn the_textmate_grammar_has_the_keywords_of_the_pest_grammar() {
    let tm: serde_json::Value = serde_json::from_str(TEXTMATE).expect("the grammar is JSON");
    assert_eq!(tm["scopeName"], "source.talktrack-rules");
    assert_eq!(tm["fileTypes"], serde_json::json!(["rules"]));
    let repo = &tm["repository"];

    // Keywords everywhere: the pest `keyword` rule, which is what keeps them out of names.
    let everywhere = literals(pest_rule("keyword"));
    assert!(everywhere.contains("forbid") && everywhere.contains("tagged"));
    let mut top = textmate_words(&repo["keywords"]);
    top.extend(textmate_words(&repo["rule-head"]));
    assert_eq!(top, everywhere, "keywords highlighted everywhere");

    // Every `kw_*` rule's words are highlighted somewhere, and nothing else is.
    let all: BTreeSet<String> = pest_keyword_rules()
        .into_iter()
        .flat_map(|(_, w)| w)
        .collect();
    assert_eq!(textmate_words(&tm), all, "every keyword of rules.pest");

    // Inside `contacts(..)`: the keywords of the call, `contacts`, `product` and
    // `within` among them, which are not keywords elsewhere.
    let mut call = pest_keywords_used_by("contacts_call");
    call.extend(pest_keywords_used_by("contact_filter"));
    call.extend(pest_keywords_used_by("contact_outcomes"));
    assert_eq!(textmate_words(&repo["contacts-call"]), call);
    let only_in_call: BTreeSet<String> = all.difference(&everywhere).cloned().collect();
    assert_eq!(only_in_call, set(&["contacts", "product", "within"]));
    assert!(only_in_call.is_subset(&call));
}

#[test]
fn keyword_extraction_reads_what_it_should() {
    // The helpers the test above relies on, on known input.
    assert_eq!(
        alternation(r"(?<![\w-])(rule)(?![\w-])\s+x (?<![\w-])(a|b)(?![\w-])"),
        set(&["rule", "a", "b"])
    );
    assert_eq!(
        literals(r#"kw_x = @{ ("a" | "b") ~ !word_char }"#),
        set(&["a", "b"])
    );
    assert_eq!(
        literals(pest_rule("kw_penalize")),
        set(&["penalize", "penalise"])
    );
    assert_eq!(
        pest_keywords_used_by("contact_filter"),
        set(&["track", "tagged", "product"])
    );
}
