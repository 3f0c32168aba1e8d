//! `require.expression`: a CEL expression over the identity and the request, compiled once when
//! the rules load and evaluated per request after the static requirements.
//!
//! Compiling checks the syntax and that every name the expression reads is one of the variables
//! (`user`, `email`, `groups`, `claims`, `issuer`, `request`) or a CEL type name, so a typo is a
//! load error rather than a 403 on every request. Evaluation builds nothing the expression does
//! not read: variables are resolved on first use, and the claims (kept as JSON text in the
//! identity) are parsed only when the expression reads them, and only the members it names when
//! it names them as `claims.<name>`.
//!
//! An expression that does not read `request` is a function of the identity alone: its verdict
//! is kept per thread by the identity's digest ([`Memo`]), so the requests of one
//! credential evaluate it once per thread rather than each time.

#[cfg(test)]
mod tests;
mod variables;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Context, Env, Program, Value};
use serde::Deserialize;

use crate::authn::Identity;
use crate::memo::{self, Memo, next_owner};
use crate::origin::OriginalRequest;
use variables::Variables;

/// The names an expression may read.
pub const VARIABLES: [&str; 6] = ["user", "email", "groups", "claims", "issuer", "request"];

/// Above this many distinct `claims.<name>` members, the claims are parsed whole: each member
/// read on its own scans the JSON text once.
const MAX_CLAIM_MEMBERS: usize = 4;

/// The standard environment, built once: functions and types every evaluation shares.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

thread_local! {
    /// Verdicts of expressions that read only the identity, by expression number and digest.
    static VERDICTS: RefCell<Memo<bool, 16>> = const { RefCell::new(Memo::new()) };
}

/// A compiled `require.expression`. Cloning shares the compiled program.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Expression {
    source: Arc<str>,
    program: Arc<Program>,
    claims: ClaimsUse,
    /// This compiled expression's number (its clones share it, and the program).
    number: u64,
    /// Whether it reads no `request`: its verdict then depends on the identity only.
    identity_only: bool,
}

/// How an expression reads the claims, found when it is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClaimsUse {
    /// Not at all: the claims are never parsed.
    None,
    /// Only as `claims.<name>` (or `has(claims.<name>)`): only these members are parsed.
    Members(Vec<String>),
    /// Some other way (`claims['x']`, `'x' in claims`, passed whole): parsed whole.
    Whole,
}

/// What an expression evaluated to for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// `true`: the requirement holds.
    True,
    /// `false`: 403.
    False,
    /// It could not be evaluated (a missing claim, a type error) or gave something other than a
    /// bool: 403, and logged.
    Error(String),
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evaluation::True => f.write_str("true"),
            Evaluation::False => f.write_str("false"),
            Evaluation::Error(error) => write!(f, "error: {error}"),
        }
    }
}

impl Expression {
    /// Compiles `source`; `Err` says what is wrong: a syntax error (with its position inside the
    /// expression) or the names that are not variables.
    pub fn compile(source: &str) -> Result<Expression, String> {
        let program = Program::compile(source).map_err(|errors| {
            let errors: Vec<String> = errors
                .errors
                .iter()
                .map(|e| format!("at {}:{}: {}", e.pos.0, e.pos.1, one_line(&e.msg)))
                .collect();
            format!("expression `{source}` does not parse {}", errors.join("; "))
        })?;
        let mut names = Names::default();
        names.walk(program.expression(), &mut Vec::new());
        if !names.unknown.is_empty() {
            let unknown: Vec<&str> = names.unknown.iter().map(String::as_str).collect();
            return Err(format!(
                "expression `{source}` reads unknown variable(s) {} (known: {})",
                unknown.join(", "),
                VARIABLES.join(", ")
            ));
        }
        Ok(Expression {
            source: source.into(),
            program: Arc::new(program),
            claims: names.claims_use(),
            number: next_owner(),
            identity_only: !names.request,
        })
    }

