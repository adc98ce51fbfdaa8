//! Background threads yield the core to requests.
//!
//! The audit appender's SQLite worker thread inserts a batch of read rows every
//! `GATEWAY_AUDIT_READ_DELAY_MS`: a millisecond or two of CPU at once under read load.
//! At the default priority the kernel shares the core evenly between it and the threads
//! answering requests, and the calls that arrive during a batch wait (docs/PERFORMANCE.md,
//! sixth round). At a lower priority (nice 10) it runs in the gaps between requests; under
//! full load it still gets about a tenth of a contended core, and a writer that falls
//! behind slows callers through its bounded mailbox, never loses rows.

/// The niceness given to background threads: 10 of 19.
const BACKGROUND_NICE: i32 = 10;

/// Lowers the scheduling priority of this process's threads named `name` to nice 10, never
/// raising it (Linux: per thread, by id, from `/proc/self/task`). Best effort: anything unreadable or refused
/// leaves the thread as it was, with a debug line.
#[cfg(target_os = "linux")]
pub(super) fn lower_priority(name: &str) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let named = std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|comm| comm.trim_end() == name);
        let tid = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok());
        let Some(pid) = tid
            .and_then(rustix::process::Pid::from_raw)
            .filter(|_| named)
        else {
            continue;
        };
        // Never raised: a process started nicer than this stays so.
        let now = rustix::process::getpriority_process(Some(pid)).unwrap_or(0);
        if now >= BACKGROUND_NICE {
            continue;
        }
        // On Linux a thread id names that one thread.
        if let Err(e) = rustix::process::setpriority_process(Some(pid), BACKGROUND_NICE) {
            tracing::debug!(thread = name, error = %e, "could not lower a background thread's priority");
        }
    }
}

/// Elsewhere threads keep their priority.
#[cfg(not(target_os = "linux"))]
pub(super) fn lower_priority(_name: &str) {}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    /// The niceness of this process's thread named `name`, from its `stat` (field 19).
    fn nice_of(name: &str) -> Option<i32> {
        std::fs::read_dir("/proc/self/task")
            .ok()?
            .flatten()
            .find(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == name)
            })
            .and_then(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .and_then(|stat| {
                // After the name's closing parenthesis: state is field 3, nice field 19.
                let rest = &stat[stat.rfind(')')? + 2..];
                rest.split(' ').nth(16)?.parse().ok()
            })
    }

    /// Starts a thread named `name` that waits until the returned sender is dropped.
    fn parked(name: &str) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                ready.send(()).unwrap();
                let _ = stopped.recv();
            })
            .unwrap();
        started.recv().unwrap();
        (stop, thread)
    }

    #[test]
    fn only_the_named_thread_is_lowered() {
        let background = parked("agw-bg-test");
        let foreground = parked("agw-fg-test");
        let before = nice_of("agw-fg-test").expect("the thread is listed");
        super::lower_priority("agw-bg-test");
        // Lowered to nice 10, or left alone if the tests already run nicer than that.
        assert_eq!(
            nice_of("agw-bg-test"),
            Some(super::BACKGROUND_NICE.max(before))
        );
        assert_eq!(
            nice_of("agw-fg-test"),
            Some(before),
            "another thread kept its priority"
        );
        for (stop, thread) in [background, foreground] {
            drop(stop);
            thread.join().unwrap();
        }
    }
}
