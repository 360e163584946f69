//! Micro-batching: what concurrent requests need from the model is computed together on one
//! thread, so throughput grows with load while the async workers stay free for HTTP. Two
//! queues per bundle: history texts to vectors (the language model), and vectors to their
//! similarities with every item (one matrix product reads the item vectors once per batch
//! instead of once per request, which is what bounded requests by user id).

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// One input waiting for its output.
struct Job<I, O> {
    input: I,
    reply: oneshot::Sender<Result<O, String>>,
}

/// The sending side of one queue; its thread ends when the last `Batcher` is dropped.
pub struct Batcher<I, O> {
    jobs: SyncSender<Job<I, O>>,
}

/// Why an input could not be processed.
pub enum BatchError {
    /// The queue is full: the server is overloaded.
    Busy,
    /// The work failed (the message says why).
    Failed(String),
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the thread `name`: it takes the first waiting input, waits at most `wait` for
    /// more (up to `max_batch`), runs `work` on them in one call (one output per input, in
    /// order), and answers each.
    pub fn start<W>(name: &str, wait: Duration, max_batch: usize, work: W) -> Self
    where
        W: Fn(Vec<I>) -> Result<Vec<O>, String> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = sync_channel::<Job<I, O>>(4 * max_batch);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || batch_loop(&queue, wait, max_batch, work))
            .expect("a thread for a batch queue");
        Batcher { jobs }
    }

    /// The output for `input`, computed in a batch with whatever else is waiting.
    pub async fn run(&self, input: I) -> Result<O, BatchError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { input, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(BatchError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(BatchError::Failed("the batch queue stopped".into()))
            }
        }
        match answer.await {
            Ok(result) => result.map_err(BatchError::Failed),
            Err(_) => Err(BatchError::Failed("the batch queue stopped".into())),
        }
    }
}

fn batch_loop<I, O, W>(queue: &Receiver<Job<I, O>>, wait: Duration, max: usize, work: W)
where
    W: Fn(Vec<I>) -> Result<Vec<O>, String>,
{
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + wait;
        // Whatever queued while the last batch ran is taken at once; then at most `wait` for
        // more.
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
        let (inputs, replies): (Vec<I>, Vec<_>) =
            jobs.into_iter().map(|j| (j.input, j.reply)).unzip();
        match work(inputs) {
            Ok(outputs) if outputs.len() == replies.len() => {
                for (reply, output) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(output));
                }
            }
            Ok(outputs) => {
                let message = format!("{} results for {} inputs", outputs.len(), replies.len());
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
            Err(message) => {
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
