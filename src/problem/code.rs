//! Problem codes: what kind of problem a diagnostic reports, as a closed set.
//!
//! A code prints and serialises as its stable text (`bundle::policy`,
//! `rules::unknown-attribute`), the form scripts and editors match on; in the code
//! it is an enum, so that a check on a code is checked by the compiler.

/// Declares the codes with their text, once.
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident = $text:literal,)*) => {
        /// What kind of problem a [`super::Problem`] reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[doc = $doc])* $name,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The stable text of the code, e.g. `bundle::policy`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                }
            }
        }
    };
}

codes! {
    /// `bundle::catalog`: the catalog: a duplicate track id, an undeclared or mistyped track attribute, no tracks.
    BundleCatalog = "bundle::catalog",
    /// `bundle::checksum`: the policy file's SHA-256 differs from `policy.sha256`.
    BundleChecksum = "bundle::checksum",
    /// `bundle::contact-outcomes`: the contact outcome vocabulary.
    BundleContactOutcomes = "bundle::contact-outcomes",
    /// `bundle::context`: a `[context]` attribute declaration.
    BundleContext = "bundle::context",
    /// `bundle::fallback`: the fallback track is not in the catalog.
    BundleFallback = "bundle::fallback",
    /// `bundle::features`: a `[[features]]` block.
    BundleFeatures = "bundle::features",
    /// `bundle::format`: an unsupported manifest `format`.
    BundleFormat = "bundle::format",
    /// `bundle::manifest`: `bundle.toml` does not parse, or has an unknown or mistyped key.
    BundleManifest = "bundle::manifest",
    /// `bundle::max-turns`: `max_turns` out of range.
    BundleMaxTurns = "bundle::max-turns",
    /// `bundle::not-utf8`: a bundle file is not UTF-8.
    BundleNotUtf8 = "bundle::not-utf8",
    /// `bundle::outside`: a file the manifest names leads outside the bundle directory.
    BundleOutside = "bundle::outside",
    /// `bundle::policy`: the policy: missing, unreadable, or not what the manifest declares.
    BundlePolicy = "bundle::policy",
    /// `bundle::replies`: the reply vocabulary.
    BundleReplies = "bundle::replies",
    /// `bundle::rules`: the list of rule files.
    BundleRules = "bundle::rules",
    /// `bundle::selection`: `[selection]` settings.
    BundleSelection = "bundle::selection",
    /// `bundle::signature`: `bundle.sig` is missing, unreadable, for another digest,
    /// by a key that is not trusted, or does not verify.
    BundleSignature = "bundle::signature",
    /// `bundle::template`: a track's text template.
    BundleTemplate = "bundle::template",
    /// `bundle::too-large`: a bundle file over its size limit.
    BundleTooLarge = "bundle::too-large",
    /// `bundle::track-attributes`: a `[track_attributes]` declaration.
    BundleTrackAttributes = "bundle::track-attributes",
    /// `bundle::unreadable`: a bundle file or directory cannot be read.
    BundleUnreadable = "bundle::unreadable",
    /// `bundle::unwritable`: `bundle.toml` cannot be written (sealing).
    BundleUnwritable = "bundle::unwritable",
    /// `cases::failed`: a rule test case whose expectations the bundle does not meet.
    CasesFailed = "cases::failed",
    /// `cases::syntax`: a rule test case file does not parse.
    CasesSyntax = "cases::syntax",
    /// `rules::bad-has`: a `has` test on something that is always present.
    RulesBadHas = "rules::bad-has",
    /// `rules::bad-number`: a number or duration that cannot be read.
    RulesBadNumber = "rules::bad-number",
    /// `rules::duplicate-clause`: a clause written twice in one rule.
    RulesDuplicateClause = "rules::duplicate-clause",
    /// `rules::duplicate-id`: a rule id used twice in a bundle.
    RulesDuplicateId = "rules::duplicate-id",
    /// `rules::empty-only`: an `only` rule that allows no track.
    RulesEmptyOnly = "rules::empty-only",
    /// `rules::list-too-long`: a list literal over its length limit.
    RulesListTooLong = "rules::list-too-long",
    /// `rules::missing-because`: a rule without `because`.
    RulesMissingBecause = "rules::missing-because",
    /// `rules::missing-effect`: a rule without an effect.
    RulesMissingEffect = "rules::missing-effect",
    /// `rules::self-compare`: a comparison of a value with itself.
    RulesSelfCompare = "rules::self-compare",
    /// `rules::syntax`: a rule file does not parse.
    RulesSyntax = "rules::syntax",
    /// `rules::condition-too-large`: a condition with more values and operators than allowed.
    RulesConditionTooLarge = "rules::condition-too-large",
    /// `rules::division-by-zero`: a division whose divisor is the literal zero.
    RulesDivisionByZero = "rules::division-by-zero",
    /// `rules::too-deep`: an expression nested deeper than allowed (every operator of a chain counts).
    RulesTooDeep = "rules::too-deep",
    /// `rules::too-large`: an expression or file over its size limit.
    RulesTooLarge = "rules::too-large",
    /// `rules::too-many-rules`: more rules than a bundle may hold.
    RulesTooManyRules = "rules::too-many-rules",
    /// `rules::track-outside-targets`: a track condition about tracks the rule does not target.
    RulesTrackOutsideTargets = "rules::track-outside-targets",
    /// `rules::two-effects`: a rule with two effects.
    RulesTwoEffects = "rules::two-effects",
    /// `rules::type-mismatch`: operands or values of the wrong type.
    RulesTypeMismatch = "rules::type-mismatch",
    /// `rules::unguarded-optional`: an optional context attribute read without `has`.
    RulesUnguardedOptional = "rules::unguarded-optional",
    /// `rules::unguarded-track-attribute`: an optional track attribute read without `has`.
    RulesUnguardedTrackAttribute = "rules::unguarded-track-attribute",
    /// `rules::unformatted`: a rule file not in its canonical form (`talktrack fmt --check`).
    RulesUnformatted = "rules::unformatted",
    /// `rules::unknown-attribute`: an unknown context attribute.
    RulesUnknownAttribute = "rules::unknown-attribute",
    /// `rules::unknown-reply`: an unknown reply category.
    RulesUnknownReply = "rules::unknown-reply",
    /// `rules::unknown-outcome`: a contact outcome the bundle does not declare.
    RulesUnknownOutcome = "rules::unknown-outcome",
    /// `rules::unknown-product`: a product no track of the catalog has.
    RulesUnknownProduct = "rules::unknown-product",
    /// `rules::unknown-tag`: an unknown track tag.
    RulesUnknownTag = "rules::unknown-tag",
    /// `rules::unknown-track`: an unknown track id.
    RulesUnknownTrack = "rules::unknown-track",
    /// `rules::unknown-track-attribute`: an unknown track attribute.
    RulesUnknownTrackAttribute = "rules::unknown-track-attribute",
    /// `rules::unknown-variant`: an unknown enum variant.
    RulesUnknownVariant = "rules::unknown-variant",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_and_serialise_as_their_text() {
        assert_eq!(Code::BundlePolicy.to_string(), "bundle::policy");
        assert_eq!(
            serde_json::to_string(&Code::RulesUnknownAttribute).unwrap(),
            "\"rules::unknown-attribute\""
        );
        assert_eq!(Code::BundleMaxTurns, "bundle::max-turns");
        // Each text is unique and has the `area::kind` shape.
        let mut texts: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), Code::ALL.len());
        for t in texts {
            let (area, kind) = t.split_once("::").unwrap();
            assert!(["bundle", "cases", "rules"].contains(&area), "{t}");
            assert!(
                kind.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{t}"
            );
        }
    }
}
