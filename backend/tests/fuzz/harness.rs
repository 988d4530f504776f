//! The machinery every fuzz target shares: replay the target's committed corpus
//! (`backend/tests/fuzz_corpus/<target>/`), then mutate it — proptest generates the mutations
//! and, once one fails, shrinks it to the fewest and smallest edits of a seed that still fail,
//! whose JSON is then pared down value by value — within a time and a count budget, and print one
//! line saying what was tried.
//!
//! A mutation is a short list of edits to one seed: byte edits (flip, set, insert, delete,
//! repeat, splice with another seed, insert a word of the format) and edits of the JSON inside it
//! (replace a value by a tricky one, remove it, add a field, turn it into a string, wrap it in an
//! array, graft a value of another seed). An input whose outcome (as the target names it) was not
//! seen before joins the seeds, so inputs that got past the parser into the rules are mutated
//! further. Nothing here watches code coverage: that would need libFuzzer, hence nightly (see
//! the README's "Fuzzing").
//!
//! Budget, from the environment: `FUZZ_SECONDS` (default 10) and `FUZZ_INPUTS` (default
//! 200,000) per target, whichever comes first; `FUZZ_SEED` replays a run's mutations, and
//! `FUZZ_OUTCOMES=1` lists every outcome seen and how often (what the run reached).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Once};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use serde_json::Value;

/// What a target makes of one input: `Ok(outcome)`, a short name for what happened (inputs with
/// an outcome not seen before become seeds), or `Err(why)`, a failure.
pub type Verdict = Result<String, String>;

const DEFAULT_SECONDS: f64 = 10.0;
const DEFAULT_INPUTS: u64 = 200_000;
/// Longest input a mutation makes: the formats' real messages are far shorter, and long inputs
/// only slow every check down.
const MAX_LEN: usize = 16 * 1024;
/// Seeds kept at most (the corpus and the inputs that showed a new outcome).
const MAX_POOL: usize = 2_000;
/// Shrinking stops after this many tries or this long, keeping the smallest failure so far.
const SHRINK_STEPS: u32 = 2_000;
const SHRINK_TIME: Duration = Duration::from_secs(30);

/// Bytes that matter to the formats fuzzed here, more likely than the others.
const SPECIAL_BYTES: &[u8] = b"\0\x7f\xff\"\\/,:;[]{}0123456789-+.eE ?&=%#\n\t";

/// Words of JSON itself, for every target.
const JSON_WORDS: &[&str] = &[
    "null",
    "true",
    "false",
    "\"\"",
    "[]",
    "{}",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\"\"",
    "-0",
    "1e309",
    "0.001",
    "9007199254740993",
    "18446744073709551616",
    "-9223372036854775809",
    "\":",
    ",",
    "\\",
];

/// Values a JSON edit puts in place of another: the edges of the rules (100 and 101 characters,
/// 2^53 and 2^53 + 1, two and three decimals, zero, negatives), other types, and text that is
/// hard to get right (whitespace around a name, multi-byte characters, control characters).
const TRICKY_VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "7",
    "1.5",
    "0.1",
    "0.001",
    "299.99",
    "-0.0",
    "1e2",
    "1e300",
    "4294967295",
    "4294967296",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "-9223372036854775808",
    "\"\"",
    "\" \"",
    "\"0\"",
    "\"42\"",
    "\" 42 \"",
    "\"+5\"",
    "\"-1\"",
    "\"1.5\"",
    "\"9007199254740993\"",
    "\"abc\"",
    "\"ana\"",
    "\"  ana  \"",
    "\"\\u0000\"",
    "\"\\u202e\"",
    "\"a\\\\b\"",
    "\"é\"",
    "\"😀\"",
    "[]",
    "{}",
    "[1]",
    "[\"x\"]",
    "{\"\":null}",
];

