//! Validation of a parsed manifest against everything it names: the context
//! schema, the catalog and its templates, the feature spec, the rule files and the
//! policy, into the parts a [`Bundle`] or [`BundleTemplate`] is made of, with
//! every problem found (not only the first) at its own location.

use super::*;

/// Checks a manifest and everything it refers to but the policy.
///
/// Every part is checked against the parts it depends on that did validate, so one
/// run reports the problems of every section; a name whose declaration is broken
/// is reported once, where it is declared, not again at each use.
///
/// Files are read from `root`, the bundle's real directory; with `skip_generated`,
/// the trainer's generated rule file is left out.
pub(super) fn check(root: &Path, manifest: &Manifest, text: &str, skip_generated: bool) -> Parts {
    use locate::Seg::{Index, Key};

    let shown = PathBuf::from("bundle.toml");
    let src = named_source(&shown, text);
    let locator = Locator::new(text);
    let mut problems: Vec<Problem> = Vec::new();
    let mk = |path: &[Seg<'_>], code: Code, msg: String, help: Option<&str>| {
        located_problem(&src, locator.find(path), code, msg, help)
    };

    if manifest.format != FORMAT_VERSION {
        problems.push(mk(
                &[Key("format")],
                Code::BundleFormat,
                format!(
                    "manifest format {} is not supported (this talktrack reads format {FORMAT_VERSION})",
                    manifest.format
                ),
                None,
            ));
    }
    if manifest.max_turns == 0 || manifest.max_turns > MAX_TURNS_LIMIT {
        problems.push(mk(
            &[Key("max_turns")],
            Code::BundleMaxTurns,
            format!("`max_turns` must be between 1 and {MAX_TURNS_LIMIT}"),
            None,
        ));
    }
    if manifest.replies.is_empty() {
        problems.push(mk(
            &[Key("replies")],
            Code::BundleReplies,
            "`replies` must list at least one user reply category".into(),
            None,
        ));
    }
    // A name listed twice is reported at its second place.
    let index = |problems: &mut Vec<Problem>,
                 names: &[String],
                 key: &'static str,
                 code: Code,
                 what: &str| {
        NameIndex::new(names.iter().map(String::as_str)).unwrap_or_else(|r| {
            let again = names
                .iter()
                .enumerate()
                .filter(|(_, x)| **x == r)
                .nth(1)
                .map_or(0, |(i, _)| i);
            problems.push(mk(
                &[Key(key), Index(again)],
                code,
                format!("{what} `{r}` is listed twice"),
                None,
            ));
            NameIndex::default()
        })
    };
    let reply_index = index(
        &mut problems,
        &manifest.replies,
        "replies",
        Code::BundleReplies,
        "reply category",
    );
    if manifest.contact_outcomes.len() > MAX_CONTACT_OUTCOMES {
        problems.push(mk(
            &[Key("contact_outcomes")],
            Code::BundleContactOutcomes,
            format!(
                "`contact_outcomes` lists {} outcomes, more than the {MAX_CONTACT_OUTCOMES} allowed",
                manifest.contact_outcomes.len()
            ),
            None,
        ));
    }
    let outcome_index = index(
        &mut problems,
        &manifest.contact_outcomes,
        "contact_outcomes",
        Code::BundleContactOutcomes,
        "contact outcome",
    );
    let sel = &manifest.selection;
    if !(sel.temperature.is_finite() && sel.temperature > 0.0) {
        problems.push(mk(
            &[Key("selection"), Key("temperature")],
            Code::BundleSelection,
            "`selection.temperature` must be a positive number".into(),
            None,
        ));
    }
    if !(0.0..=1.0).contains(&sel.epsilon) {
        problems.push(mk(
            &[Key("selection"), Key("epsilon")],
            Code::BundleSelection,
            "`selection.epsilon` must be between 0 and 1".into(),
            None,
        ));
    }

    // Context attributes whose declaration is broken: reported here, and not
    // again where templates, features or rules use them.
    let mut broken_context: Vec<&str> = Vec::new();
    let mut decls = Vec::new();
    for (name, spec) in &manifest.context {
        match spec.to_decl(name) {
            Ok(d) => decls.push(d),
            Err(m) => {
                broken_context.push(name);
                problems.push(mk(
                    &[Key("context"), Key(name)],
                    Code::BundleContext,
                    m,
                    None,
                ));
            }
        }
    }
    let schema = Schema::new(decls).unwrap_or_default();
    let mut broken_track_attrs: Vec<&str> = Vec::new();
    let mut track_decls = Vec::new();
    for (name, spec) in &manifest.track_attributes {
        if spec.has_range() {
            broken_track_attrs.push(name);
            problems.push(mk(
                &[Key("track_attributes"), Key(name)],
                Code::BundleTrackAttributes,
                format!("`min` and `max` apply to `[context]` attributes, not to the track attribute `{name}`"),
                Some("a catalog's values are checked where the tracks are declared; drop `min` and `max` here"),
            ));
            continue;
        }
        match spec.to_decl(name) {
            Ok(d) => track_decls.push(d),
            Err(m) => {
                broken_track_attrs.push(name);
                problems.push(mk(
                    &[Key("track_attributes"), Key(name)],
                    Code::BundleTrackAttributes,
                    m,
                    None,
                ));
            }
        }
    }
    let catalog = match Catalog::new(manifest.tracks.clone(), track_decls.clone()) {
        Ok(c) => Some(c),
        Err(es) => {
            for e in es {
                let path: &[Seg<'_>] = match &e {
                    CatalogError::UnknownAttr { attr, .. }
                        if broken_track_attrs.contains(&attr.as_str()) =>
                    {
                        continue
                    }
                    CatalogError::DuplicateId { index, .. } => {
                        &[Key("tracks"), Index(*index), Key("id")]
                    }
                    CatalogError::DuplicateAttr(attr) => &[Key("track_attributes"), Key(attr)],
                    CatalogError::UnknownAttr { index, attr, .. }
                    | CatalogError::AttrType { index, attr, .. }
                    | CatalogError::MissingAttr { index, attr, .. } => {
                        &[Key("tracks"), Index(*index), Key("attrs"), Key(attr)]
                    }
                    _ => &[Key("tracks")],
                };
                problems.push(mk(
                    path,
                    Code::BundleCatalog,
                    e.to_string(),
                    Some("each `[[tracks]]` needs a unique `id`; its `attrs` must match `[track_attributes]`"),
                ));
            }
            None
        }
    };
    // Rules and the fallback are checked against the catalog, or against a
    // stand-in for a rejected one that does not repeat its problems.
    let salvaged = match &catalog {
        Some(_) => None,
        None => Catalog::salvage(&manifest.tracks, track_decls),
    };
    let checked_catalog = catalog.as_ref().or(salvaged.as_ref());
    let fallback = checked_catalog.and_then(|c| c.index(&manifest.fallback));
    if checked_catalog.is_some() && fallback.is_none() {
        problems.push(mk(
            &[Key("fallback")],
            Code::BundleFallback,
            format!(
                "fallback track `{}` is not in the catalog",
                manifest.fallback
            ),
            Some("declare the fallback (e.g. a hand-over to a person) as one of the `[[tracks]]`"),
        ));
    }
    let fallback = fallback.filter(|_| catalog.is_some());

    // Templates may name a broken context attribute: it stands in as text.
    let template_schema = if broken_context.is_empty() {
        None
    } else {
        let mut with_broken = schema.attrs().to_vec();
        with_broken.extend(broken_context.iter().map(|n| AttrDecl {
            name: (*n).to_owned(),
            ty: AttrType::String,
            optional: true,
            protected: false,
            range: None,
        }));
        Schema::new(with_broken).ok()
    };
    let mut templates = Vec::with_capacity(manifest.tracks.len());
    for (i, t) in manifest.tracks.iter().enumerate() {
        match Template::parse(&t.text, template_schema.as_ref().unwrap_or(&schema)) {
            Ok(tpl) => templates.push(tpl),
            Err(m) => {
                problems.push(mk(
                    &[Key("tracks"), Index(i), Key("text")],
                    Code::BundleTemplate,
                    format!("track `{}`: {m}", t.id),
                    None,
                ));
                templates.push(Template::literal(&t.text));
            }
        }
    }

    problems.extend(unknown_feature_keys(manifest, text, &src, &locator));
    let n_tracks = manifest.tracks.len();
    let features = match FeatureEncoder::new(
        &manifest.features,
        FeatureEnv {
            schema: &schema,
            n_tracks,
            n_replies: manifest.replies.len(),
            max_turns: manifest.max_turns,
        },
    ) {
        Ok(f) => Some(f),
        Err(es) => {
            for (i, m) in es {
                let reads_broken = match manifest.features.get(i) {
                    Some(Feature::Attr { name, .. } | Feature::AttrOneHot { name }) => {
                        broken_context.contains(&name.as_str())
                    }
                    _ => false,
                };
                if reads_broken {
                    continue;
                }
                problems.push(mk(
                    &[Key("features"), Index(i)],
                    Code::BundleFeatures,
                    format!("feature {}: {m}", i + 1),
                    None,
                ));
            }
            None
        }
    };

    // Rules: read every file, then compile them together (ids are bundle-wide).
    let mut sources = Vec::new();
    if manifest.rules.len() > MAX_RULE_FILES {
        problems.push(mk(
            &[Key("rules")],
            Code::BundleRules,
            format!("a bundle may list at most {MAX_RULE_FILES} rule files"),
            None,
        ));
    }
    for (i, rel) in manifest.rules.iter().enumerate().take(MAX_RULE_FILES) {
        if skip_generated && is_generated_rules(root, rel) {
            continue;
        }
        let real = match paths::contained(root, Path::new(rel)) {
            Ok(real) => real,
            Err(escape) => {
                problems.push(outside_problem(
                    &src,
                    &locator,
                    &[Key("rules"), Index(i)],
                    rel,
                    escape,
                ));
                continue;
            }
        };
        match read_text_inside(root, &real, Path::new(rel)) {
            Ok(text) => sources.push(RuleSource {
                path: PathBuf::from(rel),
                text,
            }),
            Err(p) => problems.push(p),
        }
    }
    let mut warnings = Vec::new();
    let rules = match checked_catalog {
        Some(checked) => match rules::compile(
            &sources,
            &RuleEnv {
                schema: &schema,
                catalog: checked,
                replies: &manifest.replies,
                outcomes: &manifest.contact_outcomes,
                max_turns: manifest.max_turns,
            },
        ) {
            Ok((set, w)) => {
                if catalog.is_some() {
                    warnings.extend(w);
                    Some(set)
                } else {
                    warnings.extend(w.into_iter().filter(|p| !about_tracks(p)));
                    None
                }
            }
            Err(ps) => {
                let stand_in = catalog.is_none();
                let spurious = |p: &Problem| {
                    reads_broken_attr(p, &broken_context, &broken_track_attrs)
                        || (stand_in && !p.is_error() && about_tracks(p))
                };
                problems.extend(ps.into_iter().filter(|p| !spurious(p)));
                None
            }
        },
        None => None,
    };

    Parts {
        schema,
        catalog,
        rules,
        features,
        fallback,
        reply_index,
        outcome_index,
        templates,
        sources,
        warnings,
        problems,
    }
}

