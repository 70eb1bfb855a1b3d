//! `hoist create`, `start`, `restart`, `attach`, `pause`, `unpause` and `top`: thin wrappers over
//! [`hoist_executor::runtime`], with Docker's flags, output and exit codes.
use std::path::{Path, PathBuf};

use clap::Args;
use hoist_executor::runtime::{self, RuntimeError};
use hoist_store::Store;

fn absolute(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

/// Run `f` on every container named; print each name as given that worked (as Docker does), errors on
/// stderr; exit 1 if any failed.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<(), RuntimeError>) -> i32 {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(()) => outln!("{name}"),
            Err(e) => {
                errln!("hoist: {e}");
                code = 1;
            }
        }
    }
    code
}

/// `hoist create [run's flags] IMAGE [CMD…]`: make the container and print its full ID; `hoist start`
/// runs it. Errors exit 125, as `docker create`.
pub fn create(store: Store, args: crate::run::RunArgs) -> anyhow::Result<i32> {
    match crate::run::create_container(store, args.for_create()) {
        Ok((_, _, record, _)) => {
            outln!("{}", record.id);
            Ok(0)
        }
        Err(e) => {
            errln!("hoist: {}", crate::output::error_chain(&e));
            Ok(e.downcast_ref::<RuntimeError>()
                .map_or(runtime::EXIT_RUNTIME_ERROR, RuntimeError::exit_code))
        }
    }
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach the container's stdout and stderr, and end with its exit code.
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach stdin: ours goes to the container's (made with `-i`); its end closes the
    /// container's stdin when it was made by `create -i`.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// The keys that detach from the container, leaving it running (default ctrl-p,ctrl-q).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

/// The detach keys of `--detach-keys` (Docker's default without it), as bytes.
fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, RuntimeError> {
    runtime::attach_input::parse_detach_keys(
        spec.unwrap_or(runtime::attach_input::DEFAULT_DETACH_KEYS),
    )
}

pub fn start(root: &Path, args: StartArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    if !args.attach {
        return Ok(each(&args.containers, |name| {
            let started = runtime::start(&root, name)?;
            runtime::start_error(name, &started.state)
        }));
    }
    let [name] = args.containers.as_slice() else {
        errln!("hoist: you cannot start and attach multiple containers at once");
        return Ok(1);
    };
    let stdin = match args
        .interactive
        .then(|| detach_keys(args.detach_keys.as_deref()))
        .transpose()
    {
        Ok(stdin) => stdin,
        Err(e) => {
            errln!("hoist: {e}");
            return Ok(1);
        }
    };
    match runtime::start_attached(
        &root,
        name,
        stdin,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {e}");
            Ok(match e {
                RuntimeError::StartFailed { code, .. } => code,
                _ => 1,
            })
        }
    }
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for the stop signal to work before SIGKILL (default: the container's, 10).
    #[arg(short = 't', long = "time")]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn restart(root: &Path, args: RestartArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    Ok(each(&args.containers, |name| {
        runtime::restart(&root, name, args.time).map(drop)
    }))
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach stdin (else ours goes to the container's, when it was made with `-i`).
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Pass signals this process receives on to the container.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// The keys that detach from the container, leaving it running (default ctrl-p,ctrl-q).
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
}

