//! The stress suite: threads hammer shared and disjoint users at once; the test checks the
//! invariants at the end and fails, rather than hangs, if the store deadlocks.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use mutestore::{MuteStore, UserId};

use super::{StoreFactory, room, user};

/// Worker tasks running at once.
pub const WORKERS: usize = 8;
/// Operations per worker.
pub const OPS_PER_WORKER: usize = 3000;
/// How long the whole run may take before it is declared deadlocked.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

/// One worker: operations on the shared user (only on rooms this worker owns) and on its own user.
/// Returns its model of its own rooms on the shared user and of its own user, in mute order.
async fn worker<S: MuteStore>(store: Arc<S>, id: usize) -> (Vec<String>, Vec<String>) {
    let shared = user("shared-user");
    let own = user(&format!("own-user-{id}"));
    let mut rng = Lcg(id as u64 + 1);
    let mut on_shared: Vec<String> = Vec::new();
    let mut on_own: Vec<String> = Vec::new();
    for _ in 0..OPS_PER_WORKER {
        let (target, model, prefix): (&UserId, &mut Vec<String>, String) = if rng.next(2) == 0 {
            (&shared, &mut on_shared, format!("w{id}-"))
        } else {
            (&own, &mut on_own, "r".to_string())
        };
        let name = format!("{prefix}{}", rng.next(12));
        let r = room(&name);
        match rng.next(10) {
            0..=3 => {
                let outcome = store.mute(target, &r).await.unwrap();
                if !model.contains(&name) {
                    model.push(name);
                }
                assert_no_duplicates(&outcome.rooms);
            }
            4..=7 => {
                let outcome = store.unmute(target, &r).await.unwrap();
                model.retain(|x| *x != name);
                assert_no_duplicates(&outcome.rooms);
            }
            8 => {
                let muted = store.is_muted(target, &r).await.unwrap();
                assert_eq!(muted, model.contains(&name));
            }
            _ => {
                let among = store
                    .muted_among(&r, &[shared.clone(), own.clone()])
                    .await
                    .unwrap();
                assert!(among.len() <= 2);
            }
        }
    }
    (on_shared, on_own)
}

fn assert_no_duplicates(rooms: &mutestore::MuteList) {
    let mut names: Vec<&str> = rooms.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicates in {rooms:?}");
}

/// Runs the workers and checks: each worker's own user equals its model exactly; on the shared
/// user, each worker's rooms are exactly its model's, in its model's order.
pub async fn run<F: StoreFactory>(factory: &F) {
    let store = Arc::new(factory.make(10_000).await);
    let tasks: Vec<_> = (0..WORKERS)
        .map(|id| tokio::spawn(worker(Arc::clone(&store), id)))
        .collect();
    let mut models = Vec::new();
    for task in tasks {
        models.push(task.await.expect("a worker panicked"));
    }
    let shared = store.muted_rooms(&user("shared-user")).await.unwrap();
    assert_no_duplicates(&shared);
    let mut total = 0;
    for (id, (on_shared, on_own)) in models.iter().enumerate() {
        let prefix = format!("w{id}-");
        let mine: Vec<String> = shared
            .iter()
            .map(|r| r.to_string())
            .filter(|r| r.starts_with(&prefix))
            .collect();
        assert_eq!(&mine, on_shared, "worker {id}'s rooms on the shared user");
        total += mine.len();
        let own = store
            .muted_rooms(&user(&format!("own-user-{id}")))
            .await
            .unwrap();
        let own: Vec<String> = own.iter().map(|r| r.to_string()).collect();
        assert_eq!(&own, on_own, "worker {id}'s own user");
    }
    assert_eq!(total, shared.len());
}

/// Runs [`run`] on its own thread and runtime, failing the test if it does not finish by
/// [`DEADLINE`].
pub fn run_with_deadline<F: StoreFactory + Clone>(factory: F) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(run(&factory));
        }));
        let _ = done.send(result);
    });
    match finished.recv_timeout(DEADLINE) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the stress run did not finish within {DEADLINE:?}: deadlock suspected"),
    }
}

/// Instantiates the stress suite as a test named `$suite`.
#[macro_export]
macro_rules! stress_suite {
    ($suite:ident, $factory:expr) => {
        #[test]
        fn $suite() {
            $crate::support::stress::run_with_deadline($factory);
        }
    };
}