/// Every tricky value: [`TRICKY_VALUES`], and values too long to write there — strings at the
/// length limits, deep nesting.
static TRICKY: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut values: Vec<Value> = TRICKY_VALUES
        .iter()
        .map(|text| serde_json::from_str(text).expect("a tricky value is JSON"))
        .collect();
    for text in [
        "x".repeat(100),
        "x".repeat(101),
        format!(" {} ", "é".repeat(100)),
        "é".repeat(101),
        "x".repeat(200),
        "x".repeat(201),
        "x".repeat(2001),
    ] {
        values.push(Value::String(text));
    }
    // Deep, but within serde_json's nesting limit (128) so that it can be written back.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    values.push(serde_json::from_str(&deep).expect("deep JSON"));
    values
});

fn tricky_value(index: &Index) -> Value {
    index.get(&TRICKY).clone()
}

/// How long and how many inputs each target gets, and the seed of its mutations.
#[derive(Debug, Clone, Copy)]
struct Budget {
    time: Duration,
    inputs: u64,
    seed: u64,
}

impl Budget {
    fn from_env() -> Budget {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            let text = std::env::var(name).ok()?;
            Some(text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a number")))
        }
        let seconds: f64 = var("FUZZ_SECONDS").unwrap_or(DEFAULT_SECONDS);
        let seed = var("FUZZ_SEED").unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64)
        });
        Budget {
            time: Duration::from_secs_f64(seconds.max(0.0)),
            inputs: var("FUZZ_INPUTS").unwrap_or(DEFAULT_INPUTS),
            seed,
        }
    }
}

/// One edit of an input. Positions are [`Index`]es, resolved against the input's length when
/// applied, so every edit applies to every input (and shrinks toward the input's start).
#[derive(Debug, Clone)]
enum Edit {
    FlipBit { at: Index, bit: u8 },
    SetByte { at: Index, byte: u8 },
    Insert { at: Index, bytes: Vec<u8> },
    InsertWord { at: Index, word: Index },
    Delete { at: Index, len: u8 },
    Repeat { at: Index, len: u8, times: u8 },
    Splice { at: Index, seed: Index, from: Index, len: u8 },
    Json { node: Index, edit: JsonEdit },
}

/// An edit of one value of the JSON in an input (the whole input, or from its first `{` or `[`
/// on); no edit when there is no JSON to read.
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(Index),
    Remove,
    AddField { key: Index, value: Index },
    Stringify,
    Wrap,
    Graft { seed: Index, node: Index },
}

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), select(SPECIAL_BYTES)]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => any::<Index>().prop_map(JsonEdit::Replace),
        2 => Just(JsonEdit::Remove),
        2 => (any::<Index>(), any::<Index>())
            .prop_map(|(key, value)| JsonEdit::AddField { key, value }),
        1 => Just(JsonEdit::Stringify),
        1 => Just(JsonEdit::Wrap),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(seed, node)| JsonEdit::Graft { seed, node }),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<Index>;
    prop_oneof![
        1 => (at(), 0..8u8).prop_map(|(at, bit)| Edit::FlipBit { at, bit }),
        2 => (at(), byte()).prop_map(|(at, byte)| Edit::SetByte { at, byte }),
        2 => (at(), vec(byte(), 1..4)).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        2 => (at(), at()).prop_map(|(at, word)| Edit::InsertWord { at, word }),
        2 => (at(), 1..16u8).prop_map(|(at, len)| Edit::Delete { at, len }),
        1 => (at(), 1..16u8, 1..8u8).prop_map(|(at, len, times)| Edit::Repeat { at, len, times }),
        1 => (at(), at(), at(), 1..64u8)
            .prop_map(|(at, seed, from, len)| Edit::Splice { at, seed, from, len }),
        6 => (at(), json_edit()).prop_map(|(node, edit)| Edit::Json { node, edit }),
    ]
}

/// A mutation: which seed (of the corpus, or of every seed kept), and the edits made to it in
/// order.
type Mutation = (bool, Index, Vec<Edit>);

/// The seeds mutations start from: the corpus first, then inputs that showed a new outcome.
struct Pool {
    seeds: Vec<Vec<u8>>,
    /// How many of `seeds` are the corpus's.
    corpus: usize,
}

impl Pool {
    /// A seed of the corpus, or (`any`) of all kept. Half the mutations start from the corpus
    /// itself: kept inputs are mostly broken somewhere, and real messages reach deeper rules.
    fn pick(&self, any: bool, index: &Index) -> &[u8] {
        let from = if any { self.seeds.len() } else { self.corpus };
        &self.seeds[index.index(from)]
    }

