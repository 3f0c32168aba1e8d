//! Sessions on a real Redis Sentinel set (one master, one replica, three sentinels): two
//! replicas share sessions, sign-out and back-channel logout end them on both, and a
//! `SENTINEL FAILOVER` in the middle of the run keeps them (Portcullis asks the sentinels for
//! the new master). One test runs the scenarios in order, so the set is started once.

use crate::common::redis_ha::{SentinelSet, query, settle};
use crate::common::shared_sessions::{Replicas, sentinel_keys, session_in};

#[tokio::test]
async fn replicas_share_sessions_through_sentinel_and_keep_them_across_a_failover() {
    let set = SentinelSet::start().await;
    let replicas = Replicas::start(&session_in(&sentinel_keys(&set.urls()))).await;
    replicas.share_sign_out_and_backchannel_logout().await;

    let frank = replicas.login("frank").await;
    let keys: Vec<String> = set
        .master
        .query(redis::cmd("KEYS").arg("portcullis:session:*"))
        .await
        .expect("KEYS");
    let replica_url = set.replica.url();
    settle("the replica holding every session", || async {
        let on_replica: Vec<String> = query(&replica_url, &[], redis::cmd("KEYS").arg("portcullis:session:*"))
            .await
            .unwrap_or_default();
        keys.iter().all(|key| on_replica.contains(key))
    })
    .await;
    set.failover().await;
    replicas.until_on_master(&frank, set.replica.port).await;
    replicas.assert_status(&frank, 200, "frank after the failover").await;
    // Writes go to the new master: new logins, sign-out and back-channel logout work.
    replicas.share_sign_out_and_backchannel_logout().await;
    let sessions_on = |node: &crate::common::redis_ha::Node| {
        let url = node.url();
        async move {
            query::<Vec<String>>(&url, &[], redis::cmd("KEYS").arg("portcullis:session:*"))
                .await
                .expect("KEYS")
        }
    };
    // Compared by name, not by count: a sign-out or logout of the checks above may still be
    // deleting its own key while gina signs in.
    let before = sessions_on(&set.replica).await;
    let _gina = replicas.login("gina").await;
    let after = sessions_on(&set.replica).await;
    let new: Vec<&String> = after.iter().filter(|key| !before.contains(key)).collect();
    assert_eq!(
        new.len(),
        1,
        "a new session is written to the new master: {before:?} then {after:?}; old master: {:?}",
        sessions_on(&set.master).await
    );
}
