//! Just enough of GitHub Actions and of GitLab CI to run a job of a workflow file: its shell
//! steps, in order, with the forge's variables, a clean environment and a given `PATH`.
//!
//! GitHub: `${{ }}` expressions (contexts `github`, `secrets`, `vars`, `env`, `steps`,
//! `inputs` (a composite action's, or a `workflow_dispatch` event's), `runner`, `matrix`,
//! `needs`; operators `! == != && ||`; `always() success() failure() cancelled() contains()
//! startsWith()`), job and step `if:`, `env:` at every level, `defaults.run.shell`,
//! `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`, `::warning::` and the
//! other annotation commands (collected from the log), composite actions. `run:` blocks may not
//! hold `${{ }}` (data reaches scripts through `env:`, as GitHub's hardening guide asks), and
//! `uses:` steps go to a handler the test gives.
//!
//! GitLab: `rules:` with `$VAR == "x"` clauses, `before_script` + `script` in one shell with
//! `set -eo pipefail` (as GitLab's bash runner does), nested script lists from YAML anchors,
//! `after_script` in a shell of its own whose failure does not fail the job, `CI_JOB_STATUS`,
//! `allow_failure:` (`true`, or `exit_codes:`).
//!
//! Anything else these files might use is refused loudly, so that an example cannot quietly
//! drift past what is tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// A YAML file as JSON (anchors resolved).
pub fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One step (GitHub) or script section (GitLab) as it ran.
#[derive(Debug)]
pub struct StepRun {
    pub name: String,
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

/// A job as it ran.
#[derive(Debug)]
pub struct JobRun {
    /// Whether the job ran at all (its `if:` or `rules:` held).
    pub ran: bool,
    pub success: bool,
    pub steps: Vec<StepRun>,
    /// GitHub: what the steps wrote to `GITHUB_STEP_SUMMARY`, in order (the run's summary page).
    pub summary: String,
    /// GitLab: the job failed, and its `allow_failure:` allows that failure: GitLab shows it as
    /// passed with warnings, and the pipeline passes.
    pub allowed_failure: bool,
}

impl JobRun {
    pub fn step(&self, name: &str) -> &StepRun {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name:?} in {:?}", self.names()))
    }

    fn names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// Everything the job printed, step by step, for failure messages.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            out.push_str(&format!(
                "---- {} ({})\n{}{}",
                s.name,
                s.outcome.word(),
                s.stdout,
                s.stderr
            ));
        }
        out
    }

    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.ran, "the job did not run");
        assert!(self.success, "the job failed:\n{}", self.log());
    }

    #[track_caller]
    pub fn assert_failure(&self) {
        assert!(self.ran, "the job did not run");
        assert!(!self.success, "the job passed:\n{}", self.log());
    }

    /// GitLab's "passed with warnings": failed with an exit code `allow_failure:` allows.
    #[track_caller]
    pub fn assert_allowed_failure(&self) {
        self.assert_failure();
        assert!(
            self.allowed_failure,
            "the job failed, and allow_failure does not allow it:\n{}",
            self.log()
        );
    }

    /// The messages of the GitHub annotations of `level` (`warning`, `error`, `notice`) the
    /// steps printed (`::warning title=T::message`), in order.
    pub fn annotations(&self, level: &str) -> Vec<String> {
        let prefix = format!("::{level}");
        self.steps
            .iter()
            .flat_map(|s| s.stdout.lines())
            .filter_map(|line| {
                let rest = line.strip_prefix(&prefix)?;
                if !(rest.starts_with(' ') || rest.starts_with("::")) {
                    return None;
                }
                let (_, message) = rest.split_once("::")?;
                Some(message.to_owned())
            })
            .collect()
    }
}

/// Run `command` to its end (at most two minutes), with no input.
fn run_command(mut command: Command) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start the shell");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("a step ran for over two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out_path).unwrap_or_default(),
        std::fs::read_to_string(err_path).unwrap_or_default(),
    )
}

// ---- GitHub Actions

/// What a `uses:` step did, as the test's handler decides.
pub enum Uses {
    Done,
    /// Done, and this directory is on the `PATH` of later steps (an install).
    OnPath(PathBuf),
    /// Done, and these variables are in the environment of later steps (as an action's
    /// `core.exportVariable` puts them).
    Exports(BTreeMap<String, String>),
    /// Run a composite action from this directory, with these inputs.
    Composite(PathBuf),
}