/// Keys of a `[[features]]` block that its kind does not read. serde rejects
/// unknown keys in the blocks that carry settings, but lets them pass in the
/// blocks that carry none (`kind = "turn_one_hot"` alone): what a block means is
/// written back and compared with what was written.
fn unknown_feature_keys(
    manifest: &Manifest,
    text: &str,
    src: &std::sync::Arc<miette::NamedSource<String>>,
    locator: &Locator<'_>,
) -> Vec<Problem> {
    let Ok(written) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let Some(blocks) = written.get("features").and_then(toml::Value::as_array) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (i, (block, feature)) in blocks.iter().zip(&manifest.features).enumerate() {
        let (Some(block), Ok(toml::Value::Table(read))) =
            (block.as_table(), toml::Value::try_from(feature))
        else {
            continue;
        };
        for key in block.keys().filter(|k| !read.contains_key(k.as_str())) {
            let kind = read
                .get("kind")
                .and_then(toml::Value::as_str)
                .unwrap_or("?");
            let expected: Vec<String> = read.keys().map(|k| format!("`{k}`")).collect();
            let mut p = located_problem(
                src,
                locator.find(&[Seg::Key("features"), Seg::Index(i), Seg::Key(key)]),
                Code::BundleManifest,
                format!(
                    "unknown field `{key}` in a `{kind}` feature block, expected {}",
                    expected.join(", ")
                ),
                None,
            );
            p = p.with_help(
                rules::closest(key, read.keys().map(String::as_str)).map_or_else(
                    || format!("a `{kind}` block has no settings but `kind`"),
                    |c| format!("did you mean `{c}`?"),
                ),
            );
            problems.push(p);
        }
    }
    problems
}

/// Whether a rule warning depends on what the tracks are (which a stand-in
/// catalog only approximates).
fn about_tracks(p: &Problem) -> bool {
    matches!(p.code, Code::RulesEmptyOnly)
}

/// Whether a rule problem is an unknown attribute whose declaration is broken
/// (and already reported in `bundle.toml`).
fn reads_broken_attr(p: &Problem, context: &[&str], track: &[&str]) -> bool {
    let names = match p.code {
        Code::RulesUnknownAttribute => context,
        Code::RulesUnknownTrackAttribute => track,
        _ => return false,
    };
    let (Some(src), Some(span)) = (&p.source_text, p.span) else {
        return false;
    };
    src.inner()
        .get(span.offset()..span.offset() + span.len())
        .is_some_and(|w| names.contains(&w))
}
