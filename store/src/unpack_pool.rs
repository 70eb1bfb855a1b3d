//! Worker threads that write a layer's regular files while the unpacker's reader thread goes on parsing the
//! tar (issue 17: unpacking is almost all kernel time creating inodes, and that work scales across
//! directories, not within one: a create holds its directory's lock).
//!
//! The reader resolves every parent directory itself (inside the root, as for a one-thread unpack) and hands a
//! worker the descriptor, the name, the bytes and the metadata; a worker only ever creates a new regular file
//! in that descriptor (`O_EXCL | O_NOFOLLOW`), so nothing it does can change how a later path resolves. The
//! reader waits for the files in flight ([`FilePool::wait_idle`]) before anything whose outcome depends on
//! them (see `Unpacker::wait_if_pending`). Files go to the workers one directory per worker in turn, so that
//! two workers rarely create in one directory at once; an idle worker takes another's work from the back of
//! its queue, when that is in another directory.
//!
//! Memory stays bounded: at most [`MAX_BYTES_IN_FLIGHT`] of file data and [`MAX_JOBS_IN_FLIGHT`] files.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Result, StoreError};
use crate::unpack_write::{bad_entry, write_file, Meta};

/// Largest file handed to a worker; larger ones are written by the reader (their data would cost memory,
/// and there are few of them: the time goes into creating many small files).
pub(crate) const MAX_WORKER_FILE: u64 = 1 << 20;
/// File data read but not yet written, at most.
const MAX_BYTES_IN_FLIGHT: usize = 16 << 20;
/// Files handed out but not yet written, at most (each may hold a directory descriptor).
const MAX_JOBS_IN_FLIGHT: usize = 256;

/// One regular file for a worker to write.
pub(crate) struct FileJob {
    /// The directory to create it in, already resolved inside the root.
    pub parent: Arc<OwnedFd>,
    pub name: OsString,
    pub data: Vec<u8>,
    pub meta: Meta,
    /// The entry's tar path, for errors.
    pub entry: PathBuf,
    /// Which worker's queue it goes to (any number; taken modulo the workers).
    pub queue: usize,
}

pub(crate) struct FilePool {
    label: String,
    state: Mutex<PoolState>,
    /// Workers wait here for jobs (or for the pool to close).
    work_ready: Condvar,
    /// The reader waits here for room in the budget, or for every job to be done.
    progress: Condvar,
    /// Set with the first error: the reader stops at its next entry.
    failed: AtomicBool,
}

struct PoolState {
    queues: Vec<VecDeque<FileJob>>,
    /// The directory each worker is writing in (its descriptor's address; 0: none).
    writing_in: Vec<usize>,
    /// Handed to the pool and not yet written (queued or being written).
    jobs: usize,
    bytes: usize,
    closed: bool,
    /// Which workers wait for a job, and whether the reader waits for progress: nobody else is woken (a
    /// wake-up per file would cost more than the threads save).
    idle: Vec<bool>,
    reader_waiting: bool,
    /// The first error, of a worker or of the reader: it wins.
    error: Option<StoreError>,
}

impl FilePool {
    /// A pool for `workers` threads (start each with [`FilePool::work`]).
    pub fn new(label: &str, workers: usize) -> Self {
        FilePool {
            label: label.to_string(),
            state: Mutex::new(PoolState {
                queues: (0..workers.max(1)).map(|_| VecDeque::new()).collect(),
                writing_in: vec![0; workers.max(1)],
                jobs: 0,
                bytes: 0,
                closed: false,
                idle: vec![false; workers.max(1)],
                reader_waiting: false,
                error: None,
            }),
            work_ready: Condvar::new(),
            progress: Condvar::new(),
            failed: AtomicBool::new(false),
        }
    }

    /// Worker threads to start: one per core, at least two.
    pub fn worker_count() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A worker never panics holding the lock; if one did, the state is still consistent enough to stop.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an error has stopped the pool (the reader then stops too).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The error the reader returns when it stops because of another's error (never what the caller sees:
    /// the first error, already recorded, replaces it).
    pub fn stopped(&self) -> StoreError {
        bad_entry(
            &self.label,
            std::path::Path::new(""),
            "stopped: another entry failed",
        )
    }