/// Everything a GitHub job run needs besides the workflow.
pub struct GitHub<'a> {
    /// The `github` context (`event_name`, `event`, `repository`, `ref`, `sha`, `token`...).
    pub github: Value,
    pub secrets: Value,
    /// Configuration variables (`vars`): the repository's, organisation's and environment's.
    pub vars: Value,
    pub matrix: Value,
    pub needs: Value,
    /// The runner's environment: `GITHUB_*`, `RUNNER_TEMP`, `HOME`, `CI`...
    pub env: BTreeMap<String, String>,
    pub path: Vec<PathBuf>,
    pub workspace: &'a Path,
    /// Decides what a `uses:` step does: (the action, its evaluated `with:`).
    pub uses: &'a dyn Fn(&str, &Map<String, Value>) -> Uses,
}

struct JobState {
    env: BTreeMap<String, String>,
    path: Vec<PathBuf>,
    steps: Map<String, Value>,
    failed: bool,
    runs: Vec<StepRun>,
    summary: String,
}

impl GitHub<'_> {
    fn context(&self, env: &BTreeMap<String, String>, steps: &Map<String, Value>) -> Value {
        json!({
            "github": self.github,
            "secrets": self.secrets,
            "vars": self.vars,
            "matrix": self.matrix,
            "needs": self.needs,
            "env": env,
            "steps": steps,
            "inputs": self.workflow_inputs(),
            "runner": {
                "os": "Linux",
                "arch": "X64",
                "temp": self.env.get("RUNNER_TEMP"),
                "tool_cache": self.env.get("RUNNER_TOOL_CACHE"),
            },
        })
    }

    /// A `workflow_dispatch` event's inputs (none for other events).
    fn workflow_inputs(&self) -> BTreeMap<String, Value> {
        match &self.github["event"]["inputs"] {
            Value::Object(map) => map.clone().into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Run `job` of `workflow` (a parsed workflow file).
    pub fn run_job(&self, workflow: &Value, job: &str) -> JobRun {
        self.run_steps(workflow, job, None)
    }

    /// Run only the steps of `job` named in `only` (the others are left out, as if absent).
    pub fn run_steps(&self, workflow: &Value, job: &str, only: Option<&[&str]>) -> JobRun {
        let spec = workflow["jobs"]
            .get(job)
            .unwrap_or_else(|| panic!("no job {job}"));
        let mut state = JobState {
            env: self.env.clone(),
            path: self.path.clone(),
            steps: Map::new(),
            failed: false,
            runs: Vec::new(),
            summary: String::new(),
        };
        let context = self.context(&state.env, &state.steps);
        if let Some(condition) = spec.get("if") {
            if !truthy(&eval_condition(condition, &context, false)) {
                return JobRun {
                    ran: false,
                    success: true,
                    steps: vec![],
                    summary: String::new(),
                    allowed_failure: false,
                };
            }
        }
        for scope in [&workflow["env"], &spec["env"]] {
            let context = self.context(&state.env, &state.steps);
            add_env(&mut state.env, scope, &context);
        }
        let shell = spec["defaults"]["run"]["shell"]
            .as_str()
            .or(workflow["defaults"]["run"]["shell"].as_str())
            .map(str::to_owned);
        let steps = spec["steps"].as_array().expect("steps");
        let inputs = self.workflow_inputs();
        for (i, step) in steps.iter().enumerate() {
            if let Some(only) = only {
                if !step["name"].as_str().is_some_and(|n| only.contains(&n)) {
                    continue;
                }
            }
            self.run_step(step, i, shell.as_deref(), &mut state, &inputs);
        }
        if let Some(only) = only {
            for name in only {
                assert!(
                    state.runs.iter().any(|r| r.name == *name),
                    "no step {name:?} in job {job}"
                );
            }
        }
        JobRun {
            ran: true,
            success: !state.failed,
            steps: state.runs,
            summary: state.summary,
            allowed_failure: false,
        }
    }

    fn run_step(
        &self,
        step: &Value,
        index: usize,
        default_shell: Option<&str>,
        state: &mut JobState,
        inputs: &BTreeMap<String, Value>,
    ) {
        let name = step["name"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| step["uses"].as_str().map(|u| format!("Run {u}")))
            .unwrap_or_else(|| format!("step {index}"));
        let mut context = self.context(&state.env, &state.steps);
        context["inputs"] = json!(inputs);
        context["job_failed"] = json!(state.failed);
        let condition = step.get("if").cloned().unwrap_or(json!("success()"));
        let runs = truthy(&eval_condition(&condition, &context, state.failed));
        let id = step["id"].as_str().map(str::to_owned);
        let record = |state: &mut JobState, outcome: Outcome, outputs: Map<String, Value>| {
            if let Some(id) = &id {
                state.steps.insert(
                    id.clone(),
                    json!({"outcome": outcome.word(), "conclusion": outcome.word(), "outputs": outputs}),
                );
            }
        };
        if !runs {
            record(state, Outcome::Skipped, Map::new());
            state.runs.push(StepRun {
                name,
                outcome: Outcome::Skipped,
                stdout: String::new(),
                stderr: String::new(),
            });
            return;
        }
        let mut env = state.env.clone();
        add_env(&mut env, &step["env"], &context);
        let files = tempfile::tempdir().unwrap();
        let output_file = files.path().join("output");
        let env_file = files.path().join("env");
        let path_file = files.path().join("path");
        let summary_file = files.path().join("summary");
        for f in [&output_file, &env_file, &path_file, &summary_file] {
            std::fs::write(f, "").unwrap();
        }
        env.insert("GITHUB_OUTPUT".into(), output_file.display().to_string());
        env.insert("GITHUB_ENV".into(), env_file.display().to_string());
        env.insert("GITHUB_PATH".into(), path_file.display().to_string());
        // One file per step, which GitHub joins into the run's summary page.
        env.insert(
            "GITHUB_STEP_SUMMARY".into(),
            summary_file.display().to_string(),
        );

        let (outcome, stdout, stderr) = if let Some(script) = step["run"].as_str() {
            assert!(
                !script.contains("${{"),
                "step {name:?}: `${{{{ }}}}` inside `run:` (pass data through `env:`)"
            );
            let shell = step["shell"].as_str().or(default_shell);
            self.run_script(script, shell, &env, &state.path, step, &context)
        } else if let Some(action) = step["uses"].as_str() {
            let with = match &step["with"] {
                Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(substitute(&scalar(v), &context))))
                    .collect(),
                _ => Map::new(),
            };
            match (self.uses)(action, &with) {
                Uses::Done => (Outcome::Success, String::new(), String::new()),
                Uses::OnPath(dir) => {
                    state.path.insert(0, dir);
                    (Outcome::Success, String::new(), String::new())
                }
                Uses::Exports(vars) => {
                    state.env.extend(vars);
                    (Outcome::Success, String::new(), String::new())
                }
                Uses::Composite(dir) => {
                    let (outcome, out, err, outputs) = self.run_composite(&dir, &with, state, &env);
                    record(state, outcome, outputs);
                    if outcome == Outcome::Failure {
                        state.failed = true;
                    }
                    state.runs.push(StepRun {
                        name,
                        outcome,
                        stdout: out,
                        stderr: err,
                    });
                    self.absorb_files(state, &env_file, &path_file, &summary_file);
                    return;
                }
            }
        } else {
            panic!("step {name:?} has neither run nor uses");
        };
        let outputs = read_outputs(&output_file);
        record(state, outcome, outputs);
        self.absorb_files(state, &env_file, &path_file, &summary_file);
        if outcome == Outcome::Failure && step["continue-on-error"] != json!(true) {
            state.failed = true;
        }
        state.runs.push(StepRun {
            name,
            outcome,
            stdout,
            stderr,
        });
    }

    fn absorb_files(
        &self,
        state: &mut JobState,
        env_file: &Path,
        path_file: &Path,
        summary_file: &Path,
    ) {
        state
            .summary
            .push_str(&std::fs::read_to_string(summary_file).unwrap_or_default());
        for (k, v) in read_outputs(env_file) {
            state
                .env
                .insert(k, v.as_str().unwrap_or_default().to_owned());
        }
        let added = std::fs::read_to_string(path_file).unwrap_or_default();
        for line in added.lines().rev().filter(|l| !l.trim().is_empty()) {
            state.path.insert(0, PathBuf::from(line.trim()));
        }
    }

    fn run_script(
        &self,
        script: &str,
        shell: Option<&str>,
        env: &BTreeMap<String, String>,
        path: &[PathBuf],
        step: &Value,
        context: &Value,
    ) -> (Outcome, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("step.sh");
        std::fs::write(&file, script).unwrap();
        let path_value = std::env::join_paths(path).unwrap();
        let bash = find_in(path, "bash");
        let mut command = match shell {
            Some("bash") => {
                let mut c = Command::new(&bash);
                c.args(["--noprofile", "--norc", "-eo", "pipefail"]);
                c
            }
            Some("sh") => {
                let mut c = Command::new(find_in(path, "sh"));
                c.arg("-e");
                c
            }
            None => {
                let mut c = Command::new(&bash);
                c.arg("-e");
                c
            }
            Some(other) => panic!("shell {other} is not supported here"),
        };
        command.arg(&file);
        let cwd = match step["working-directory"].as_str() {
            Some(dir) => self.workspace.join(substitute(dir, context)),
            None => self.workspace.to_owned(),
        };
        command
            .current_dir(cwd)
            .env_clear()
            .envs(env)
            .env("PATH", path_value);
        let (code, out, err) = run_command(command);
        let outcome = if code == 0 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        (outcome, out, format!("{err}[exit {code}]\n"))
    }

    /// Run a composite action's steps: its `inputs` (with defaults), `GITHUB_ACTION_PATH`, and
    /// its `outputs` mapped from its steps.
    fn run_composite(
        &self,
        dir: &Path,
        with: &Map<String, Value>,
        outer: &mut JobState,
        env: &BTreeMap<String, String>,
    ) -> (Outcome, String, String, Map<String, Value>) {
        let action = load_yaml(&dir.join("action.yml"));
        assert_eq!(action["runs"]["using"], "composite");
        let declared = action["inputs"].as_object().cloned().unwrap_or_default();
        for key in with.keys() {
            assert!(declared.contains_key(key), "input {key} is not declared");
        }
        let mut inputs = BTreeMap::new();
        for (key, spec) in &declared {
            let value = with
                .get(key)
                .cloned()
                .or_else(|| spec.get("default").cloned())
                .unwrap_or(json!(""));
            if spec["required"] == json!(true) {
                assert!(
                    value.as_str().is_some_and(|v| !v.is_empty()),
                    "required input {key} not given"
                );
            }
            inputs.insert(key.clone(), value);
        }
        let mut inner = JobState {
            env: env.clone(),
            path: outer.path.clone(),
            steps: Map::new(),
            failed: false,
            runs: Vec::new(),
            summary: String::new(),
        };
        inner
            .env
            .insert("GITHUB_ACTION_PATH".into(), dir.display().to_string());
        for (i, step) in action["runs"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .enumerate()
        {
            assert!(
                step.get("run").is_none() || step.get("shell").is_some(),
                "a composite action's run step needs `shell:`"
            );
            self.run_step(step, i, None, &mut inner, &inputs);
        }
        let mut context = self.context(&inner.env, &inner.steps);
        context["inputs"] = json!(inputs);
        let mut outputs = Map::new();
        if let Some(declared) = action["outputs"].as_object() {
            for (key, spec) in declared {
                let value = substitute(spec["value"].as_str().unwrap_or(""), &context);
                outputs.insert(key.clone(), json!(value));
            }
        }
        outer.path = inner.path;
        outer.summary.push_str(&inner.summary);
        let out: String = inner.runs.iter().map(|r| r.stdout.clone()).collect();
        let err: String = inner.runs.iter().map(|r| r.stderr.clone()).collect();
        let outcome = if inner.failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        (outcome, out, err, outputs)
    }
}

