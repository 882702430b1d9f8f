//! `memproxy explain` for people: the program, the config, then each image
//! with its two names, notes and the library's verdict.

use super::verdict::{Explanation, JudgedImage, Lookup};

/// Prints `explanation` as text on standard output.
pub(super) fn print(explanation: &Explanation) {
    println!(
        "program  {} ({})",
        explanation.program,
        match explanation.lookup {
            Lookup::Path => "a name: looked up on PATH like execvp",
            Lookup::AsGiven => "a path: executed as given",
        }
    );
    println!(
        "config   {} ({}){}",
        explanation.config,
        explanation.config_source.describe(),
        explanation
            .config_problem
            .as_ref()
            .map_or(String::new(), |problem| format!(
                ": {problem}; nothing is excluded"
            ))
    );
    // One image needs no number; an env script's two do.
    let numbered = explanation.images.len() > 1;
    for (index, judged) in explanation.images.iter().enumerate() {
        let image = &judged.image;
        if numbered {
            println!("image {}: {}", index + 1, image.started_by);
        } else {
            println!("started  {}", image.started_by);
        }
        println!("  execfn {}   (name '{}')", image.execfn, image.execfn_name);
        println!(
            "  exe    {}   (name '{}'{})",
            image.exe,
            image.exe_name,
            if image.interpreters.is_empty() {
                ", symlinks resolved"
            } else {
                ", the interpreter"
            }
        );
        for note in &image.notes {
            println!("  note: {note}");
        }
        print_verdict(judged, explanation.config_problem.is_some());
    }
    if let Some(error) = &explanation.error {
        println!("cannot execute: {error}");
    }
    if numbered {
        println!(
            "The program that finally runs is {}.",
            if explanation.excluded {
                "excluded: glibc's malloc"
            } else {
                "not excluded: the custom allocator"
            }
        );
    }
    if let Some(advice) = &explanation.advice {
        println!("advice: {advice}");
    }
}

fn print_verdict(judged: &JudgedImage, config_unread: bool) {
    let (image, verdict) = (&judged.image, &judged.verdict);
    match &verdict.deciding {
        Some(found) => {
            let how = if found.pattern { "matches" } else { "equals" };
            if found.excludes {
                println!(
                    "  excluded: line {} '{}' {how} the {} -> glibc's malloc",
                    found.line, found.entry, found.source
                );
            } else {
                println!(
                    "  not excluded: line {} '{}' re-includes it ({how} the {}) -> the custom \
                     allocator",
                    found.line, found.entry, found.source
                );
            }
            if verdict.matches.len() > 1 {
                println!("  every matching line, in order (the last decides):");
                for each in &verdict.matches {
                    let effect = if each.excludes {
                        "excludes"
                    } else {
                        "re-includes"
                    };
                    println!(
                        "    line {} '{}' ({}): {effect}",
                        each.line, each.entry, each.source
                    );
                }
            }
        }
        None if config_unread => {
            println!("  not excluded (no config read) -> the custom allocator");
        }
        None => {
            // Both names, or both paths, are often the same: say each once.
            let mut names = vec![image.execfn_name.as_str(), image.exe_name.as_str()];
            names.dedup();
            let mut paths = vec![image.execfn.as_str(), image.exe.as_str()];
            paths.dedup();
            println!(
                "  not excluded: no entry is '{}' or '{}' -> the custom allocator",
                names.join("' or '"),
                paths.join("' or '")
            );
        }
    }
}