    fn any(&self, index: &Index) -> &[u8] {
        self.pick(true, index)
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Mostly one edit: a structured input survives few byte edits, and an input that still
    // parses reaches the rules. Sometimes a pile of them ("havoc").
    let edits =
        prop_oneof![4 => vec(edit(), 1..=1), 2 => vec(edit(), 2..=3), 1 => vec(edit(), 4..=8)];
    (any::<bool>(), any::<Index>(), edits)
}

/// What went wrong in a rejection of axum's (`Failed to parse the request body as JSON: ...`,
/// `Failed to deserialize query string: ...`, `Invalid URL: ...`), as part of an outcome's name:
/// which rejection and which kind of serde error. The rest of such a message is where in the input
/// it went wrong and the input itself, so it would make every broken input an outcome of its own.
pub fn rejection_gist(message: &str) -> Option<String> {
    const KINDS: &[&str] = &[
        "unknown field",
        "missing field",
        "duplicate field",
        "unknown variant",
        "invalid type",
        "invalid value",
        "invalid length",
        "too large",
        "more than two decimals",
        "finite",
        "EOF while parsing",
        "trailing",
        "control character",
        "invalid escape",
        "invalid unicode",
        "lone leading surrogate",
        "invalid number",
        "number out of range",
        "key must be a string",
        "recursion limit",
        "expected",
        "Invalid UTF-8",
        "Cannot parse",
    ];
    if !message.starts_with("Failed to") && !message.starts_with("Invalid URL") {
        return None;
    }
    let which = message.split(": ").next().unwrap_or_default();
    let kind = KINDS.iter().find(|kind| message.contains(*kind)).copied().unwrap_or("other");
    Some(format!("{which}: {kind}"))
}

/// A message as part of an outcome's name: without digits, cut before the first quote (messages
/// quote the input), at most `max` characters — so that outcomes stay few.
pub fn gist(message: &str, max: usize) -> String {
    let cut = message.split(['"', '`', '\'']).next().unwrap_or_default();
    let cut = cut.split(" at line ").next().unwrap_or_default();
    cut.chars().filter(|c| !c.is_ascii_digit()).take(max).collect()
}

/// The JSON in `data`: where it starts, and its value.
fn json_in(data: &[u8]) -> Option<(usize, Value)> {
    if let Ok(value) = serde_json::from_slice(data) {
        return Some((0, value));
    }
    let start = data.iter().position(|b| *b == b'{' || *b == b'[')?;
    serde_json::from_slice(&data[start..]).ok().map(|value| (start, value))
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The `n`th value of `value` in pre-order (0 is `value` itself).
fn nth_mut(value: &mut Value, mut n: usize) -> &mut Value {
    match nth_path(value, &mut n) {
        Some(path) => follow(value, &path),
        None => value,
    }
}

/// The path (array indexes / object keys) to the `n`th value in pre-order.
fn nth_path(value: &Value, n: &mut usize) -> Option<Vec<Step>> {
    if *n == 0 {
        return Some(Vec::new());
    }
    *n -= 1;
    let children: Vec<(Step, &Value)> = match value {
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (Step::At(i), v)).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        if let Some(mut rest) = nth_path(child, n) {
            rest.insert(0, step);
            return Some(rest);
        }
    }
    None
}

#[derive(Debug, Clone)]
enum Step {
    At(usize),
    Key(String),
}

fn follow<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::At(i) => &mut value[*i],
        Step::Key(key) => &mut value[key.as_str()],
    })
}

/// Remove the value at `path` from its parent (the root is made `null`).
fn remove_at(value: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        *value = Value::Null;
        return;
    };
    match (follow(value, parent), last) {
        (Value::Array(items), Step::At(i)) => drop(items.remove(*i)),
        (Value::Object(map), Step::Key(key)) => drop(map.remove(key)),
        _ => {}
    }
}

