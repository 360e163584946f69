//! Micro-batching: the histories of concurrent requests are encoded together on one thread
//! (the bounded pool the language model runs on), so throughput grows with load while the
//! async workers stay free for HTTP.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::pipeline::Recommender;

/// One history waiting for its vector.
struct Job {
    history: Vec<u32>,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// The sending side; the encoding thread ends when the last `Batcher` is dropped.
pub struct Batcher {
    jobs: SyncSender<Job>,
}

/// Why a history could not be encoded.
pub enum BatchError {
    /// The queue is full: the server is overloaded.
    Busy,
    /// The encoder failed (the message says why).
    Failed(String),
}

impl Batcher {
    /// Starts the encoding thread for `recommender`: it takes the first waiting history, waits
    /// at most `wait` for more (up to `max_batch`), encodes them in one pass, answers each.
    pub fn start(recommender: Arc<Recommender>, wait: Duration, max_batch: usize) -> Self {
        let (jobs, queue) = sync_channel::<Job>(4 * max_batch.max(1));
        std::thread::Builder::new()
            .name("affinity-encoder".into())
            .spawn(move || encode_loop(&recommender, &queue, wait, max_batch.max(1)))
            .expect("a thread for the encoder");
        Batcher { jobs }
    }

    /// The vector of `history` (items of the recommender, oldest first).
    pub async fn vector(&self, history: Vec<u32>) -> Result<Vec<f32>, BatchError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { history, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(BatchError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(BatchError::Failed("the encoder stopped".into()))
            }
        }
        match answer.await {
            Ok(result) => result.map_err(BatchError::Failed),
            Err(_) => Err(BatchError::Failed("the encoder stopped".into())),
        }
    }
}

fn encode_loop(recommender: &Recommender, queue: &Receiver<Job>, wait: Duration, max: usize) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + wait;
        // Whatever queued while the last batch was encoded is taken at once; then at most
        // `wait` for more.
        while jobs.len() < max {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match queue.recv_timeout(left) {
                        Ok(job) => jobs.push(job),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        let histories: Vec<Vec<u32>> = jobs.iter().map(|j| j.history.clone()).collect();
        match recommender.history_vectors(&histories) {
            Ok(vectors) => {
                for (job, row) in jobs.into_iter().zip(vectors.rows()) {
                    let _ = job.reply.send(Ok(row.to_vec()));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