pub fn attach(root: &Path, args: AttachArgs) -> anyhow::Result<i32> {
    let stdin = match (!args.no_stdin)
        .then(|| detach_keys(args.detach_keys.as_deref()))
        .transpose()
    {
        Ok(stdin) => stdin,
        Err(e) => {
            errln!("hoist: {e}");
            return Ok(1);
        }
    };
    match runtime::attach(
        &absolute(root),
        &args.container,
        args.sig_proxy,
        stdin,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(code) => Ok(code),
        Err(e) => {
            errln!("hoist: {e}");
            Ok(1)
        }
    }
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn pause(root: &Path, args: PauseArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    Ok(each(&args.containers, |n| {
        runtime::pause(&root, n).map(drop)
    }))
}

pub fn unpause(root: &Path, args: PauseArgs) -> anyhow::Result<i32> {
    let root = absolute(root);
    Ok(each(&args.containers, |n| {
        runtime::unpause(&root, n).map(drop)
    }))
}

#[derive(Debug, Args)]
pub struct TopArgs {
    container: String,
    /// Options for `ps` (default `-ef`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_options: Vec<String>,
}

/// `hoist top CTR [ps OPTIONS]`: the host's `ps` with the options, only the container's processes kept
/// (Docker's way: the header's PID column picks the rows).
pub fn top(root: &Path, args: TopArgs) -> anyhow::Result<i32> {
    let pids = match runtime::container_pids(&absolute(root), &args.container) {
        Ok(p) => p,
        Err(e) => {
            errln!("hoist: {e}");
            return Ok(1);
        }
    };
    let options: Vec<String> = if args.ps_options.is_empty() {
        vec!["-ef".into()]
    } else {
        args.ps_options
            .iter()
            .flat_map(|o| o.split_whitespace().map(str::to_string))
            .collect()
    };
    let output = std::process::Command::new("ps")
        .args(&options)
        .output()
        .map_err(|e| anyhow::anyhow!("running ps {}: {e}", options.join(" ")))?;
    if !output.status.success() {
        errln!(
            "hoist: ps {} failed ({}): {}",
            options.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return Ok(1);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    match container_rows(&text, &pids) {
        Ok(rows) => {
            let lines: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
            let out = tab_aligned(&lines, 20, 3);
            crate::output::write_stdout(format_args!("{out}"));
            Ok(0)
        }
        Err(e) => {
            errln!("hoist: {e}");
            Ok(1)
        }
    }
}

/// The header and the rows of `ps` output whose PID is one of `pids`, split into fields (the last field
/// keeps its spaces: it is the command), as Docker's `parsePSOutput`.
fn container_rows(ps_output: &str, pids: &[i32]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut lines = ps_output.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let pid_column = header
        .iter()
        .position(|h| *h == "PID")
        .ok_or_else(|| anyhow::anyhow!("Couldn't find PID field in ps output"))?;
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_column).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let last = header.len().saturating_sub(1).min(fields.len());
        let mut row: Vec<String> = fields[..last].iter().map(|f| f.to_string()).collect();
        row.push(fields[last..].join(" "));
        rows.push(row);
    }
    Ok(rows)
}

/// Tab-separated lines laid out as Go's `tabwriter.NewWriter(out, minwidth, 1, padding, ' ', 0)`: every
/// cell but a line's last padded to its column's widest plus `padding`, at least `minwidth`.
fn tab_aligned(lines: &[String], minwidth: usize, padding: usize) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let widest = cells
                .iter()
                .filter(|row| c + 1 < row.len())
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0);
            (widest + padding).max(minwidth)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', widths[c] - cell.chars().count()));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root         420       1  0 10:01 ?        00:00:00 sleep 1000
root         421     420  0 10:01 ?        00:00:00 sh -c echo hi
";

    #[test]
    fn rows_of_the_container_only() {
        let rows = container_rows(PS, &[420, 421]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][1], "PID");
        assert_eq!(rows[1][1], "420");
        assert_eq!(rows[1].last().unwrap(), "sleep 1000");
        assert_eq!(rows[2].last().unwrap(), "sh -c echo hi");
        assert!(container_rows("USER COMMAND\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn aligned_as_docker_top() {
        let out = tab_aligned(
            &["UID\tPID\tCMD".into(), "root\t420\tsleep 1000".into()],
            20,
            3,
        );
        assert_eq!(
            out,
            format!(
                "UID{}PID{}CMD\nroot{}420{}sleep 1000\n",
                " ".repeat(17),
                " ".repeat(17),
                " ".repeat(16),
                " ".repeat(17)
            )
        );
    }
}
