//! Embedding the store in a host: mute, unmute, ask the push pipeline's question, forget a room.
//!
//! Run with `cargo run --example embed`.

use mutestore::{MemoryStore, MuteStore, RoomId, StoreError, UserId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::with_mute_limit(3);
    let alice = UserId::new("1485248560558")?;
    let bob = UserId::new("1485248560559")?;
    let lobby = RoomId::new("lobby")?;
    let news = RoomId::new("news")?;

    for room in [&lobby, &news] {
        let outcome = store.mute(&alice, room).await?;
        println!(
            "alice mutes {room}: changed={} mute={:?}",
            outcome.changed, outcome.rooms
        );
    }
    let outcome = store.mute(&alice, &lobby).await?;
    println!(
        "alice mutes lobby again: changed={} mute={:?}",
        outcome.changed, outcome.rooms
    );

    let outcome = store.mute(&bob, &news).await?;
    println!(
        "bob mutes news: changed={} mute={:?}",
        outcome.changed, outcome.rooms
    );

    let recipients = [alice.clone(), bob.clone(), UserId::new("1485248560560")?];
    let muted = store.muted_among(&news, &recipients).await?;
    println!("a message in news: skip push for {muted:?}");

    let outcome = store.unmute(&alice, &lobby).await?;
    println!(
        "alice unmutes lobby: changed={} mute={:?}",
        outcome.changed, outcome.rooms
    );
    let outcome = store.unmute(&alice, &lobby).await?;
    println!(
        "alice unmutes lobby again: changed={} mute={:?}",
        outcome.changed, outcome.rooms
    );

    for n in 1..=3 {
        let room = RoomId::new(&format!("room-{n}"))?;
        match store.mute(&alice, &room).await {
            Ok(outcome) => println!("alice mutes {room}: mute={:?}", outcome.rooms),
            Err(StoreError::MuteLimitExceeded(e)) => println!("alice mutes {room}: refused, {e}"),
            Err(e) => return Err(e.into()),
        }
    }

    let forgotten = store.forget_room(&news).await?;
    println!("room news deleted: removed from {forgotten} users");
    println!("alice now: {:?}", store.muted_rooms(&alice).await?);
    println!("bob now: {:?}", store.muted_rooms(&bob).await?);

    match RoomId::new("bad\u{0}room") {
        Ok(_) => println!("unexpectedly accepted a control character"),
        Err(e) => println!("RoomId::new(\"bad\\0room\"): {e}"),
    }
    Ok(())
}
