//! The syntax tree of a rules file, with byte spans for diagnostics.
//!
//! It says what was written, not what it means: names are still names and bare
//! words are still unresolved. The checker resolves them against the schema and
//! catalog; the formatter prints the tree back in canonical layout. A tool may also
//! build a tree (the trainer's generated rules): [`Name::new`], [`Text::new`] and
//! [`Expr::new`] leave its spans empty, and `print_rules` prints it.

/// A byte range in a rules file.
///
/// Spans never take part in equality, so two parses of the same rules written
/// with different layout compare equal (the formatter's round-trip test relies
/// on it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Span {
    /// `(offset, length)` for miette.
    pub fn pair(self) -> (usize, usize) {
        (self.start, self.end.saturating_sub(self.start))
    }
}

/// An identifier or string used as a name (rule id, track id, tag, metadata key).
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    /// The name without quotes.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

impl Name {
    /// A name a tool writes, with no place in a file (for rules built as a tree).
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            span: Span::default(),
        }
    }
}

/// A string literal.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// The unescaped value.
    pub value: String,
    /// Where it is written (including quotes).
    pub span: Span,
}

impl Text {
    /// A string a tool writes, with no place in a file.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            span: Span::default(),
        }
    }
}

/// One rules file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RulesFile {
    /// Rules in source order.
    pub rules: Vec<RuleDef>,
}

/// One `rule` block.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDef {
    /// The rule id.
    pub id: Name,
    /// From the `rule` keyword to the end of its last clause.
    pub span: Span,
    /// `because "..."`.
    pub because: Option<Text>,
    /// `key "value"` lines in source order.
    pub meta: Vec<(Name, Text)>,
    /// `when <condition>`; `None` means always.
    pub when: Option<Expr>,
    /// Where the `when` keyword is.
    pub when_span: Span,
    /// The effect.
    pub effect: Effect,
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// Forbid, only, boost or penalize.
    pub kind: EffectAst,
    /// The tracks it applies to.
    pub targets: Targets,
    /// The whole effect clause.
    pub span: Span,
}

/// The effect keyword and its number.
#[derive(Clone, Debug, PartialEq)]
pub enum EffectAst {
    /// `forbid`.
    Forbid,
    /// `only`.
    Only,
    /// `boost ... by n`.
    Boost(Number),
    /// `penalize ... by n` (a negative boost).
    Penalize(Number),
}

/// A number as written (kept as text so the formatter does not reformat it).
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// Its value.
    pub value: f64,
    /// Its text.
    pub text: String,
    /// Where it is written.
    pub span: Span,
}

/// Which tracks an effect applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// `all tracks`.
    All(Span),
    /// `track a` / `tracks a, b`.
    Ids(Vec<Name>),
    /// `tracks tagged a, b [where p]`.
    Tagged {
        /// Any of these tags.
        tags: Vec<Name>,
        /// Optional per-track predicate.
        filter: Option<Expr>,
    },
    /// `tracks where p`.
    Where(Expr),
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flip(self) -> Self {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl ArithOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// The argument of `used(..)` / `count(..)`.
#[derive(Clone, Debug, PartialEq)]
pub enum HistArg {
    /// A track id.
    Track(Name),
    /// `tagged t`: any track with the tag.
    Tagged(Name),
}

/// Which past contacts `contacts(..)` counts, by the track they were about.
#[derive(Clone, Debug, PartialEq)]
pub enum ContactFilter {
    /// `track x`.
    Track(Name),
    /// `tagged t`: any track with the tag.
    Tagged(Name),
    /// `product p`: any track of the product.
    Product(Name),
}

/// The outcomes `contacts(..)` counts, as written.
#[derive(Clone, Debug, PartialEq)]
pub enum ContactOutcomes {
    /// One outcome: `declined`.
    One(Name),
    /// Any of a list: `[offered, declined]`.
    List(Vec<Name>),
}

/// `contacts(<filter> [, <outcomes>], within <duration>)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactsCall {
    /// Which tracks.
    pub filter: ContactFilter,
    /// Which outcomes (`None`: any contact, with or without an outcome).
    pub outcomes: Option<ContactOutcomes>,
    /// The window's length in milliseconds; it ends at the request time.
    pub within_ms: i64,
    /// The window as written (`30d`).
    pub within: String,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float, with its text.
    Float(f64, String),
    /// A string.
    Str(String),
    /// A duration in milliseconds, with its text (`14d`).
    Duration(i64, String),
    /// `[a, "b", 3]`.
    List(Vec<Expr>),
    /// A dotted path (`customer.age`, `turn`, `track.min_age`) or a bare word.
    Path(Vec<Name>),
    /// A bare word inside a list (may contain `-`).
    Bare(String),
    /// `has <path>`.
    Has(Vec<Name>),
    /// `used(..)`.
    Used(HistArg),
    /// `count(..)`.
    Count(HistArg),
    /// `contacts(..)`: how many past contacts match, an integer.
    Contacts(Box<ContactsCall>),
    /// `track tagged t`.
    TrackTagged(Name),
    /// `not e`.
    Not(Box<Expr>),
    /// `a and b and ...` (two or more).
    And(Vec<Expr>),
    /// `a or b or ...` (two or more).
    Or(Vec<Expr>),
    /// `a <op> b`.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `a in [..]` / `a not in [..]`.
    In {
        /// `not in`.
        negated: bool,
        /// The value tested.
        value: Box<Expr>,
        /// The list (always a [`ExprKind::List`]).
        list: Box<Expr>,
    },
    /// `set contains item`.
    Contains(Box<Expr>, Box<Expr>),
    /// `a <op> b`.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// An expression a tool writes, with no place in a file.
    pub fn new(kind: ExprKind) -> Self {
        Self {
            kind,
            span: Span::default(),
        }
    }

    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::List(v) | ExprKind::And(v) | ExprKind::Or(v) => {
                v.iter().for_each(|e| e.walk(f))
            }
            ExprKind::Not(e) => e.walk(f),
            ExprKind::Cmp(_, a, b) | ExprKind::Contains(a, b) | ExprKind::Arith(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            ExprKind::In { value, list, .. } => {
                value.walk(f);
                list.walk(f);
            }
            _ => {}
        }
    }
}