    /// Queue a file, waiting while the files in flight are over budget.
    pub fn submit(&self, job: FileJob) -> Result<()> {
        let size = job.data.len();
        let mut state = self.reader_wait(|state| {
            state.jobs >= MAX_JOBS_IN_FLIGHT || state.bytes + size > MAX_BYTES_IN_FLIGHT
        })?;
        state.jobs += 1;
        state.bytes += size;
        let queue = job.queue % state.queues.len();
        state.queues[queue].push_back(job);
        // Its worker if that one waits, or any waiting worker if it may take this job.
        let wake = state.idle[queue] || (state.idle.contains(&true) && state.stealable(queue));
        drop(state);
        if wake {
            self.work_ready.notify_all();
        }
        Ok(())
    }

    /// Wait until every file handed out is written.
    pub fn wait_idle(&self) -> Result<()> {
        self.reader_wait(|_| true).map(drop)
    }

    /// The reader waits while files are in flight and `busy` holds, or until a worker failed (then the error).
    fn reader_wait(&self, busy: impl Fn(&PoolState) -> bool) -> Result<MutexGuard<'_, PoolState>> {
        let mut state = self.lock();
        while state.error.is_none() && state.jobs > 0 && busy(&state) {
            state.reader_waiting = true;
            state = self
                .progress
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.reader_waiting = false;
        if state.error.is_some() {
            return Err(self.stopped());
        }
        Ok(state)
    }

    /// The reader is done (`result` is how it ended): workers finish what is queued, or drop it on an error,
    /// and return. Then [`FilePool::take_result`] says how the whole unpack went.
    pub fn close(&self, result: Result<()>) {
        let mut state = self.lock();
        if let Err(e) = result {
            Self::fail(&mut state, &self.failed, e);
        }
        state.closed = true;
        drop(state);
        self.work_ready.notify_all();
        self.progress.notify_all();
    }

    /// The first error, if any (after the workers have returned).
    pub fn take_result(&self) -> Result<()> {
        match self.lock().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Record `error` unless one came first, and drop every queued job.
    fn fail(state: &mut PoolState, failed: &AtomicBool, error: StoreError) {
        if state.error.is_none() {
            state.error = Some(error);
            failed.store(true, Ordering::Release);
        }
        for queue in &mut state.queues {
            for job in queue.drain(..) {
                state.jobs -= 1;
                state.bytes -= job.data.len();
            }
        }
    }

    /// A worker's loop: write the jobs of queue `me` (or any other when it is empty) until the pool closes.
    pub fn work(&self, me: usize) {
        let mut state = self.lock();
        loop {
            match state.next_job(me) {
                Some(job) => {
                    state.writing_in[me] = dir_id(&job.parent);
                    drop(state);
                    let written = write_file(
                        &job.parent,
                        &job.name,
                        &mut job.data.as_slice(),
                        &job.meta,
                        &job.entry,
                        &self.label,
                    );
                    let size = job.data.len();
                    drop(job);
                    state = self.lock();
                    state.writing_in[me] = 0;
                    state.jobs -= 1;
                    state.bytes -= size;
                    if let Err(e) = written {
                        Self::fail(&mut state, &self.failed, e);
                    }
                    if state.reader_waiting {
                        self.progress.notify_all();
                    }
                }
                None if state.closed => return,
                None => {
                    state.idle[me] = true;
                    state = self
                        .work_ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    state.idle[me] = false;
                }
            }
        }
    }
}

impl PoolState {
    /// Worker `me`'s next job: the first of its queue, else the last of another's if that is in a directory
    /// its owner is neither writing in nor about to (two creates in one directory wait for each other).
    fn next_job(&mut self, me: usize) -> Option<FileJob> {
        if let Some(job) = self.queues[me].pop_front() {
            return Some(job);
        }
        let count = self.queues.len();
        let other = (1..count)
            .map(|i| (me + i) % count)
            .find(|&other| self.stealable(other))?;
        self.queues[other].pop_back()
    }

    /// Whether the last job of queue `owner` is in a directory its worker is neither writing in nor about to.
    fn stealable(&self, owner: usize) -> bool {
        let queue = &self.queues[owner];
        let (Some(first), Some(last)) = (queue.front(), queue.back()) else {
            return false;
        };
        let dir = dir_id(&last.parent);
        dir != self.writing_in[owner] && dir != dir_id(&first.parent)
    }
}

/// Identifies a job's directory among the jobs in flight (they share the reader's descriptor for it).
fn dir_id(parent: &Arc<OwnedFd>) -> usize {
    Arc::as_ptr(parent) as usize
}
