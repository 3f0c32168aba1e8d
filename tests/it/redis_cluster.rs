//! Sessions in a real Redis Cluster (three masters with one replica each, made by `redis-cli
//! --cluster create`): two replicas share sessions, sign-out and back-channel logout end them on
//! both, and a killed master's replica takes over with the sessions of its slots. One test runs
//! the scenarios in order, so the cluster is made once.

use crate::common::redis_ha::{RedisCluster, settle};
use crate::common::shared_sessions::{Replicas, session_in, url_list};

#[tokio::test]
async fn replicas_share_sessions_in_a_cluster_and_keep_them_when_a_master_dies() {
    let mut cluster = RedisCluster::start().await;
    let replicas = Replicas::start(&session_in(&url_list("redis_cluster_urls", &cluster.urls()))).await;
    replicas.share_sign_out_and_backchannel_logout().await;

    // A live session whose master is killed: its replica takes over and still has it.
    let before = cluster.session_keys().await;
    let erin = replicas.login("erin").await;
    let after = cluster.session_keys().await;
    let key = after
        .iter()
        .find(|key| !before.contains(key))
        .expect("erin's session key")
        .clone();
    let (master, replica) = cluster.master_and_replica_of(&key).await;
    cluster.wait_until_replicated(&key, replica).await;
    cluster.nodes[master].kill();
    settle("the replica promoted", || async {
        cluster.nodes[replica].is_master().await
    })
    .await;
    cluster.wait_until_ok().await;
    replicas.until_status(&erin, 200, "erin after her master died").await;

    // The cluster without that node still takes new sessions and ends them everywhere.
    replicas.share_sign_out_and_backchannel_logout().await;
}
