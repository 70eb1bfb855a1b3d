//! `--progress=tty` (what a terminal gets): the final screen keeps every step with its status and time under a
//! `[+] Building 1.2s (5/5) FINISHED` header, even when running steps printed output or the steps outnumber the
//! terminal's rows. The build runs under script(1) (a real pty); its output is replayed through a small terminal
//! emulator to see what the screen shows at the end.
mod common;
use common::*;

/// What a terminal shows after `bytes`: cursor up (`ESC[nA`), clear line/screen (`ESC[K`, `ESC[J`), CR, LF;
/// scrolled-off lines are kept (as scrollback). Other escapes are ignored.
fn render(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut arg = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        command = c;
                        break;
                    }
                    arg.push(c);
                }
                let n: usize = arg.parse().unwrap_or(1);
                match command {
                    'A' => row = row.saturating_sub(n),
                    'K' => rows[row].truncate(col),
                    'J' => {
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if rows.len() <= row {
                    rows.push(Vec::new());
                }
            }
            c => {
                let line = &mut rows[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    rows.into_iter().map(|r| r.into_iter().collect()).collect()
}

#[test]
fn the_emulator_replays_redraws() {
    let screen = render(b"a\nbb\n\x1b[2A\rc\x1b[K\n\x1b[J");
    assert_eq!(screen, vec!["c".to_string(), String::new()]);
}

/// Builds `dockerfile` under a pty of `cols`×`rows` with `--progress auto`; returns the final screen.
fn build_on_a_terminal(h: &Hoist, dockerfile: &str, cols: u16, rows: u16) -> Option<Vec<String>> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: script(1) missing (bsdutils)");
        return None;
    }
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("a.txt"), "a").unwrap();
    let hoist = env!("CARGO_BIN_EXE_hoist");
    let inner = format!(
        "stty cols {cols} rows {rows}; {hoist} build -t tty:1 {}",
        ctx.path().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("HOIST_ROOT", h.root.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    Some(render(&out.stdout))
}

/// The screen line of the step named `name`: ` => [2/5] RUN … 0.3s`.
fn step_line<'a>(screen: &'a [String], name: &str) -> &'a str {
    screen
        .iter()
        .find(|l| l.starts_with(" => ") && l.contains(name))
        .unwrap_or_else(|| {
            panic!(
                "no line for {name:?} on the final screen:\n{}",
                screen.join("\n")
            )
        })
}

fn has_time(line: &str) -> bool {
    line.trim_end()
        .rsplit(' ')
        .next()
        .and_then(|t| t.strip_suffix('s'))
        .is_some_and(|t| t.parse::<f64>().is_ok())
}

const TALKATIVE: &str = "\
FROM busybox
RUN echo first; sleep 0.3; echo second
COPY a.txt /a
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.05; done
RUN echo last
";

#[test]
fn the_final_screen_has_every_step_with_its_time_after_steps_printed_output() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(screen) = build_on_a_terminal(&h, TALKATIVE, 100, 40) else {
        return;
    };
    let text = screen.join("\n");
    let header = screen
        .iter()
        .find(|l| l.starts_with("[+] Building "))
        .unwrap_or_else(|| panic!("no header:\n{text}"));
    assert!(header.ends_with("(5/5) FINISHED"), "{header}\n{text}");
    for name in [
        "[1/5] FROM busybox",
        "[2/5] RUN echo first",
        "[3/5] COPY a.txt /a",
        "[4/5] RUN for i in",
        "[5/5] RUN echo last",
    ] {
        let line = step_line(&screen, name);
        assert!(has_time(line), "{line:?}\n{text}");
    }
    // A running step's output shows while it runs, not on the final screen.
    assert!(!text.contains("# line 10"), "{text}");
    assert!(text.contains("naming to tty:1 done"), "{text}");
}

#[test]
fn more_steps_than_rows_still_end_with_every_step_on_the_screen() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let mut dockerfile = String::from("FROM busybox\n");
    for i in 1..=12 {
        dockerfile.push_str(&format!("RUN echo step{i}; echo more{i}\n"));
    }
    let Some(screen) = build_on_a_terminal(&h, &dockerfile, 60, 8) else {
        return;
    };
    let text = screen.join("\n");
    for i in 1..=12 {
        let line = step_line(&screen, &format!("RUN echo step{i};"));
        assert!(has_time(line), "{line:?}\n{text}");
        assert!(
            line.chars().count() < 60,
            "{line:?} is wider than the terminal"
        );
    }
    assert!(text.contains("(13/13) FINISHED"), "{text}");
}