fn apply_json(data: &mut Vec<u8>, pool: &Pool, words: &[&[u8]], node: &Index, edit: &JsonEdit) {
    let Some((start, mut value)) = json_in(data) else { return };
    let mut n = node.index(count_nodes(&value));
    let path = nth_path(&value, &mut n).unwrap_or_default();
    match edit {
        JsonEdit::Replace(tricky) => *follow(&mut value, &path) = tricky_value(tricky),
        JsonEdit::Remove => remove_at(&mut value, &path),
        JsonEdit::AddField { key, value: tricky } => match follow(&mut value, &path) {
            Value::Object(map) => {
                let key = String::from_utf8_lossy(words[key.index(words.len())]);
                map.insert(key.trim_matches('"').to_owned(), tricky_value(tricky));
            }
            Value::Array(items) => items.push(tricky_value(tricky)),
            _ => {}
        },
        JsonEdit::Stringify => {
            let target = follow(&mut value, &path);
            *target = Value::String(target.to_string());
        }
        JsonEdit::Wrap => {
            let target = follow(&mut value, &path);
            *target = Value::Array(vec![target.take()]);
        }
        JsonEdit::Graft { seed, node } => {
            let Some((_, mut other)) = json_in(pool.any(seed)) else { return };
            let count = count_nodes(&other);
            let graft = nth_mut(&mut other, node.index(count)).take();
            *follow(&mut value, &path) = graft;
        }
    }
    data.truncate(start);
    data.extend(serde_json::to_vec(&value).expect("a JSON value serializes"));
}

fn apply(data: &mut Vec<u8>, pool: &Pool, words: &[&[u8]], edit: &Edit) {
    let len = data.len();
    // A position in the input (for an edit of a byte) or between bytes (for an insertion).
    let inside = |at: &Index| (len > 0).then(|| at.index(len));
    let between = |at: &Index| at.index(len + 1);
    match edit {
        Edit::FlipBit { at, bit } => {
            if let Some(i) = inside(at) {
                data[i] ^= 1 << bit;
            }
        }
        Edit::SetByte { at, byte } => {
            if let Some(i) = inside(at) {
                data[i] = *byte;
            }
        }
        Edit::Insert { at, bytes } => {
            let i = between(at);
            data.splice(i..i, bytes.iter().copied());
        }
        Edit::InsertWord { at, word } => {
            let i = between(at);
            data.splice(i..i, words[word.index(words.len())].iter().copied());
        }
        Edit::Delete { at, len: n } => {
            if let Some(i) = inside(at) {
                data.drain(i..(i + usize::from(*n)).min(len));
            }
        }
        Edit::Repeat { at, len: n, times } => {
            if let Some(i) = inside(at) {
                let piece = data[i..(i + usize::from(*n)).min(len)].to_vec();
                for _ in 0..*times {
                    data.splice(i..i, piece.iter().copied());
                }
            }
        }
        Edit::Splice { at, seed, from, len: n } => {
            let other = pool.any(seed);
            if !other.is_empty() {
                let from = from.index(other.len());
                let piece = &other[from..(from + usize::from(*n)).min(other.len())];
                let i = between(at);
                data.splice(i..i, piece.iter().copied());
            }
        }
        Edit::Json { node, edit } => apply_json(data, pool, words, node, edit),
    }
    data.truncate(MAX_LEN);
}

fn mutate(pool: &Pool, words: &[&[u8]], (any, seed, edits): &Mutation) -> Vec<u8> {
    let mut data = pool.pick(*any, seed).to_vec();
    for edit in edits {
        apply(&mut data, pool, words, edit);
    }
    data
}

thread_local! {
    /// Whether a panic on this thread is a fuzz finding (kept, not printed).
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last panic's message and place, on this thread.
    static PANICKED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keep the panics of inputs quiet (shrinking panics hundreds of times) and remember where they
/// happened; panics of anything else go to the usual hook.
fn capture_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_owned());
                let place = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
                PANICKED.with(|p| *p.borrow_mut() = Some(format!("{message}{place}")));
            } else {
                usual(info);
            }
        }));
    });
}

