//! Planning, redoing a commit and summarizing with a model, through the AI plugin's provider
//! layer (an OpenAI-compatible chat-completions API). The model is asked for one JSON object;
//! what it answers is parsed and checked (types, message lengths, every changed file in exactly
//! one commit, no file that did not change) before anything is kept. Any failure, upstream or in
//! the answer, is a [`ModelError`] that the routes answer as `502 LLM_FAILED`: never a half-made
//! plan.
//!
//! What is sent: the changed files' paths, how each changed, and their diffs, each cut to
//! [`DIFF_PER_FILE`] bytes and all of them to [`DIFF_TOTAL`]. The routes scan those diffs for
//! secrets before a model is asked.
//!
//! Every call is the caller's: it is charged through the AI plugin's [`Meter`] to the same ledger
//! and budgets as `POST /v1/plugins/ai/generate` (a call that could cost more than is left is
//! [`ModelError::Over`], and the model is not asked), and the routes ask only for a caller
//! holding [`GENERATE_SCOPE`].

use crate::changes::{FileDiff, FileStat};
use crate::planner::CommitType;
use crate::store::PlannedCommit;
use ai_plugin::AiConfig;
use ai_plugin::cost::Prices;
use ai_plugin::ledger::Over;
use ai_plugin::meter::{Meter, MeterError};
use ai_plugin::provider::{Ask, Provider, UpstreamError};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The most of one file's diff a model is sent.
pub const DIFF_PER_FILE: usize = 4_000;
/// The most of all diffs together a model is sent.
pub const DIFF_TOTAL: usize = 60_000;

/// The scope a caller needs for a route to ask the model on their behalf: the AI plugin's.
pub const GENERATE_SCOPE: &str = "ai:generate";

/// A model to ask: its name, the provider serving it, its prices, and the meter its calls are
/// charged through.
#[derive(Clone, Debug)]
pub struct Model {
    provider: Provider,
    name: String,
    prices: Prices,
    meter: Meter,
}

/// Why a model's answer cannot be used.
#[derive(Debug)]
pub enum ModelError {
    /// The call could cost more than is left of the caller's budget; the model was not asked.
    Over(Over),
    /// The provider failed or could not be reached.
    Upstream(UpstreamError),
    /// It answered something that is not a valid plan (or summary), and why.
    Invalid(String),
    /// The ledger failed: an internal error.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Over(over) => write!(
                f,
                "asking the model could cost more than is left of your {} AI budget",
                over.as_str()
            ),
            ModelError::Upstream(e) => e.fmt(f),
            ModelError::Invalid(why) => write!(f, "the model's answer is not usable: {why}"),
            ModelError::Internal(e) => write!(f, "the AI ledger failed: {e}"),
        }
    }
}

impl std::error::Error for ModelError {}

/// A commit as a model proposes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Proposal {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: CommitType,
    /// Its scope, if any.
    pub scope: Option<String>,
    /// The subject after `type(scope): `.
    pub message: String,
    /// More lines, if any.
    pub body: Option<String>,
    /// Its files (absent when one commit is redone: its files stay).
    #[serde(default)]
    pub files: Vec<String>,
    /// Whether it breaks compatibility.
    #[serde(default)]
    pub breaking: bool,
    /// Why the model made it so, in a sentence, if it said.
    #[serde(default)]
    pub reasoning: Option<String>,
}

#[derive(Deserialize)]
struct PlanAnswer {
    commits: Vec<Proposal>,
}

#[derive(Deserialize)]
struct SummaryAnswer {
    summary: String,
}

/// The caller on whose account a route asks the model: `403 FORBIDDEN` (the framework's, with
/// `details.missingScopes`) unless they hold [`GENERATE_SCOPE`]. Called only when the model is
/// about to be asked, so a server without one serves the same routes without it.
///
/// # Errors
/// The scope missing.
pub(crate) fn caller_for_model(
    ctx: &plugin_routes::Ctx<crate::CommitState>,
) -> Result<&str, plugin_routes::RouteError> {
    ctx.require_scopes(&[GENERATE_SCOPE])?;
    if let Some(model) = &ctx.model {
        // The provider is reached only from routes that declare it.
        ctx.reach().check_url(model.provider.endpoint())?;
    }
    Ok(ctx.caller()?.user_id())
}

