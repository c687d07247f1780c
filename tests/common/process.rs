//! Child processes of the tests: killed when dropped (a failed assertion
//! included), and every wait on them bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running child, killed and reaped when dropped.
pub struct Process(Child);

impl Process {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends `sig` (as `kill` spells it: "-STOP", "-CONT", "-9").
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {}", self.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout read by a thread (to its end, so that the
/// child never blocks on a full pipe), and waits at most `within` for the
/// first line that contains `needle`, which it returns. Err: the command
/// could not be started; a child that exits or stays silent fails the test.
pub fn spawn_until_line(
    cmd: &mut Command,
    needle: &'static str,
    within: Duration,
) -> std::io::Result<(Process, String)> {
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let process = Process(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !seen && line.contains(needle) {
                seen = true;
                let _ = tx.send(line);
            }
        }
    });
    match rx.recv_timeout(within) {
        Ok(line) => Ok((process, line)),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{cmd:?} printed no {needle:?} within {within:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{cmd:?} closed its stdout without printing {needle:?}"),
    }
}

/// Runs `cmd` to its end with stdout and stderr captured; a command still
/// running after `within` is killed and fails the test.
pub fn output_within(cmd: &mut Command, within: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} did not exit within {within:?}");
        }
    }
}
