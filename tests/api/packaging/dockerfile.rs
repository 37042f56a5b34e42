//! The `Dockerfile` as its instructions (continuation lines joined), and what the runtime stage
//! sets: its environment, its default command and its health probe.

use super::*;

/// One instruction, continuation lines joined; `stage` counts `FROM`s from 1.
#[derive(Debug)]
pub(super) struct Instruction {
    pub(super) keyword: String,
    pub(super) args: String,
    pub(super) stage: usize,
}

pub(super) fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    let mut stage = 0;
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            stage += 1;
        }
        instructions.push(Instruction {
            keyword,
            args: args.trim().to_owned(),
            stage,
        });
    }
    instructions
}

pub(super) fn runtime_stage(instructions: &[Instruction]) -> impl Iterator<Item = &Instruction> {
    let last = instructions.iter().map(|i| i.stage).max().unwrap_or(0);
    instructions.iter().filter(move |i| i.stage == last)
}

pub(super) fn only<'i>(instructions: &'i [Instruction], keyword: &str) -> &'i Instruction {
    let found: Vec<&Instruction> = runtime_stage(instructions)
        .filter(|i| i.keyword == keyword)
        .collect();
    assert_eq!(found.len(), 1, "the image needs one {keyword}: {found:?}");
    found[0]
}

/// An exec-form (JSON array) argument list: the image has no shell to run the shell form.
pub(super) fn exec_form(args: &str, what: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| {
        panic!("{what} must be exec form, a JSON array (no shell in the image): {args}: {e}")
    })
}

/// The image's environment: every `ENV KEY=VALUE` of the runtime stage.
pub(super) fn image_env(instructions: &[Instruction]) -> BTreeMap<String, String> {
    runtime_stage(instructions)
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| i.args.split_whitespace())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV {pair:?}: write KEY=VALUE"));
            assert!(
                !value.contains(['"', '\'']),
                "ENV {pair}: this test reads unquoted values"
            );
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// (flags, sources, destination) of a `COPY`.
pub(super) fn copy_parts(instruction: &Instruction) -> (Vec<&str>, Vec<&str>, &str) {
    let words: Vec<&str> = instruction.args.split_whitespace().collect();
    let (flags, rest): (Vec<&str>, Vec<&str>) = words.iter().partition(|w| w.starts_with("--"));
    let (destination, sources) = rest.split_last().expect("COPY has a destination");
    (flags, sources.to_vec(), destination)
}

/// The default command of the image and its health probe.
pub(super) fn image_commands(instructions: &[Instruction]) -> (Vec<String>, Vec<String>) {
    let mut command = exec_form(&only(instructions, "ENTRYPOINT").args, "ENTRYPOINT");
    command.extend(exec_form(&only(instructions, "CMD").args, "CMD"));
    let healthcheck = &only(instructions, "HEALTHCHECK").args;
    let (_options, probe) = healthcheck
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK needs CMD: {healthcheck}"));
    (command, exec_form(probe, "HEALTHCHECK CMD"))
}