const TYPES: &str = "feat, fix, docs, test, refactor, perf, style, build, ci, chore, revert";

impl Model {
    /// `name`, served by `provider` at `prices`, its calls charged through `meter`.
    pub fn new(provider: Provider, name: impl Into<String>, prices: Prices, meter: Meter) -> Self {
        Model {
            provider,
            name: name.into(),
            prices,
            meter,
        }
    }

    /// The URL its provider is asked at: the value of the placeholder `{provider}`.
    pub fn endpoint(&self) -> &str {
        self.provider.endpoint()
    }

    /// The model `name` of the AI plugin's configuration, with a client for its provider, its
    /// calls charged through `meter` (the AI plugin's, [`ai_plugin::AiState::meter`]).
    ///
    /// # Errors
    /// No such model, or its provider is not configured.
    pub fn from_config(config: &AiConfig, name: &str, meter: Meter) -> Result<Self, String> {
        let model = config
            .model(name)
            .ok_or_else(|| format!("the AI configuration has no model `{name}`"))?;
        if model.embeddings {
            return Err(format!(
                "the AI configuration's model `{name}` makes embeddings, not text"
            ));
        }
        let provider = config.providers.get(&model.provider).ok_or_else(|| {
            format!(
                "model `{name}`'s provider `{}` is not configured",
                model.provider
            )
        })?;
        let client = Provider::of_kind(
            provider.kind,
            model.provider.clone(),
            ai_plugin::provider::http_client([&*provider.base_url])?,
            &provider.base_url,
            provider.api_key.clone(),
        );
        Ok(Model::new(client, name, model.prices, meter))
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks for one JSON object on `caller`'s account.
    async fn ask_json(
        &self,
        caller: &str,
        prompt: String,
        max_tokens: u32,
    ) -> Result<(String, u64), ModelError> {
        let ask = Ask {
            model: self.name.clone(),
            prompt,
            max_tokens,
            temperature: Some(0.2),
            json: true,
        };
        let (answer, charge) = self
            .meter
            .complete(caller, &self.provider, self.prices, ask)
            .await
            .map_err(|e| match e {
                MeterError::Over(over) => ModelError::Over(over),
                MeterError::Upstream(e) => ModelError::Upstream(e),
                MeterError::Internal(e) => ModelError::Internal(e),
            })?;
        Ok((
            json_object(&answer.text).to_owned(),
            charge.usage.total_tokens,
        ))
    }

    /// A plan of commits for `files`, whose diffs are `diffs`, checked; asked on `caller`'s
    /// account.
    ///
    /// # Errors
    /// See [`ModelError`].
    pub async fn plan(
        &self,
        caller: &str,
        files: &[FileStat],
        diffs: &[FileDiff],
    ) -> Result<(Vec<Proposal>, u64), ModelError> {
        let mut prompt = String::from(
            "You group a repository's uncommitted changes into conventional commits.\n\
             Answer with one JSON object and nothing else: {\"commits\": [{\"type\": ..., \
             \"scope\": null or a short word, \"message\": imperative subject under 72 \
             characters, \"body\": null or more lines, \"files\": [paths], \"breaking\": \
             false, \"reasoning\": one sentence on why these files belong together}]}.\n",
        );
        let _ = writeln!(prompt, "Types: {TYPES}.");
        prompt.push_str(
            "Put every changed file in exactly one commit; use the paths exactly as listed.\n",
        );
        describe_changes(&mut prompt, files, diffs);
        let (text, tokens) = self.ask_json(caller, prompt, 2_000).await?;
        let answer: PlanAnswer = serde_json::from_str(&text)
            .map_err(|e| ModelError::Invalid(format!("not a plan ({e})")))?;
        Ok((check_plan(answer.commits, files)?, tokens))
    }

    /// `commit` redone from its files' `diffs`, following `instruction` if given; its files stay.
    /// Asked on `caller`'s account.
    ///
    /// # Errors
    /// See [`ModelError`].
    pub async fn redo(
        &self,
        caller: &str,
        commit: &PlannedCommit,
        diffs: &[FileDiff],
        instruction: Option<&str>,
    ) -> Result<(Proposal, u64), ModelError> {
        let mut prompt = String::from(
            "You write one conventional commit for the changes below.\n\
             Answer with one JSON object and nothing else: {\"type\": ..., \"scope\": null or a \
             short word, \"message\": imperative subject under 72 characters, \"body\": null or \
             more lines, \"breaking\": false}.\n",
        );
        let _ = writeln!(prompt, "Types: {TYPES}.");
        let _ = writeln!(
            prompt,
            "Its message so far: {}",
            crate::apply::subject(commit)
        );
        if let Some(i) = instruction {
            let _ = writeln!(prompt, "The user asks: {i}");
        }
        describe_changes(&mut prompt, &[], diffs);
        let (text, tokens) = self.ask_json(caller, prompt, 1_000).await?;
        let mut proposal: Proposal = serde_json::from_str(&text)
            .map_err(|e| ModelError::Invalid(format!("not a commit ({e})")))?;
        proposal.files.clone_from(&commit.files);
        check_commit(&proposal)?;
        Ok((proposal, tokens))
    }

    /// A few sentences on what `files` change, from their `diffs`; asked on `caller`'s account.
    ///
    /// # Errors
    /// See [`ModelError`].
    pub async fn summarize(
        &self,
        caller: &str,
        files: &[FileStat],
        diffs: &[FileDiff],
    ) -> Result<(String, u64), ModelError> {
        let mut prompt = String::from(
            "Summarize the changes below for a reviewer in a few sentences.\n\
             Answer with one JSON object and nothing else: {\"summary\": \"...\"}.\n",
        );
        describe_changes(&mut prompt, files, diffs);
        let (text, tokens) = self.ask_json(caller, prompt, 800).await?;
        let answer: SummaryAnswer = serde_json::from_str(&text)
            .map_err(|e| ModelError::Invalid(format!("not a summary ({e})")))?;
        let summary = answer.summary.trim().to_owned();
        if summary.is_empty() || summary.chars().count() > 4_000 {
            return Err(ModelError::Invalid(
                "the summary is empty or longer than 4000 characters".into(),
            ));
        }
        Ok((summary, tokens))
    }
}

/// The JSON object in `text`: models asked for JSON sometimes wrap it in a code fence.
fn json_object(text: &str) -> &str {
    match (text.find('{'), text.rfind('}')) {
        (Some(start), Some(end)) if start < end => &text[start..=end],
        _ => text,
    }
}

fn describe_changes(prompt: &mut String, files: &[FileStat], diffs: &[FileDiff]) {
    if !files.is_empty() {
        prompt.push_str("\nChanged files:\n");
        for f in files {
            let counts = match (f.additions, f.deletions) {
                (Some(a), Some(d)) => format!("+{a} -{d}"),
                _ => "binary".to_owned(),
            };
            let change = serde_json::to_value(f.change).unwrap_or_default();
            let _ = writeln!(
                prompt,
                "- {} ({}, {counts})",
                f.path,
                change.as_str().unwrap_or("changed")
            );
        }
    }
    prompt.push_str("\nDiffs:\n");
    for (d, sent) in sent_diffs(diffs) {
        match sent {
            None => {
                let _ = writeln!(prompt, "(diff of {} left out)", d.path);
            }
            Some(text) => {
                prompt.push_str(text);
                if text.len() < d.diff.len() {
                    prompt.push_str("\n(cut)\n");
                }
            }
        }
    }
}

/// What of each of `diffs` a model is sent, in order: its first [`DIFF_PER_FILE`] bytes (all of
/// it if shorter), or `None` once [`DIFF_TOTAL`] is spent. The routes scan exactly this for
/// secrets.
pub(crate) fn sent_diffs(diffs: &[FileDiff]) -> Vec<(&FileDiff, Option<&str>)> {
    let mut left = DIFF_TOTAL;
    diffs
        .iter()
        .map(|d| {
            if left == 0 {
                return (d, None);
            }
            let most = DIFF_PER_FILE.min(left);
            let cut = (0..=most.min(d.diff.len()))
                .rev()
                .find(|i| d.diff.is_char_boundary(*i))
                .unwrap_or(0);
            left -= cut;
            (d, Some(&d.diff[..cut]))
        })
        .collect()
}

fn check_commit(p: &Proposal) -> Result<(), ModelError> {
    let invalid = |why: String| Err(ModelError::Invalid(why));
    let len = p.message.trim().chars().count();
    if len == 0 || len > 200 || p.message.contains('\n') {
        return invalid(format!(
            "a commit's message must be one line of 1 to 200 characters, not {len}"
        ));
    }
    if let Some(scope) = &p.scope {
        let ok = (1..=50).contains(&scope.chars().count())
            && scope
                .chars()
                .all(|c| c.is_alphanumeric() || "-_./".contains(c));
        if !ok {
            return invalid(format!("the scope `{scope}` is not a short word"));
        }
    }
    if p.body.as_ref().is_some_and(|b| b.chars().count() > 10_000) {
        return invalid("a commit's body is longer than 10000 characters".into());
    }
    Ok(())
}

/// The model's commits, checked against the files that changed.
fn check_plan(commits: Vec<Proposal>, files: &[FileStat]) -> Result<Vec<Proposal>, ModelError> {
    if commits.is_empty() || commits.len() > files.len() {
        return Err(ModelError::Invalid(format!(
            "{} commits for {} files",
            commits.len(),
            files.len()
        )));
    }
    let changed: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    for c in &commits {
        check_commit(c)?;
        if c.files.is_empty() {
            return Err(ModelError::Invalid("a commit has no files".into()));
        }
        for f in &c.files {
            if !changed.contains(f.as_str()) {
                return Err(ModelError::Invalid(format!(
                    "`{f}` is not one of the changed files"
                )));
            }
            if !placed.insert(f.as_str()) {
                return Err(ModelError::Invalid(format!("`{f}` is in two commits")));
            }
        }
    }
    if let Some(missing) = changed.difference(&placed).next() {
        return Err(ModelError::Invalid(format!("`{missing}` is in no commit")));
    }
    Ok(commits
        .into_iter()
        .map(|mut c| {
            c.message = c.message.trim().to_owned();
            c.body = c.body.filter(|b| !b.trim().is_empty());
            c
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Change;

    fn stat(path: &str) -> FileStat {
        FileStat {
            path: path.into(),
            change: Change::Modified,
            additions: Some(1),
            deletions: Some(1),
        }
    }

    fn proposal(files: &[&str]) -> Proposal {
        Proposal {
            kind: CommitType::Fix,
            scope: None,
            message: "mend it".into(),
            body: None,
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            breaking: false,
            reasoning: None,
        }
    }

    #[test]
    fn a_plan_must_place_every_changed_file_once() {
        let files = [stat("a.rs"), stat("b.rs")];
        assert!(check_plan(vec![proposal(&["a.rs", "b.rs"])], &files).is_ok());
        let left_out = check_plan(vec![proposal(&["a.rs"])], &files).unwrap_err();
        assert!(left_out.to_string().contains("`b.rs` is in no commit"));
        let twice = check_plan(
            vec![proposal(&["a.rs", "b.rs"]), proposal(&["a.rs"])],
            &files,
        );
        assert!(twice.unwrap_err().to_string().contains("two commits"));
        let made_up = check_plan(vec![proposal(&["a.rs", "b.rs", "c.rs"])], &files);
        assert!(made_up.unwrap_err().to_string().contains("`c.rs`"));
    }

    #[test]
    fn fenced_json_is_unwrapped() {
        assert_eq!(json_object("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(json_object("no json"), "no json");
    }
}