    /// The claim members the expression reads as `claims.<name>` (none when it reads no claim or
    /// reads them whole).
    pub fn claim_members(&self) -> impl Iterator<Item = &str> {
        let members: &[String] = match &self.claims {
            ClaimsUse::Members(names) => names,
            ClaimsUse::None | ClaimsUse::Whole => &[],
        };
        members.iter().map(String::as_str)
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression for `identity` on `request` (for one that reads only the
    /// identity, the verdict this thread kept for it, if any).
    pub fn evaluate(&self, identity: &Identity, request: &OriginalRequest) -> Evaluation {
        if !self.identity_only {
            return self.run(identity, request);
        }
        let digest = identity.digest();
        match memo::kept(&VERDICTS, self.number, digest) {
            Some(true) => return Evaluation::True,
            Some(false) => return Evaluation::False,
            None => {}
        }
        let evaluation = self.run(identity, request);
        // Errors are not kept: each is logged where it happens.
        if let Evaluation::True | Evaluation::False = evaluation {
            let holds = evaluation == Evaluation::True;
            memo::keep(&VERDICTS, self.number, digest, holds);
        }
        evaluation
    }

    /// Runs the program for `identity` on `request`.
    fn run(&self, identity: &Identity, request: &OriginalRequest) -> Evaluation {
        let variables = Variables::new(identity, request, &self.claims);
        let mut context = Context::with_env(ENV.clone());
        context.set_variable_resolver(&variables);
        match self.program.execute(&context) {
            Ok(Value::Bool(true)) => Evaluation::True,
            Ok(Value::Bool(false)) => Evaluation::False,
            Ok(other) => Evaluation::Error(format!("evaluated to a {}, not a bool", other.type_of())),
            Err(error) => Evaluation::Error(error.to_string()),
        }
    }

    /// The line `portcullis explain` prints: the expression and its value for `identity`.
    pub fn explain(&self, identity: Option<&Identity>, request: &OriginalRequest) -> String {
        match identity {
            Some(identity) => format!("expression `{}`: {}", self.source, self.evaluate(identity, request)),
            None => format!("expression `{}`: not evaluated (no identity)", self.source),
        }
    }

    /// `Ok` when the expression is true for `identity` on `request`; else the reason for the
    /// 403. An evaluation error is logged (with the rule id, never a credential).
    pub fn check(&self, identity: &Identity, request: &OriginalRequest, rule: &str) -> Result<(), String> {
        match self.evaluate(identity, request) {
            Evaluation::True => Ok(()),
            Evaluation::False => Err(format!("requires expression `{}`", self.source)),
            Evaluation::Error(error) => {
                tracing::warn!(rule, expression = %self.source, %error, "require.expression could not be evaluated: refused");
                Err(format!(
                    "requires expression `{}` (could not be evaluated: {error})",
                    self.source
                ))
            }
        }
    }
}

impl TryFrom<String> for Expression {
    type Error = String;

    fn try_from(source: String) -> Result<Expression, String> {
        Expression::compile(&source)
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Expression) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

/// A rule error is one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names an expression reads, found by walking its tree with the comprehension variables
/// (`groups.exists(g, ...)`) in scope: `Program::references` reports those as variables too.
#[derive(Default)]
struct Names {
    unknown: BTreeSet<String>,
    claim_members: BTreeSet<String>,
    claims_whole: bool,
    /// Whether `request` is read.
    request: bool,
}

impl Names {
    fn claims_use(&self) -> ClaimsUse {
        if self.claims_whole || self.claim_members.len() > MAX_CLAIM_MEMBERS {
            ClaimsUse::Whole
        } else if self.claim_members.is_empty() {
            ClaimsUse::None
        } else {
            ClaimsUse::Members(self.claim_members.iter().cloned().collect())
        }
    }

    fn walk<'e>(&mut self, node: &'e IdedExpr, bound: &mut Vec<&'e str>) {
        match &node.expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => self.ident(name, bound),
            Expr::Select(select) => match &select.operand.expr {
                Expr::Ident(name) if name == "claims" && !bound.contains(&"claims") => {
                    self.claim_members.insert(select.field.clone());
                }
                _ => self.walk(&select.operand, bound),
            },
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.walk(target, bound);
                }
                call.args.iter().for_each(|arg| self.walk(arg, bound));
            }
            Expr::List(list) => list.elements.iter().for_each(|e| self.walk(e, bound)),
            Expr::Map(map) => map.entries.iter().for_each(|entry| self.entry(&entry.expr, bound)),
            Expr::Struct(object) => {
                self.ident(&object.type_name, bound);
                object.entries.iter().for_each(|entry| self.entry(&entry.expr, bound));
            }
            Expr::Comprehension(loop_) => {
                self.walk(&loop_.iter_range, bound);
                self.walk(&loop_.accu_init, bound);
                let outer = bound.len();
                bound.push(&loop_.iter_var);
                bound.extend(loop_.iter_var2.as_deref());
                bound.push(&loop_.accu_var);
                self.walk(&loop_.loop_cond, bound);
                self.walk(&loop_.loop_step, bound);
                self.walk(&loop_.result, bound);
                bound.truncate(outer);
            }
        }
    }

    fn entry<'e>(&mut self, entry: &'e EntryExpr, bound: &mut Vec<&'e str>) {
        match entry {
            EntryExpr::StructField(field) => self.walk(&field.value, bound),
            EntryExpr::MapEntry(entry) => {
                self.walk(&entry.key, bound);
                self.walk(&entry.value, bound);
            }
        }
    }

    fn ident(&mut self, name: &str, bound: &[&str]) {
        if bound.contains(&name) || name.starts_with('@') {
            return;
        }
        if name == "claims" {
            self.claims_whole = true;
        } else if name == "request" {
            self.request = true;
        } else if !VARIABLES.contains(&name) && ENV.types().find_type(name).is_none() {
            self.unknown.insert(name.to_string());
        }
    }
}