fn find_in(path: &[PathBuf], tool: &str) -> PathBuf {
    path.iter()
        .map(|d| d.join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {tool} on the job's PATH"))
}

/// `key=value` lines and `key<<DELIMITER` blocks, as `GITHUB_OUTPUT` and `GITHUB_ENV` hold.
fn read_outputs(file: &Path) -> Map<String, Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out = Map::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(key.to_owned(), json!(value.join("\n")));
        } else if let Some((key, value)) = line.split_once('=') {
            out.insert(key.to_owned(), json!(value));
        }
    }
    out
}

fn add_env(env: &mut BTreeMap<String, String>, scope: &Value, context: &Value) {
    if let Value::Object(map) = scope {
        for (k, v) in map {
            env.insert(k.clone(), substitute(&scalar(v), context));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A string with each `${{ expression }}` replaced by its value.
pub fn substitute(text: &str, context: &Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after.find("}}").expect("unclosed ${{");
        let value = eval(after[..end].trim(), context, false);
        out.push_str(&to_text(&value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// An `if:` condition: `${{ }}` optional; without a status function it means
/// `success() && (condition)`.
fn eval_condition(condition: &Value, context: &Value, failed: bool) -> Value {
    let text = match condition {
        Value::Bool(b) => return json!(b),
        Value::String(s) => s.trim(),
        other => panic!("if: {other}"),
    };
    let text = text
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(text)
        .trim();
    let status = ["always()", "success()", "failure()", "cancelled()"]
        .iter()
        .any(|f| text.contains(f));
    let value = eval(text, context, failed);
    if status {
        value
    } else {
        json!(!failed && truthy(&value))
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Evaluate an expression. `failed`: whether an earlier step of the job failed.
pub fn eval(text: &str, context: &Value, failed: bool) -> Value {
    let tokens = tokenize(text);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        context,
        failed,
    };
    let value = parser.or();
    assert!(
        parser.at == tokens.len(),
        "cannot evaluate {text:?}: stopped at {:?}",
        tokens.get(parser.at)
    );
    value
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Ident(String),
    Op(&'static str),
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                assert!(i < chars.len(), "unclosed string in {text:?}");
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Token::Num(n.parse().unwrap()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = match two.as_str() {
                "==" => Some("=="),
                "!=" => Some("!="),
                "&&" => Some("&&"),
                "||" => Some("||"),
                _ => None,
            };
            if let Some(op) = op {
                out.push(Token::Op(op));
                i += 2;
                continue;
            }
            let op = match c {
                '!' => "!",
                '(' => "(",
                ')' => ")",
                '.' => ".",
                ',' => ",",
                '[' => "[",
                ']' => "]",
                other => panic!("cannot evaluate {text:?}: {other:?}"),
            };
            out.push(Token::Op(op));
            i += 1;
        }
    }
    out
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    context: &'a Value,
    failed: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Value {
        let mut left = self.and();
        while self.eat("||") {
            let right = self.and();
            left = if truthy(&left) { left } else { right };
        }
        left
    }

    fn and(&mut self) -> Value {
        let mut left = self.unary();
        while self.eat("&&") {
            let right = self.unary();
            left = if truthy(&left) { right } else { left };
        }
        left
    }

    fn unary(&mut self) -> Value {
        if self.eat("!") {
            return json!(!truthy(&self.unary()));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Value {
        let left = self.primary();
        if self.eat("==") {
            let right = self.primary();
            return json!(equal(&left, &right));
        }
        if self.eat("!=") {
            let right = self.primary();
            return json!(!equal(&left, &right));
        }
        left
    }

    fn primary(&mut self) -> Value {
        let token = self.peek().cloned().expect("an expression ended early");
        self.at += 1;
        let mut value = match token {
            Token::Op("(") => {
                let v = self.or();
                assert!(self.eat(")"), "missing )");
                v
            }
            Token::Str(s) => json!(s),
            Token::Num(n) => json!(n),
            Token::Ident(name) if name == "true" => json!(true),
            Token::Ident(name) if name == "false" => json!(false),
            Token::Ident(name) if name == "null" => Value::Null,
            Token::Ident(name) if self.eat("(") => {
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.or());
                        if self.eat(")") {
                            break;
                        }
                        assert!(self.eat(","), "expected , in the call of {name}");
                    }
                }
                self.call(&name, &args)
            }
            Token::Ident(name) => self
                .context
                .get(&name)
                .cloned()
                .unwrap_or_else(|| panic!("unknown context `{name}`")),
            other => panic!("unexpected {other:?}"),
        };
        loop {
            if self.eat(".") {
                let Some(Token::Ident(key)) = self.peek().cloned() else {
                    panic!("expected a property name");
                };
                self.at += 1;
                value = value.get(&key).cloned().unwrap_or(Value::Null);
            } else if self.eat("[") {
                let key = self.or();
                assert!(self.eat("]"), "missing ]");
                value = value.get(to_text(&key)).cloned().unwrap_or(Value::Null);
            } else {
                return value;
            }
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Value {
        match (name, args) {
            ("always", []) => json!(true),
            ("success", []) => json!(!self.failed),
            ("failure", []) => json!(self.failed),
            ("cancelled", []) => json!(false),
            ("contains", [haystack, needle]) => match haystack {
                Value::Array(items) => json!(items.iter().any(|i| equal(i, needle))),
                other => json!(to_text(other)
                    .to_lowercase()
                    .contains(&to_text(needle).to_lowercase())),
            },
            ("startsWith", [s, prefix]) => json!(to_text(s)
                .to_lowercase()
                .starts_with(&to_text(prefix).to_lowercase())),
            (other, _) => panic!("function {other}() is not supported here"),
        }
    }
}

/// GitHub's `==`: strings compare ignoring case.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            y.parse::<f64>().ok() == x.as_f64()
        }
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        _ => a == b,
    }
}

// ---- GitLab CI

/// Everything a GitLab job run needs besides the file.
pub struct GitLab<'a> {
    /// Predefined and project variables (`CI_*`, tokens).
    pub variables: BTreeMap<String, String>,
    pub path: Vec<PathBuf>,
    pub workspace: &'a Path,
}

impl GitLab<'_> {
    /// Run `job` of a parsed `.gitlab-ci.yml`.
    pub fn run_job(&self, file: &Value, job: &str) -> JobRun {
        let spec = file.get(job).unwrap_or_else(|| panic!("no job {job}"));
        let mut vars = self.variables.clone();
        for scope in [&file["variables"], &spec["variables"]] {
            if let Value::Object(map) = scope {
                for (k, v) in map {
                    let value = expand(&scalar(v), &vars);
                    vars.insert(k.clone(), value);
                }
            }
        }
        if let Some(rules) = spec["rules"].as_array() {
            let runs = rules.iter().any(|rule| {
                let clause = rule["if"].as_str().expect("rules: only `if:` is supported");
                rule_holds(clause, &vars) && rule["when"] != json!("never")
            });
            if !runs {
                return JobRun {
                    ran: false,
                    success: true,
                    steps: vec![],
                    summary: String::new(),
                    allowed_failure: false,
                };
            }
        }
        let section = |key: &str| -> Vec<String> {
            let value = if spec.get(key).is_some() {
                &spec[key]
            } else {
                &file["default"][key]
            };
            flatten(value)
        };
        let mut script = section("before_script");
        script.extend(section("script"));
        let (main, code) = self.run_shell("script", &script, &vars);
        let success = main.outcome == Outcome::Success;
        let mut steps = vec![main];
        let after = section("after_script");
        if !after.is_empty() {
            vars.insert(
                "CI_JOB_STATUS".into(),
                if success { "success" } else { "failed" }.into(),
            );
            // after_script's own failure does not change the job's result.
            steps.push(self.run_shell("after_script", &after, &vars).0);
        }
        JobRun {
            ran: true,
            success,
            steps,
            summary: String::new(),
            allowed_failure: !success && allows_failure(&spec["allow_failure"], code),
        }
    }

    fn run_shell(
        &self,
        name: &str,
        lines: &[String],
        vars: &BTreeMap<String, String>,
    ) -> (StepRun, i32) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("script.sh");
        let mut text = String::from("set -eo pipefail\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&file, text).unwrap();
        let mut command = Command::new(find_in(&self.path, "bash"));
        command
            .args(["--noprofile", "--norc"])
            .arg(&file)
            .current_dir(self.workspace)
            .env_clear()
            .envs(vars)
            .env("PATH", std::env::join_paths(&self.path).unwrap());
        let (code, stdout, stderr) = run_command(command);
        let step = StepRun {
            name: name.to_owned(),
            outcome: if code == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            stdout,
            stderr: format!("{stderr}[exit {code}]\n"),
        };
        (step, code)
    }
}

/// Whether a job's `allow_failure:` allows it to fail with exit `code`: `true`, or
/// `exit_codes:` (one code or a list) naming it.
fn allows_failure(spec: &Value, code: i32) -> bool {
    match spec {
        Value::Null | Value::Bool(false) => false,
        Value::Bool(true) => true,
        Value::Object(map) => {
            assert!(
                map.keys().all(|k| k == "exit_codes"),
                "allow_failure: only `exit_codes:` is supported here: {spec}"
            );
            match &map["exit_codes"] {
                Value::Number(n) => n.as_i64() == Some(code.into()),
                Value::Array(codes) => codes.iter().any(|c| c.as_i64() == Some(code.into())),
                other => panic!("allow_failure: exit_codes: {other}"),
            }
        }
        other => panic!("allow_failure: {other}"),
    }
}

/// Script lines, with the nested lists YAML anchors make flattened (as GitLab does).
pub fn flatten(value: &Value) -> Vec<String> {
    match value {
        Value::Null => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        other => panic!("a script entry is {other}"),
    }
}

/// `$VAR` and `${VAR}` expanded from `vars` (unknown ones stay empty).
fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced {
            assert_eq!(chars.next(), Some('}'));
        }
        out.push_str(vars.get(&name).map_or("", String::as_str));
    }
    out
}

/// A `rules: if:` clause of `&&`-joined `$A == "x"`, `$A != "x"` or `$A == $B` comparisons.
fn rule_holds(clause: &str, vars: &BTreeMap<String, String>) -> bool {
    clause.split("&&").all(|part| {
        let (op, (left, right)) = if let Some(p) = part.split_once("==") {
            ("==", p)
        } else if let Some(p) = part.split_once("!=") {
            ("!=", p)
        } else {
            panic!("rules: {clause}: only == and != are supported here")
        };
        let operand = |s: &str| -> Option<String> {
            let s = s.trim();
            if let Some(name) = s.strip_prefix('$') {
                vars.get(name).cloned()
            } else {
                Some(s.trim_matches('"').to_owned())
            }
        };
        let equal = operand(left) == operand(right);
        if op == "==" {
            equal
        } else {
            !equal
        }
    })
}

#[test]
fn the_runner_evaluates_expressions_as_github_does() {
    let context = json!({
        "github": {"event_name": "pull_request", "event": {"pull_request": {"number": 7}}},
        "steps": {"plan": {"outputs": {"exitcode": "2"}, "outcome": "success"}},
    });
    let t = |e: &str| truthy(&eval(e, &context, false));
    assert!(t("github.event_name == 'Pull_Request'"));
    assert!(t(
        "steps.plan.outputs.exitcode == '2' && steps.plan.outcome != 'skipped'"
    ));
    assert!(!t("steps.plan.outputs.exitcode == '1'"));
    assert!(t("always() && !failure()"));
    assert_eq!(
        substitute("pr ${{ github.event.pull_request.number }}!", &context),
        "pr 7!"
    );
    assert!(!truthy(&eval_condition(
        &json!("steps.nope.outputs.x == 'a'"),
        &context,
        false
    )));
    assert!(!truthy(&eval_condition(
        &json!("github.event_name == 'pull_request'"),
        &context,
        true
    )));
    let vars: BTreeMap<String, String> = [("A", "x"), ("B", "x")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(rule_holds("$A == $B && $A == \"x\"", &vars));
    assert!(!rule_holds("$A != \"x\"", &vars));
    assert_eq!(expand("img:$A-${B}", &vars), "img:x-x");
}

#[test]
fn the_runner_reads_annotations_and_allowed_exit_codes() {
    let run = JobRun {
        ran: true,
        success: true,
        steps: vec![StepRun {
            name: "report".into(),
            outcome: Outcome::Success,
            stdout: "::warning title=zsc drift::2 objects: a::b\n::warning::x\n::warnings::no\n\
                     plain ::warning::no\n::error::e\n"
                .into(),
            stderr: String::new(),
        }],
        summary: String::new(),
        allowed_failure: false,
    };
    assert_eq!(run.annotations("warning"), ["2 objects: a::b", "x"]);
    assert_eq!(run.annotations("error"), ["e"]);
    assert!(allows_failure(&json!({"exit_codes": [3]}), 3));
    assert!(allows_failure(&json!({"exit_codes": 3}), 3));
    assert!(!allows_failure(&json!({"exit_codes": [3]}), 1));
    assert!(allows_failure(&json!(true), 1));
    assert!(!allows_failure(&Value::Null, 3));
}