/// Run `check` on one input; a panic is a failure like any other.
fn run<S>(check: &impl Fn(&mut S, &[u8]) -> Verdict, state: &mut S, input: &[u8]) -> Verdict {
    CAPTURING.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| check(state, input)));
    CAPTURING.with(|c| c.set(false));
    outcome.unwrap_or_else(|_| {
        let message = PANICKED.with(|p| p.borrow_mut().take()).unwrap_or_default();
        Err(format!("panicked: {message}"))
    })
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus").join(target)
}

/// The target's seeds, in file-name order.
fn read_corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()));
    let mut seeds: Vec<(String, Vec<u8>)> = entries
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).expect("a corpus file");
            (name, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "the corpus {} is empty", dir.display());
    seeds
}

/// A found failure, ready to be reported.
struct Failure {
    input: Vec<u8>,
    why: String,
    /// How the input was found and reduced, for the report.
    how: String,
    /// The input is a corpus file as it is (nothing to save).
    replayed: bool,
}

/// Reduce a failing mutation to the fewest, smallest edits that still fail, each tried on a
/// fresh state (a failure may have left the state broken: a dead writer thread, a poisoned lock).
fn shrink<S>(
    mut tree: impl ValueTree<Value = Mutation>,
    first: Failure,
    pool: &Pool,
    words: &[&[u8]],
    fresh: &impl Fn() -> S,
    check: &impl Fn(&mut S, &[u8]) -> Verdict,
) -> Failure {
    let Err(why) = run(check, &mut fresh(), &first.input) else {
        let how = format!(
            "{}; it passes on a fresh state: it fails only after the inputs before it",
            first.how
        );
        return Failure { how, ..first };
    };
    let mut best = Failure { why, ..first };
    let started = Instant::now();
    let mut steps = 0;
    let mut shrunk = 0;
    // A third of the budget for proptest's shrinking (fewer edits, then smaller positions, which
    // takes many tries), the rest for taking JSON values out.
    if tree.simplify() {
        while steps < SHRINK_STEPS / 3 && started.elapsed() < SHRINK_TIME / 3 {
            steps += 1;
            let candidate = mutate(pool, words, &tree.current());
            match run(check, &mut fresh(), &candidate) {
                Err(why) => {
                    shrunk += 1;
                    best.input = candidate;
                    best.why = why;
                    if !tree.simplify() {
                        break;
                    }
                }
                Ok(_) => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    let removed = reduce_json(&mut best, fresh, check, started, &mut steps);
    best.how = format!(
        "{}; shrunk {shrunk} times, then {removed} JSON values taken out, in {steps} tries",
        best.how
    );
    best
}

/// Take out of the failing input every JSON value the failure does not need (the edits shrunk,
/// the seed is still whole: a change log of eight changes where one is the culprit).
fn reduce_json<S>(
    best: &mut Failure,
    fresh: &impl Fn() -> S,
    check: &impl Fn(&mut S, &[u8]) -> Verdict,
    started: Instant,
    steps: &mut u32,
) -> u32 {
    let mut removed = 0;
    let mut progress = true;
    while progress {
        progress = false;
        let Some((_, value)) = json_in(&best.input) else { break };
        // From the last value to the first, so that earlier numbers stay valid after a removal.
        for n in (1..count_nodes(&value)).rev() {
            if *steps >= SHRINK_STEPS || started.elapsed() >= SHRINK_TIME {
                return removed;
            }
            let Some((start, mut smaller)) = json_in(&best.input) else { break };
            let mut at = n;
            let Some(path) = nth_path(&smaller, &mut at) else { continue };
            remove_at(&mut smaller, &path);
            let mut candidate = best.input[..start].to_vec();
            candidate.extend(serde_json::to_vec(&smaller).expect("a JSON value serializes"));
            *steps += 1;
            if let Err(why) = run(check, &mut fresh(), &candidate) {
                best.input = candidate;
                best.why = why;
                removed += 1;
                progress = true;
            }
        }
    }
    removed
}

/// A temporary directory for a target's store: in memory (`/dev/shm`) where there is one, since
/// the targets check parsing and rules, not durability (the crash tests do), and every fsync on
/// disk would cost a run inputs.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.expect("a temporary directory")
}

/// The input as text to paste into a Rust byte string, and as hex.
fn show(input: &[u8]) -> String {
    let hex: Vec<String> = input.iter().take(512).map(|b| format!("{b:02x}")).collect();
    let more = if input.len() > 512 { " ..." } else { "" };
    format!(
        "  input ({} bytes): b\"{}\"\n  hex: {}{more}",
        input.len(),
        input.escape_ascii(),
        hex.join(" ")
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Written straight to the process's stderr, past the test harness's capture, so that
/// `cargo test` shows it for passing tests too.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Fuzz one target: replay its corpus, then mutate it until the budget is spent or an input
/// fails. `fresh` makes the state inputs run against (a store, a router); `check` runs one
/// input and judges the answer. Prints one line; on a failure, prints the (shrunk) input, saves
/// it into the corpus (so every later run replays it first) and panics.
pub fn fuzz<S>(
    target: &str,
    dictionary: &[&str],
    fresh: impl Fn() -> S,
    check: impl Fn(&mut S, &[u8]) -> Verdict,
) {
    capture_panics();
    let budget = Budget::from_env();
    let dir = corpus_dir(target);
    let seeds = read_corpus(&dir);
    let words: Vec<&[u8]> = dictionary.iter().chain(JSON_WORDS).map(|w| w.as_bytes()).collect();

    let started = Instant::now();
    let mut state = fresh();
    // How often each outcome was seen (`FUZZ_OUTCOMES=1` prints them: what the run reached).
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut pool = Pool { seeds: Vec::new(), corpus: seeds.len() };
    let mut failure = None;
    for (name, bytes) in &seeds {
        match run(&check, &mut state, bytes) {
            Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
            Err(why) => {
                let how = format!("the corpus file {name} fails as it is");
                let input = bytes.clone();
                failure.get_or_insert(Failure { input, why, how, replayed: true });
            }
        }
        pool.seeds.push(bytes.clone());
    }
    let replayed = seeds.len() as u64;
    let mut tried = replayed;

    let config = Config {
        rng_seed: RngSeed::Fixed(budget.seed),
        // Not the default ChaCha: unoptimized (as `cargo test` builds it), ChaCha took nine
        // tenths of the time of a parser's run. Fuzzing needs no cryptographic randomness.
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = mutation();
    while failure.is_none() && tried < budget.inputs && started.elapsed() < budget.time {
        let tree = strategy.new_tree(&mut runner).expect("mutations are always generated");
        let input = mutate(&pool, &words, &tree.current());
        tried += 1;
        match run(&check, &mut state, &input) {
            Ok(outcome) => {
                let seen = outcomes.entry(outcome).or_default();
                *seen += 1;
                if *seen == 1 && pool.seeds.len() < MAX_POOL {
                    pool.seeds.push(input);
                }
            }
            Err(why) => {
                let how = format!(
                    "found after {tried} inputs ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
                let found = Failure { input, why, how, replayed: false };
                failure = Some(shrink(tree, found, &pool, &words, &fresh, &check));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    say(&format!(
        "fuzz {target}: {tried} inputs in {seconds:.1} s ({replayed} corpus files replayed, then \
         mutations; {} outcomes seen, {} seeds in the end), {} failures [FUZZ_SEED={}]",
        outcomes.len(),
        pool.seeds.len(),
        u8::from(failure.is_some()),
        budget.seed,
    ));
    if std::env::var_os("FUZZ_OUTCOMES").is_some() {
        for (outcome, count) in &outcomes {
            say(&format!("  {count:>8}  {outcome}"));
        }
    }
    if let Some(failure) = failure {
        let saved = if failure.replayed {
            "a corpus file: nothing new to save".to_owned()
        } else {
            let path = dir.join(format!("crash-{:016x}", fnv1a(&failure.input)));
            let shown = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path).display();
            match std::fs::write(&path, &failure.input) {
                Ok(()) => {
                    format!("saved as {shown}: every run replays it first; keep it beside the fix")
                }
                Err(e) => format!("could not be saved as {shown}: {e}"),
            }
        };
        say(&format!(
            "fuzz {target}: FAILED: {}\n  {}\n{}\n  {saved}",
            failure.why,
            failure.how,
            show(&failure.input)
        ));
        panic!("fuzz {target}: {}", failure.why);
    }
}
